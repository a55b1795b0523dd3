/*
 * cluster.c - the broker's side of the cluster (cluster.h).
 *
 * Interest: this node tells the others which filters it has subscribers
 * on (one record per filter as it comes and goes: brk_subs_watch), and
 * keeps theirs in a second subscription index, `remote`, where each other
 * node is one stand-in session. A routed message goes to <prefix>.msgs
 * only if it matches there: telemetry nobody else subscribed to costs no
 * cluster traffic. Each node delivers its own publishes locally at once and
 * skips them on read-back; the others deliver to their own subscribers, so
 * overlapping subscriptions on several nodes give one copy each.
 *
 * Interest is kept whether its node is alive or not: a node that is only
 * slow, or restarting, must not miss what was acknowledged for it. A node
 * that never returns costs traffic, not correctness (docs/CLUSTER.md).
 *
 * Threads: the sink runs on the routing thread; deliver, retained,
 * interest, node and event hooks on the cluster's reader thread; the
 * watch under the subscription index's write lock (any worker).
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_cluster.h"
#include "brk.h"
#include "cluster.h"
#include "cluster_int.h"
#include "sink.h"

static brk_session_t *stand_in(void)
{
    brk_session_t *s = calloc(1, sizeof(*s));
    if (s) pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void stand_in_free(brk_session_t *s)
{
    if (!s) return;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- this node's interest ---------------------------------------------- */

static void interest_send(brk_cluster_t *cl, const char *f, uint16_t len, bool on)
{
    if (bridge_cluster_interest(cl->bc, f, len, on) == 0) return;
    /* only a full producer queue: the others miss this filter until it
     * changes again; said loudly */
    atomic_fetch_add(&cl->interest_failed, 1);
    brk_log(cl->b, BRK_LOG_ERROR, "SLUICE-CLUSTER-INTEREST", "interest in %.*s not sent", (int)len,
            f);
}

/* brk_subs_watch: under the index's write lock, so records go out in the
 * order the index changed. */
static void on_watch(void *ctx, const char *f, uint16_t len, bool on)
{
    brk_cluster_t *cl = ctx;
    pthread_mutex_lock(&cl->mu);
    if (cl->announcing) interest_send(cl, f, len, on);
    pthread_mutex_unlock(&cl->mu);
}

static void announce_new(void *ctx, const char *f, uint16_t len)
{
    brk_cluster_t *cl = ctx;
    if (!brk_subs_has(cl->own, f, len)) interest_send(cl, f, len, true);
}

static void withdraw_stale(void *ctx, const char *f, uint16_t len)
{
    brk_cluster_t *cl = ctx;
    if (!brk_subs_has(cl->b->subs, f, len)) interest_send(cl, f, len, false);
}

/* Loaded: say what changed since the log last heard of this node (its
 * sessions restored from the store, or none), then follow the index live.
 * The read lock holds the index still while the two are compared. */
static void announce(brk_cluster_t *cl)
{
    brk_subs_rdlock(cl->b->subs);
    pthread_mutex_lock(&cl->mu);
    brk_subs_each(cl->b->subs, announce_new, cl);
    brk_subs_each(cl->own, withdraw_stale, cl);
    cl->announcing = true;
    pthread_mutex_unlock(&cl->mu);
    brk_subs_unlock(cl->b->subs);
}

/* ---- the reader's hooks --------------------------------------------------- */

static brk_msg_t *msg_of(const bridge_msg_t *bm, uint32_t expiry_s)
{
    brk_msg_t *m = brk_msg_copy((const uint8_t *)bm->topic, bm->topic_len, bm->payload,
                                bm->payload_len, bm->props, bm->props_len, bm->qos, bm->retain);
    if (!m) return NULL;
    if (expiry_s) m->expire_at_ms = brk_now_ms() + (int64_t)expiry_s * 1000;
    return m;
}

