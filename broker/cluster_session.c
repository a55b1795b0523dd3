/*
 * cluster_session.c - a persistent session follows its client to the node
 * it connects to (docs/CLUSTER.md, "Sessions that move"), through
 * <prefix>.sessions:
 *
 * - claim: a CONNECT with clean start 0 arrives for a client whose session
 *   another living node holds (the owners map: the last present, gone or
 *   state record of the client). The CONNECT pauses (BRK_PAUSE: handled
 *   again when the reader wakes it, or at the worker's tick) and the claim
 *   names the holder.
 * - state: the holder closes its connection of the client (0x8E), then
 *   writes the session (subscriptions, in-flight messages with their
 *   packet ids and states, queued messages, inbound QoS 2 ids, expiry) as
 *   JSON in one or more records addressed to the claiming connection, and
 *   ends its copy. "none" when it holds nothing.
 * - The claimer builds the session from the records (stored, subscribed,
 *   queued) and the paused CONNECT goes on: session present, in-flight
 *   messages again with DUP and their packet ids, then the queue.
 *
 * A claim that gets no answer within cluster.node_timeout_ms (the holder
 * died or is cut off) gives the client the session this node has, or a new
 * one; state that comes later is still merged into it.
 *
 * Threads: brk_cluster_claim on the connection's worker (the claims and
 * owners maps under pres.mu); everything else on the cluster's reader.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "grow.h"
#include "worker_call.h"

#define STATE_VERSION 1
#define PART_BYTES (256 * 1024) /* a record stays far below Kafka's 1 MB default */

/* ---- the claiming node ---------------------------------------------------- */

/* A paused CONNECT is handled again at least every worker tick (250 ms):
 * a claim this far past its deadline has no connection any more. */
#define CLAIM_ORPHAN_MS 2000

/* pres.mu held */
static void claim_drop(brk_presence_t *p, pres_ent_t *e)
{
    brk_conn_t *c = e->conn;
    brk_presence_drop(&p->claims, e);
    atomic_fetch_sub(&p->claims_active, 1);
    if (c) brk_conn_unref(c);
}

static void retry_call(brk_worker_t *w, void *arg)
{
    brk_conn_t *c = arg;
    if (w) brk_conn_retry(c); /* NULL: the broker stopped */
    brk_conn_unref(c);
}

/* The paused CONNECT may go on: its worker handles it again now rather
 * than at its next tick (pres.mu held). */
void brk_session_claim_wake(pres_ent_t *e)
{
    brk_conn_t *c = e->conn;
    if (e->woken || !c) return;
    e->woken = true;
    atomic_fetch_add(&c->refs, 1);
    if (brk_worker_call(c->w, retry_call, c) < 0) brk_conn_unref(c);
}

void brk_session_claims_tick(brk_cluster_t *cl)
{
    brk_presence_t *p = &cl->pres;
    int64_t now = brk_now_ms();
    pthread_mutex_lock(&p->mu);
    for (uint32_t i = 0; i < p->claims.cap; i++)
        for (pres_ent_t *e = p->claims.v[i], *nx; e; e = nx) {
            nx = e->next;
            /* its CONNECT would have taken it by now: the connection went */
            if (now > e->until + CLAIM_ORPHAN_MS)
                claim_drop(p, e);
            else if (e->phase == CLAIM_SYNC ? bridge_cluster_sessions_synced(cl->bc, e->ticket)
                                            : e->seen)
                brk_session_claim_wake(e);
        }
    pthread_mutex_unlock(&p->mu);
    brk_session_buffer_trim(cl);
}

static int claim_late(brk_cluster_t *cl, const char *id, size_t len, const char *what)
{
    atomic_fetch_add(&cl->pres.claims_failed, 1);
    brk_log(cl->b, BRK_LOG_WARN, "SLUICE-CLUSTER-CLAIM-LATE",
            "client '%.*s': %s within cluster.node_timeout_ms: the session this node has, "
            "or a new one",
            (int)len, id, what);
    return 0;
}

/* The barrier passed: ask the node holding the session, if a living one
 * does. pres.mu held on entry, released. */