static int on_deliver(void *ctx, const bridge_msg_t *bm, uint32_t expiry_s, const void *share,
                      size_t share_len, const bridge_cluster_at_t *at)
{
    brk_cluster_t *cl = ctx;
    bool keep = brk_session_buffering(cl);
    if (at->own && !keep) return 0;
    brk_msg_t *m = msg_of(bm, expiry_s);
    if (!m) return at->own ? 0 : -1;
    if (keep) brk_session_buffer(cl, m, at); /* a session may be moving in */
    if (!at->own) {
        brk_origin_t o = {.kind = BRK_ORIGIN_CLUSTER, .client_id = ""};
        if (share) brk_cluster_share_apply(cl, share, share_len, &o);
        bool resend = share && !o.shares_only; /* a re-send is not sent again */
        brk_route_from(cl->b, NULL, m, &o);
        if (resend) brk_cluster_share_resend(cl, m, expiry_s, share, share_len);
        /* picked for a node that is down: the duty node picks again */
        if (share && m->qos && atomic_load_explicit(&cl->nodes_down, memory_order_relaxed) &&
            brk_presence_on_duty(cl))
            (void)brk_cluster_share_dead(cl, m, expiry_s, share, share_len);
    }
    brk_msg_unref(&m);
    return 0;
}

static void on_retained(void *ctx, const bridge_msg_t *bm)
{
    brk_cluster_t *cl = ctx;
    brk_msg_t *m = msg_of(bm, 0);
    if (!m) return;
    brk_route_retain(cl->b, NULL, m);
    brk_msg_unref(&m);
}

static rnode_t *rnode(brk_cluster_t *cl, const char *id)
{
    for (uint32_t i = 0; i < cl->n_nodes; i++)
        if (!strcmp(cl->nodes[i].id, id)) return &cl->nodes[i];
    if (cl->n_nodes == CLUSTER_MAX_NODES || strlen(id) >= sizeof(cl->nodes[0].id)) return NULL;
    rnode_t *n = &cl->nodes[cl->n_nodes];
    if (!(n->s = stand_in())) return NULL;
    strcpy(n->id, id);
    cl->n_nodes++;
    return n;
}

static bool remote_add(brk_cluster_t *cl, const char *node, const char *f, uint16_t len)
{
    rnode_t *n = rnode(cl, node);
    if (!n || brk_subs_add(cl->remote, f, len, n->s, 0, 0) != 1) return false;
    atomic_fetch_add(&cl->remote_filters, 1);
    return true;
}

static void on_interest(void *ctx, const char *node, const char *f, uint16_t len, bool on,
                        int64_t at_ms)
{
    brk_cluster_t *cl = ctx;
    rnode_t *n = rnode(cl, node);
    if (!n || !mqtt_filter_valid((const uint8_t *)f, len)) return;
    mqtt_str_t g, rest;
    if (mqtt_share_split((const uint8_t *)f, len, &g, &rest)) {
        brk_cluster_share_interest(cl, (uint32_t)(n - cl->nodes), f, len, on);
        return;
    }
    /* what this node published for it since that node subscribed, before
     * this moment, goes now (cluster_recent.c) */
    if (on)
        brk_recent_interest(cl, node, f, len, at_ms, remote_add);
    else if (brk_subs_remove(cl->remote, f, len, n->s))
        atomic_fetch_sub(&cl->remote_filters, 1);
}

void brk_cluster_remote_add(brk_cluster_t *cl, const char *node, const char *f, uint16_t len)
{
    (void)remote_add(cl, node, f, len);
}

static void on_own_interest(void *ctx, const char *f, uint16_t len, bool on)
{
    brk_cluster_t *cl = ctx;
    if (!mqtt_filter_valid((const uint8_t *)f, len)) return;
    if (on)
        (void)brk_subs_add(cl->own, f, len, cl->own_s, 0, 0);
    else
        brk_subs_remove(cl->own, f, len, cl->own_s);
}

static void on_node(void *ctx, const char *node, const char *inc, bool up, bool left)
{
    brk_cluster_t *cl = ctx;
    brk_log(cl->b, up ? BRK_LOG_INFO : BRK_LOG_WARN,
            up ? "SLUICE-CLUSTER-NODE-UP" : "SLUICE-CLUSTER-NODE-DOWN", "node %s (%s) %s", node,
            inc,
            up     ? "is up"
            : left ? "left"
                   : "is down (no heartbeat within cluster.node_timeout_ms, or restarted)");
    rnode_t *n = strcmp(node, cl->b->cfg->node_id) ? rnode(cl, node) : NULL;
    if (n && atomic_exchange(&n->down, !up) != !up) {
        if (up)
            atomic_fetch_sub(&cl->nodes_down, 1);
        else
            atomic_fetch_add(&cl->nodes_down, 1);
    }
    brk_presence_node(cl, node, inc, up, left);
    /* what its shared groups' members there had not confirmed */
    if (n && !up && !left && brk_presence_on_duty(cl)) brk_ckpt_node_down(cl, node);
}

static void on_session(void *ctx, const char *key, size_t klen, const char *node, const char *inc,
                       const bridge_kv_t *h, size_t n, const void *val, size_t vlen)
{
    brk_presence_record(ctx, key, klen, node, inc, h, n, val, vlen);
}

static void on_synced(void *ctx)
{
    brk_session_claims_tick(ctx); /* the CONNECTs waiting for it go on now */
}

static int on_durable(void *ctx)
{
    brk_cluster_t *cl = ctx;
    return brk_persist_wait(cl->b);
}

static void on_tick(void *ctx)
{
    brk_cluster_t *cl = ctx;
    brk_presence_tick(cl);
    brk_ckpt_tick(cl);
    const cfg_t *cfg = cl->b->cfg;
    if (!atomic_load(&cl->loaded) && !atomic_load(&cl->load_late) &&
        brk_now_ms() - cl->start_ms >= (int64_t)cfg->cluster.load_timeout_ms) {
        atomic_store(&cl->load_late, true);
        brk_log(cl->b, BRK_LOG_ERROR, "SLUICE-CLUSTER-NOT-LOADED",
                "not loaded within cluster.load_timeout_ms (%u): clients are taken anyway, "
                "/readyz says not ready until it is",
                cfg->cluster.load_timeout_ms);
    }
}

bool brk_cluster_accepting(brk_t *b)
{
    brk_cluster_t *cl = b->cluster;
    return !cl || atomic_load(&cl->loaded) || atomic_load(&cl->load_late);
}

static void on_event(void *ctx, int ev, const char *detail)
{
    brk_cluster_t *cl = ctx;
    const cfg_t *cfg = cl->b->cfg;
    if (ev == BRIDGE_CLUSTER_EV_LOADED) {
        announce(cl);
        brk_presence_loaded(cl);
        atomic_store(&cl->loaded, true);
        brk_log(cl->b, BRK_LOG_INFO, "SLUICE-CLUSTER-LOADED",
                "cluster %s, node %s: %s in %lld ms; %lld filters of %u other nodes known",
                cfg->cluster.id, cfg->node_id, detail, (long long)(brk_now_ms() - cl->start_ms),
                (long long)atomic_load(&cl->remote_filters), cl->n_nodes);
    } else {
        brk_log(cl->b, BRK_LOG_WARN,
                ev == BRIDGE_CLUSTER_EV_PARTITIONS ? "SLUICE-CLUSTER-PARTITIONS"
                : ev == BRIDGE_CLUSTER_EV_LOADING  ? "SLUICE-CLUSTER-LOADING"
                                                   : "SLUICE-CLUSTER-NO-TOPIC",
                "%s", detail);
    }
}

/* ---- the sink ------------------------------------------------------------- */

/* Some other node subscribed to m's topic. w's match scratch is free: the
 * route matches local subscribers only after the sinks. */
static bool wanted(brk_cluster_t *cl, brk_worker_t *w, const brk_msg_t *m)
{
    if (!atomic_load_explicit(&cl->remote_filters, memory_order_relaxed)) return false;
    brk_matches_t local = {0};
    brk_matches_t *mt = w ? &w->matches : &local;
    brk_subs_rdlock(cl->remote);
    brk_subs_match(cl->remote, m->topic, m->topic_len, NULL, mt);
    bool any = mt->n > 0;
    brk_subs_unlock(cl->remote);
    brk_matches_free(&local);
    return any;
}

/* A QoS 1/2 message for a persistent session here: it goes to msgs too,
 * so that the session can be revived elsewhere if this node dies
 * (cluster_ckpt.c). Plain subscriptions only: a group's message is the
 * group's. */