static int claim_ask(brk_cluster_t *cl, pres_ent_t *e, const char *id, size_t len)
{
    brk_presence_t *p = &cl->pres;
    const char *me = cl->b->cfg->node_id;
    bool kept = false;
    const char *o = brk_presence_owner(p, id, len, &kept);
    if (!o || !kept || !strcmp(o, me) || !brk_presence_up(p, o)) {
        char dead[72] = ""; /* its node is down: the session from its checkpoint */
        if (o && kept && strcmp(o, me)) snprintf(dead, sizeof(dead), "%s", o);
        claim_drop(p, e);
        pthread_mutex_unlock(&p->mu);
        if (*dead) (void)brk_ckpt_revive(cl, id, len, dead);
        return 0;
    }
    char owner[72], tok[24], at[24];
    snprintf(owner, sizeof(owner), "%s", o);
    uint64_t token = e->token;
    e->phase = CLAIM_WAIT;
    e->woken = false;
    e->until = brk_now_ms() + (int64_t)cl->b->cfg->cluster.node_timeout_ms;
    pthread_mutex_unlock(&p->mu);
    snprintf(tok, sizeof(tok), "%llu", (unsigned long long)token);
    snprintf(at, sizeof(at), "%lld", (long long)brk_wall_ms());
    bridge_kv_t h[4] = {{"sluice.kind", "claim", 5},
                        {"sluice.token", tok, strlen(tok)},
                        {"sluice.owner", owner, strlen(owner)},
                        {"sluice.at", at, strlen(at)}};
    if (brk_presence_produce(cl, id, len, h, 4, "", 0)) {
        pthread_mutex_lock(&p->mu);
        if ((e = brk_presence_find(&p->claims, id, len, false)) && e->token == token)
            claim_drop(p, e);
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    brk_log(cl->b, BRK_LOG_INFO, "SLUICE-CLUSTER-CLAIM",
            "client '%.*s': its session is on node %s: asked for it", (int)len, id, owner);
    return BRK_PAUSE;
}

/* First pass: a barrier on the sessions log, so that what other nodes
 * wrote before this CONNECT (the client left one a moment ago) is known. */
static int claim_start(brk_cluster_t *cl, brk_conn_t *c, pres_ent_t *e, const char *id, size_t len)
{
    brk_presence_t *p = &cl->pres;
    if (e) claim_drop(p, e); /* an older CONNECT's claim: this one wins */
    if (!(e = brk_presence_find(&p->claims, id, len, true))) return 0;
    atomic_fetch_add(&p->claims_active, 1);
    e->token = c->cluster_token = atomic_fetch_add(&p->next_token, 1) + 1;
    e->phase = CLAIM_SYNC;
    e->seen = e->woken = false;
    e->until = brk_now_ms() + (int64_t)cl->b->cfg->cluster.node_timeout_ms;
    e->ticket = bridge_cluster_sessions_sync(cl->bc);
    bridge_cluster_own_records(cl->bc, true); /* the replay needs them (buffer) */
    atomic_fetch_add(&c->refs, 1);
    e->conn = c;
    return BRK_PAUSE;
}

int brk_cluster_claim(brk_t *b, brk_conn_t *c, const char *id, size_t len)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl || !cl->bc || len > 0xffff) return 0;
    brk_presence_t *p = &cl->pres;
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    pres_ent_t *e = brk_presence_find(&p->claims, id, len, false);
    if (!e || !c->cluster_token || e->token != c->cluster_token) {
        rc = claim_start(cl, c, e, id, len);
    } else if (e->phase == CLAIM_SYNC && bridge_cluster_sessions_synced(cl->bc, e->ticket)) {
        return claim_ask(cl, e, id, len); /* unlocks */
    } else if (e->phase == CLAIM_SYNC || !e->seen) {
        e->woken = false;
        if (brk_now_ms() < e->until) {
            rc = BRK_PAUSE;
        } else {
            bool wait = e->phase == CLAIM_WAIT, kept = false;
            const char *o = wait ? brk_presence_owner(p, id, len, &kept) : NULL;
            char holder[72] = "";
            if (o && kept && strcmp(o, b->cfg->node_id)) snprintf(holder, sizeof(holder), "%s", o);
            claim_drop(p, e);
            pthread_mutex_unlock(&p->mu);
            /* the holder did not answer: as if it were down */
            if (*holder && brk_ckpt_revive(cl, id, len, holder)) {
                atomic_fetch_add(&p->claims_failed, 1);
                return 0;
            }
            return claim_late(cl, id, len,
                              wait ? "its session did not come from the node holding it"
                                   : "the sessions log could not be read");
        }
    } else {
        claim_drop(p, e); /* the session came */
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- the session as JSON ---------------------------------------------------- */

static cJSON *msg_json(const brk_msg_t *m, uint8_t qos, bool retain, const uint32_t *ids,
                       uint32_t n_ids, size_t *bytes)
{
    cJSON *o = cJSON_CreateObject();
    char *pl = brk_b64_encode(m->payload, m->payload_len);
    char *pr = m->props_len ? brk_b64_encode(m->props, m->props_len) : NULL;
    if (!o || !pl || (m->props_len && !pr)) goto fail;
    cJSON_AddStringToObject(o, "t", m->topic);
    cJSON_AddStringToObject(o, "p", pl);
    if (pr) cJSON_AddStringToObject(o, "pr", pr);
    cJSON_AddNumberToObject(o, "mq", m->qos);
    cJSON_AddNumberToObject(o, "q", qos);
    if (retain) cJSON_AddBoolToObject(o, "r", true);
    if (m->expire_at_ms) {
        int64_t left = (m->expire_at_ms - brk_now_ms() + 999) / 1000;
        cJSON_AddNumberToObject(o, "x", left > 0 ? (double)left : 1);
    }
    if (n_ids) {
        cJSON *a = cJSON_AddArrayToObject(o, "ids");
        for (uint32_t i = 0; a && i < n_ids; i++)
            cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    }
    *bytes += m->topic_len + (m->payload_len + m->props_len) * 4 / 3 + 64;
    free(pl);
    free(pr);
    return o;
fail:
    cJSON_Delete(o);
    free(pl);
    free(pr);
    return NULL;
}

static const uint32_t *ids_of(const brk_delivery_t *d)
{
    return brk_subids_get(&d->sub_ids, d->n_sub_ids);
}

/* The first part: what the session is, its subscriptions, inbound QoS 2
 * ids and in-flight messages (s->lock held). */
static cJSON *head_json(brk_session_t *s, size_t *bytes)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "v", STATE_VERSION);
    cJSON_AddNumberToObject(o, "version", s->version);
    cJSON_AddNumberToObject(o, "expiry", s->expiry);
    brk_session_subs_json(o, s, bytes);
    cJSON *in2 = cJSON_AddArrayToObject(o, "in2");
    for (uint32_t i = 0; in2 && i < s->in2_len; i++)
        cJSON_AddItemToArray(in2, cJSON_CreateNumber(s->in2[i]));
    cJSON *inf = cJSON_AddArrayToObject(o, "inf");
    for (uint32_t i = 0; inf && i < s->inf_len; i++) {
        const brk_inflight_t *e = &s->inf[i];
        cJSON *j = e->state == BRK_INF_PUBCOMP ? cJSON_CreateObject()
                                               : msg_json(e->d.msg, e->d.qos, e->d.retain,
                                                          ids_of(&e->d), e->d.n_sub_ids, bytes);
        if (!j) continue; /* without memory: sent again as it can */
        cJSON_AddNumberToObject(j, "pid", e->pid);
        cJSON_AddNumberToObject(j, "st", e->state == BRK_INF_HOLD ? BRK_INF_PUBREC : e->state);
        cJSON_AddItemToArray(inf, j);
    }
    return o;
}