static bool kept_here(brk_cluster_t *cl, brk_worker_t *w, const brk_msg_t *m)
{
    if (!m->qos || !cl->b->cfg->cluster.checkpoint_ms) return false;
    brk_matches_t local = {0};
    brk_matches_t *mt = w ? &w->matches : &local;
    bool any = false;
    brk_subs_rdlock(cl->b->subs);
    brk_subs_match(cl->b->subs, m->topic, m->topic_len, NULL, mt);
    for (uint32_t i = 0; i < mt->n && !any; i++) {
        brk_session_t *s = mt->v[i].s;
        if (mt->v[i].share || !mt->v[i].qos) continue;
        pthread_mutex_lock(&s->lock);
        any = s->expiry && !s->ended;
        pthread_mutex_unlock(&s->lock);
    }
    brk_subs_unlock(cl->b->subs);
    brk_matches_free(&local);
    return any;
}

int brk_cluster_send_again(brk_cluster_t *cl, const brk_msg_t *m, uint32_t expiry_s,
                           const uint8_t *share, size_t share_len)
{
    brk_origin_t o = {.kind = BRK_ORIGIN_CLUSTER, .client_id = ""};
    bridge_msg_t bm;
    brk_kafka_msg(m, &o, &bm);
    bm.retain = false;
    return bridge_cluster_publish(cl->bc, &bm, expiry_s, share, share_len, NULL, NULL);
}

enum { TO_MSGS, TO_RETAINED };

/* One record; a QoS 1/2 client PUBLISH (c set) holds its ack until Kafka
 * has it. Returns the bridge's code. */
static int offer_one(brk_cluster_t *cl, int to, const bridge_msg_t *bm, uint32_t expiry_s,
                     const uint8_t *share, size_t share_len, brk_conn_t *c, uint64_t seq)
{
    brk_pending_t *pd = NULL;
    if (c && !(pd = brk_pending_new(c, seq))) return BRIDGE_FULL;
    bridge_ack_fn fn = pd ? brk_pending_complete : NULL;
    int rc = to == TO_MSGS ? bridge_cluster_publish(cl->bc, bm, expiry_s, share, share_len, fn, pd)
                           : bridge_cluster_retain(cl->bc, bm, expiry_s, fn, pd);
    if (rc == BRIDGE_PENDING)
        brk_conn_ack_hold(c, seq); /* completed through our inbox: after this */
    else
        brk_pending_drop(pd);
    return rc;
}

static int offer_locked(brk_cluster_t *cl, brk_worker_t *w, const brk_msg_t *m, brk_origin_t *o,
                        recent_shard_t *sh)
{
    bool msgs = wanted(cl, w, m) || kept_here(cl, w, m), remote = false;
    uint8_t share[BRK_SHARE_HDR_MAX];
    size_t share_len = brk_cluster_share_pick(cl, m, o, share, sizeof(share), &remote);
    msgs |= remote;
    /* a group's QoS 1/2 message taken here: in msgs too, so that the duty
     * node can give it to another member if this node dies */
    msgs |= share_len && m->qos && cl->b->cfg->cluster.checkpoint_ms;
    if (!msgs) brk_recent_keep(sh, (brk_msg_t *)m); /* another node may subscribe just now */
    if (!msgs && !m->retain) return BRK_SINK_PASS;
    uint32_t expiry_s = 0;
    if (m->expire_at_ms) {
        int64_t left = (m->expire_at_ms - brk_now_ms() + 999) / 1000;
        expiry_s = left > 0 ? (uint32_t)left : 1;
    }
    bridge_msg_t bm;
    brk_kafka_msg(m, o, &bm);
    brk_conn_t *c = m->qos ? o->conn : NULL;
    bool held = false;
    for (int to = TO_MSGS; to <= TO_RETAINED; to++) {
        if (to == TO_MSGS ? !msgs : !m->retain) continue;
        int rc = offer_one(cl, to, &bm, expiry_s, share, share_len, c, o->ack_seq);
        if (rc == BRIDGE_PENDING) {
            held = true;
        } else if (rc < 0) {
            if (w) brk_count(&w->st.dropped, 1);
            brk_log(cl->b, BRK_LOG_WARN, "SLUICE-CLUSTER-FULL",
                    "%s: %s on %s not sent to the cluster",
                    o->client_id && *o->client_id ? o->client_id : "-",
                    to == TO_MSGS ? "message" : "retained message", m->topic);
            /* refuse only what nothing holds yet; the publisher is told */
            if (!held && (c || o->kind == BRK_ORIGIN_API)) return BRK_SINK_REFUSE;
        }
    }
    return held ? BRK_SINK_HELD : BRK_SINK_TAKEN;
}