typedef struct parts {
    char **v;
    uint32_t n, cap;
} parts_t;

static void parts_free(parts_t *ps)
{
    for (uint32_t i = 0; i < ps->n; i++)
        free(ps->v[i]);
    free(ps->v);
}

static int part_close(parts_t *ps, cJSON *o)
{
    char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!txt || (ps->n == ps->cap && brk_grow_vec(&ps->v, &ps->cap, sizeof(*ps->v), 4))) {
        free(txt);
        return -1;
    }
    ps->v[ps->n++] = txt;
    return 0;
}

/* Everything s holds, as records of at most about PART_BYTES (s->lock
 * held). The backlog still in the store is paged in first. */
static int export_parts(brk_session_t *s, parts_t *ps, const int64_t *pos, int32_t npos)
{
    for (int guard = 0; atomic_load(&s->backlog) && guard < 1 << 20; guard++) {
        uint32_t before = s->q_len;
        brk_persist_refill(s);
        if (s->q_len == before) break;
    }
    size_t bytes = 0;
    cJSON *cur = head_json(s, &bytes);
    cJSON *q = cur ? cJSON_AddArrayToObject(cur, "q") : NULL;
    for (uint32_t i = 0; q && i < s->q_len; i++) {
        if (bytes > PART_BYTES) {
            if (part_close(ps, cur)) return -1;
            bytes = 0;
            cur = cJSON_CreateObject();
            q = cur ? cJSON_AddArrayToObject(cur, "q") : NULL;
            if (!q) break;
        }
        const brk_delivery_t *d = &s->q[(s->q_head + i) % s->q_cap];
        cJSON *j = msg_json(d->msg, d->qos, d->retain, ids_of(d), d->n_sub_ids, &bytes);
        if (!j) break;
        cJSON_AddItemToArray(q, j);
    }
    /* where this node's reading of msgs stood: what it read before is in
     * the parts; the new node gives the session what it read from there */
    cJSON *pa = q ? cJSON_AddArrayToObject(cur, "pos") : NULL;
    for (int32_t p = 0; pa && p < npos; p++)
        cJSON_AddItemToArray(pa, cJSON_CreateNumber((double)pos[p]));
    if (!pa) {
        cJSON_Delete(cur);
        return -1;
    }
    return part_close(ps, cur);
}

/* ---- the holding node: jobs ------------------------------------------------ */

static void send_state(brk_cluster_t *cl, const pres_job_t *j, const char *val, uint32_t part,
                       bool last, bool none)
{
    char tok[24], pt[16];
    snprintf(tok, sizeof(tok), "%llu", (unsigned long long)j->to_token);
    snprintf(pt, sizeof(pt), "%u", part);
    bridge_kv_t h[7] = {{"sluice.kind", "state", 5},
                        {"sluice.to", j->to, strlen(j->to)},
                        {"sluice.to_inc", j->to_inc, strlen(j->to_inc)},
                        {"sluice.to_token", tok, strlen(tok)},
                        {"sluice.part", pt, strlen(pt)},
                        {"sluice.last", last ? "1" : "0", 1},
                        {"sluice.none", none ? "1" : "0", 1}};
    brk_presence_produce(cl, j->id, j->len, h, 7, val ? val : "", val ? strlen(val) : 0);
}

/* A moved session's plain filters: subscribed here by a ghost for
 * node_timeout_ms, and the new node's interest in them assumed now
 * (reg_lock held, no session lock: the index's lock comes first). */
static void ghost(brk_cluster_t *cl, brk_subrec_t *f, uint32_t n, const char *to)
{
    brk_presence_t *p = &cl->pres;
    brk_session_t *g = NULL;
    mqtt_str_t grp, rest;
    for (uint32_t i = 0; i < n; i++) {
        /* a member of nobody in a shared group would take its turns */
        if (mqtt_share_split((const uint8_t *)f[i].filter, f[i].len, &grp, &rest)) continue;
        brk_cluster_remote_add(cl, to, f[i].filter, f[i].len);
        if (!g && (p->n_ghosts < p->cap_ghosts ||
                   !brk_grow_vec(&p->ghosts, &p->cap_ghosts, sizeof(*p->ghosts), 8)))
            g = brk_session_new(cl->b, "", 0);
        if (g && brk_session_subrec_put(g, f[i].filter, f[i].len, 0, 0))
            (void)brk_subs_add(cl->b->subs, f[i].filter, f[i].len, g, 0, 0);
    }
    if (g)
        p->ghosts[p->n_ghosts++] =
            (pres_ghost_t){g, brk_now_ms() + (int64_t)cl->b->cfg->cluster.node_timeout_ms};
}

static void ghosts_expire(brk_cluster_t *cl, bool all)
{
    brk_presence_t *p = &cl->pres;
    int64_t now = brk_now_ms();
    for (uint32_t i = 0; i < p->n_ghosts;) {
        if (!all && now < p->ghosts[i].until) {
            i++;
            continue;
        }
        brk_session_clear(p->ghosts[i].s);
        brk_session_unref(p->ghosts[i].s);
        p->ghosts[i] = p->ghosts[--p->n_ghosts];
    }
}

/* A hand-over begins: the new node's interest in the session's filters
 * is assumed here, and a ghost keeps this node's (reg_lock and s->lock
 * held; both released). Then the routes that decided where their
 * messages go before that must end (the route barrier), so that each
 * message of the session is either in its state or in <prefix>.msgs. */