static int sink_offer(void *ctx, brk_worker_t *w, const brk_msg_t *m, brk_origin_t *o)
{
    brk_cluster_t *cl = ctx;
    /* another node's message is theirs to spread; $SYS and recovery are
     * this node's own business */
    if (o->kind == BRK_ORIGIN_CLUSTER || o->kind == BRK_ORIGIN_BROKER) return BRK_SINK_PASS;
    /* the decision and the keeping under one lock (cluster_recent.c) */
    recent_shard_t *sh = brk_recent_lock(cl->recent, w);
    int rc = offer_locked(cl, w, m, o, sh);
    brk_recent_unlock(sh);
    return rc;
}

/* ---- lifecycle -------------------------------------------------------------- */

int brk_cluster_prepare(brk_t *b)
{
    if (!b->cfg->cluster.enabled) return 0;
    brk_cluster_t *cl = calloc(1, sizeof(*cl));
    if (!cl) return -1;
    cl->b = b;
    pthread_mutex_init(&cl->mu, NULL);
    brk_presence_init(&cl->pres);
    pthread_rwlock_init(&cl->shares_lock, NULL);
    b->cluster = cl;
    if (!(cl->remote = brk_subs_new()) || !(cl->own = brk_subs_new()) ||
        !(cl->own_s = stand_in()) || !(cl->recent = brk_recent_new()) || !(cl->ck = brk_ckpt_new()))
        return -1; /* brk_cluster_free cleans up */
    brk_subs_watch(b->subs, on_watch, cl);
    return 0;
}

int brk_cluster_start(brk_t *b, char *err, size_t errlen)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl) return 0;
    const cfg_t *cfg = b->cfg;
    bridge_cluster_hooks_t h = {.deliver = on_deliver,
                                .retained = on_retained,
                                .interest = on_interest,
                                .node = on_node,
                                .own_interest = on_own_interest,
                                .session = on_session,
                                .tick = on_tick,
                                .durable = on_durable,
                                .event = on_event,
                                .synced = on_synced,
                                .ctx = cl,
                                .incarnation = b->incarnation};
    cl->start_ms = brk_now_ms(); /* before the reader runs: its tick reads it */
    if (bridge_cluster_new(cfg, &h, &cl->bc, err, errlen) != 0) return -1;
    brk_sink_t sink = {.name = "cluster", .offer = sink_offer, .ctx = cl};
    if (brk_sink_add(b, &sink) != 0) {
        snprintf(err, errlen, "cluster: no room for another router sink");
        return -1;
    }
    if (bridge_cluster_start(cl->bc) != 0) {
        snprintf(err, errlen, "cluster: the reader did not start");
        return -1;
    }
    brk_log(b, BRK_LOG_INFO, "SLUICE-CLUSTER-JOIN",
            "cluster %s, node %s: loading %s.retained, .interest, .nodes and .sessions; "
            "CONNECTs are refused (server unavailable) until then",
            cfg->cluster.id, cfg->node_id, cfg->cluster.topic_prefix);
    return 0;
}

void brk_cluster_subs_changed(brk_t *b, brk_session_t *s)
{
    brk_cluster_t *cl = b->cluster;
    if (cl && cl->b->cfg->cluster.checkpoint_ms) brk_ckpt_soon(cl, s);
}

void brk_cluster_session_ended(brk_t *b, const char *id, size_t len)
{
    brk_cluster_t *cl = b->cluster;
    if (cl && cl->bc && len <= 0xffff) brk_ckpt_ended(cl, id, len);
}

void brk_cluster_stop(brk_t *b)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl) return;
    pthread_mutex_lock(&cl->mu);
    cl->announcing = false; /* nothing more after the goodbye */
    pthread_mutex_unlock(&cl->mu);
    bridge_cluster_stop(cl->bc);
}