static void job_begin(brk_cluster_t *cl, pres_job_t *j, brk_session_t *s)
{
    brk_presence_t *p = &cl->pres;
    uint32_t nf = 0;
    brk_subrec_t *f = brk_session_filters(s, &nf);
    pthread_mutex_unlock(&s->lock);
    ghost(cl, f, nf, j->to);
    pthread_mutex_unlock(&cl->b->reg_lock);
    brk_session_filters_free(f, nf);
    j->stage = JOB_BARRIER;
    j->bar = p->bar_started + 1; /* a flip after this */
}

/* Send the parts of a hand-over (or "none"), and say what happened. */
static void job_end(brk_cluster_t *cl, pres_job_t *j, parts_t *ps, bool had)
{
    brk_t *b = cl->b;
    if (j->handover) {
        for (uint32_t i = 0; i < ps->n; i++)
            send_state(cl, j, ps->v[i], i, i + 1 == ps->n, false);
        if (!ps->n) send_state(cl, j, NULL, 0, true, true);
        if (ps->n) atomic_fetch_add(&cl->pres.moved_out, 1);
    }
    if (ps->n)
        brk_log(b, BRK_LOG_INFO, "SLUICE-CLUSTER-SESSION-OUT",
                "client '%.*s': session handed over to node %s (%u records)", (int)j->len, j->id,
                j->to, ps->n);
    else if (had)
        brk_log(b, BRK_LOG_INFO, "SLUICE-CLUSTER-SESSION-END",
                "client '%.*s': session ended here (the client is on node %s now)", (int)j->len,
                j->id, j->handover ? j->to : "another");
    parts_free(ps);
}

/* Hand s over, or end it; false while waiting (its connection closing,
 * the route barrier, memory). */
static bool job_run(brk_cluster_t *cl, pres_job_t *j)
{
    brk_t *b = cl->b;
    parts_t ps = {0};
    if (j->stage == JOB_BARRIER && cl->pres.bar_done < j->bar) return false;
    pthread_mutex_lock(&b->reg_lock);
    brk_session_t *s = brk_reg_find(b, j->id, j->len);
    if (s) {
        pthread_mutex_lock(&s->lock);
        if (s->conn || s->pending) {
            if (!j->kicked) brk_presence_kick(cl, s);
            j->kicked = true;
            pthread_mutex_unlock(&s->lock);
            pthread_mutex_unlock(&b->reg_lock);
            return false;
        }
        bool move = j->handover && s->expiry && !s->ended;
        if (move && j->stage == JOB_NEW) {
            job_begin(cl, j, s);
            return false;
        }
        int64_t pos[BRK_CLUSTER_MAX_PARTS];
        int32_t npos = bridge_cluster_msgs_positions(cl->bc, pos, BRK_CLUSTER_MAX_PARTS);
        if (move && export_parts(s, &ps, pos, npos) < 0) {
            parts_free(&ps); /* not all of it fits in memory now: kept here, asked again */
            pthread_mutex_unlock(&s->lock);
            pthread_mutex_unlock(&b->reg_lock);
            return false;
        }
        brk_msg_unref(&s->will); /* the client is back elsewhere (MQTT-3.1.3-9) */
        pthread_mutex_unlock(&s->lock);
        brk_session_end(b, s);
    }
    pthread_mutex_unlock(&b->reg_lock);
    job_end(cl, j, &ps, s != NULL);
    return true;
}

/* The route barrier for jobs that wait for one: one flip at a time, each
 * serving every job that asked before it began. */
static void barrier_tick(brk_cluster_t *cl)
{
    brk_presence_t *p = &cl->pres;
    if (p->bar_started > p->bar_done) {
        if (!brk_route_quiet(cl->b, p->bar_half)) return;
        p->bar_done = p->bar_started;
    }
    for (uint32_t i = 0; i < p->n_jobs; i++)
        if (p->jobs[i].stage == JOB_BARRIER && p->jobs[i].bar > p->bar_started) {
            p->bar_half = brk_route_flip(cl->b);
            p->bar_started++;
            return;
        }
}

static void job_free(pres_job_t *j)
{
    free(j->id);
}