void brk_cluster_free(brk_t *b)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl) return;
    /* the sessions brk_free clears later must not tell a freed cluster */
    if (b->subs) brk_subs_watch(b->subs, NULL, NULL);
    bridge_cluster_free(cl->bc);
    brk_subs_free(cl->remote);
    brk_subs_free(cl->own);
    for (uint32_t i = 0; i < cl->n_nodes; i++)
        stand_in_free(cl->nodes[i].s);
    stand_in_free(cl->own_s);
    brk_session_jobs_free(cl);
    brk_session_buffer_free(cl);
    brk_ckpt_free(cl);
    brk_recent_free(cl->recent);
    brk_presence_fini(&cl->pres);
    brk_cluster_shares_free(cl);
    pthread_rwlock_destroy(&cl->shares_lock);
    pthread_mutex_destroy(&cl->mu);
    free(cl);
    b->cluster = NULL;
}

/* Ready by the figures st: loaded, and Kafka reachable within two
 * heartbeats. */
static bool ready_by(const brk_t *b, const bridge_cluster_stats_t *st, char *why, size_t len)
{
    if (!st->loaded) {
        if (why) snprintf(why, len, "loading the cluster's retained messages, interest and nodes");
        return false;
    }
    if (st->kafka_down_ms > 2 * (uint64_t)b->cfg->cluster.heartbeat_ms) {
        if (why)
            snprintf(why, len, "Kafka unreachable for %llu ms",
                     (unsigned long long)st->kafka_down_ms);
        return false;
    }
    return true;
}

bool brk_cluster_ready(brk_t *b, char *why, size_t len)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl) return true;
    if (!cl->bc) {
        if (why) snprintf(why, len, "not started");
        return false;
    }
    bridge_cluster_stats_t st;
    bridge_cluster_get_stats(cl->bc, &st);
    return ready_by(b, &st, why, len);
}

void brk_cluster_stats(brk_t *b, void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl || !cl->bc) return;
    bridge_cluster_stats_t st;
    bridge_cluster_get_stats(cl->bc, &st);
    fn(arg, "ready", ready_by(b, &st, NULL, 0));
    fn(arg, "nodes", st.nodes);
    int64_t rf = atomic_load(&cl->remote_filters);
    fn(arg, "remote_filters", rf > 0 ? (uint64_t)rf : 0);
    fn(arg, "msgs_produced", st.msgs_produced);
    fn(arg, "msgs_acked", st.msgs_acked);
    fn(arg, "msgs_failed", st.msgs_failed);
    fn(arg, "msgs_consumed", st.msgs_consumed);
    fn(arg, "msgs_delivered", st.msgs_delivered);
    fn(arg, "msgs_skipped", st.msgs_skipped);
    fn(arg, "retained_produced", st.retained_produced);
    fn(arg, "retained_applied", st.retained_applied);
    fn(arg, "interest_produced", st.interest_produced);
    fn(arg, "interest_failed", atomic_load(&cl->interest_failed));
    fn(arg, "takeovers", atomic_load(&cl->pres.takeovers));
    fn(arg, "wills_fired", atomic_load(&cl->pres.wills_fired));
    fn(arg, "sessions_moved_in", atomic_load(&cl->pres.moved_in));
    fn(arg, "sessions_moved_out", atomic_load(&cl->pres.moved_out));
    fn(arg, "claims_failed", atomic_load(&cl->pres.claims_failed));
    fn(arg, "sessions_replayed", atomic_load(&cl->pres.replayed));
    fn(arg, "share_resent", atomic_load(&cl->share_resent));
    fn(arg, "sessions_gaps", atomic_load(&cl->pres.gaps));
    fn(arg, "checkpoints", atomic_load(&cl->pres.ck_written));
    fn(arg, "sessions_revived", atomic_load(&cl->pres.revived));
    fn(arg, "share_floors", atomic_load(&cl->pres.sf_written));
    fn(arg, "recent_sent", atomic_load(&cl->recent_sent));
    int64_t wk = atomic_load(&cl->pres.wills_known);
    fn(arg, "wills_known", wk > 0 ? (uint64_t)wk : 0);
    int64_t wh = atomic_load(&cl->pres.wills_held);
    fn(arg, "wills_held", wh > 0 ? (uint64_t)wh : 0);
    fn(arg, "lag", st.lag);
    static const char *const lag_names[5] = {"lag_msgs", "lag_retained", "lag_interest",
                                             "lag_nodes", "lag_sessions"};
    for (int t = 0; t < 5; t++)
        fn(arg, lag_names[t], st.lag_of[t]);
    fn(arg, "unreachable_ms", st.kafka_down_ms);
}