static pres_job_t *job_find(brk_presence_t *p, const char *id, size_t len)
{
    for (uint32_t i = 0; i < p->n_jobs; i++)
        if (p->jobs[i].len == len && !memcmp(p->jobs[i].id, id, len)) return &p->jobs[i];
    return NULL;
}

static pres_job_t *job_add(brk_cluster_t *cl, const char *id, size_t len)
{
    brk_presence_t *p = &cl->pres;
    pres_job_t *old = job_find(p, id, len);
    if (old) { /* a newer claim replaces it */
        job_free(old);
        *old = p->jobs[--p->n_jobs];
    }
    if (p->n_jobs == p->cap_jobs && brk_grow_vec(&p->jobs, &p->cap_jobs, sizeof(*p->jobs), 8))
        return NULL;
    pres_job_t *j = &p->jobs[p->n_jobs];
    *j = (pres_job_t){.id = strndup(id, len), .len = (uint16_t)len};
    if (!j->id) return NULL;
    j->until = brk_now_ms() + (int64_t)cl->b->cfg->cluster.node_timeout_ms;
    p->n_jobs++;
    return j;
}

void brk_session_jobs_tick(brk_cluster_t *cl)
{
    brk_presence_t *p = &cl->pres;
    if (p->n_ghosts) ghosts_expire(cl, false);
    if (!p->n_jobs) return;
    barrier_tick(cl);
    for (uint32_t i = 0; i < p->n_jobs;) {
        pres_job_t *j = &p->jobs[i];
        bool done = job_run(cl, j);
        if (!done && brk_now_ms() >= j->until) {
            brk_log(cl->b, BRK_LOG_WARN, "SLUICE-CLUSTER-SESSION-STUCK",
                    "client '%.*s': not handed over within cluster.node_timeout_ms (its "
                    "connection here did not close, or routes did not finish): session kept here",
                    (int)j->len, j->id);
            done = true;
        }
        if (!done) {
            i++;
            continue;
        }
        job_free(j);
        p->jobs[i] = p->jobs[--p->n_jobs];
    }
}

void brk_session_jobs_free(brk_cluster_t *cl)
{
    brk_presence_t *p = &cl->pres;
    ghosts_expire(cl, true);
    free(p->ghosts);
    for (uint32_t i = 0; i < p->claims.cap; i++)
        while (p->claims.v[i])
            claim_drop(p, p->claims.v[i]);
    for (uint32_t i = 0; i < p->n_jobs; i++)
        job_free(&p->jobs[i]);
    free(p->jobs);
    p->jobs = NULL;
    p->n_jobs = p->cap_jobs = 0;
}

void brk_session_claimed(brk_cluster_t *cl, const char *id, size_t len, const char *node,
                         const char *inc, const bridge_kv_t *h, size_t n)
{
    const cfg_t *cfg = cl->b->cfg;
    char owner[72];
    int64_t at = (int64_t)brk_presence_kv_u64(h, n, "sluice.at");
    /* a claim replayed at start-up, or one its claimer gave up on */
    if (!brk_presence_kv_str(h, n, "sluice.owner", owner, sizeof(owner)) ||
        strcmp(owner, cfg->node_id) || !strcmp(node, cfg->node_id) ||
        brk_wall_ms() - at >= (int64_t)cfg->cluster.node_timeout_ms || len > 0xffff)
        return;
    pres_job_t *j = job_add(cl, id, len);
    if (!j) return;
    j->handover = true;
    snprintf(j->to, sizeof(j->to), "%s", node);
    snprintf(j->to_inc, sizeof(j->to_inc), "%s", inc);
    j->to_token = brk_presence_kv_u64(h, n, "sluice.token");
    brk_session_jobs_tick(cl);
    barrier_tick(cl); /* a job that began just now flips at once */
}

void brk_session_elsewhere(brk_cluster_t *cl, const char *id, size_t len, bool kicked)
{
    brk_t *b = cl->b;
    if (len > 0xffff || job_find(&cl->pres, id, len)) return;
    pthread_mutex_lock(&b->reg_lock);
    bool here = brk_reg_find(b, id, (uint16_t)len) != NULL;
    pthread_mutex_unlock(&b->reg_lock);
    pres_job_t *j = here ? job_add(cl, id, len) : NULL;
    if (!j) return;
    j->kicked = kicked; /* its connection is being closed already */
    brk_session_jobs_tick(cl);
}
