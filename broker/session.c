/*
 * session.c - MQTT sessions: what a client id owns across connections.
 *
 * Any worker may deliver into a session (brk_session_deliver, under the
 * session lock); only the home worker - the one that owns the attached
 * connection - moves deliveries into that connection's output
 * (brk_session_drain). Offline persistent sessions keep QoS 1/2 deliveries
 * in the same queue, bounded by mqtt.max_queued (drops are counted). An
 * online session over mqtt.max_queued holds its publishers' acks instead
 * (flow.c), unless mqtt.queue_full is "drop".
 */
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "brk.h"
#include "cluster.h"
#include "sink.h"
#include "grow.h"

brk_session_t *brk_session_new(brk_t *b, const char *id, uint16_t len)
{
    brk_session_t *s = calloc(1, sizeof(*s));
    if (!s || !(s->client_id = malloc((size_t)len + 1))) {
        free(s);
        return NULL;
    }
    memcpy(s->client_id, id, len);
    s->client_id[len] = 0;
    s->id_len = len;
    s->b = b;
    s->next_pid = 1;
    atomic_init(&s->refs, 1);
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void brk_delivery_release(brk_delivery_t *d)
{
    brk_msg_unref(&d->msg);
    brk_share_unref(&d->share);
    brk_subids_free(&d->sub_ids, &d->n_sub_ids);
}

static void free_queues(brk_session_t *s)
{
    for (uint32_t i = 0; i < s->q_len; i++)
        brk_delivery_release(&s->q[(s->q_head + i) % s->q_cap]);
    s->q_len = s->q_head = 0;
    for (uint32_t i = 0; i < s->inf_len; i++)
        brk_delivery_release(&s->inf[i].d);
    s->inf_len = 0;
    s->in2_len = 0;
    brk_flow_release(s, 0, true);
}

void brk_session_unref(brk_session_t *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) return;
    free_queues(s);
    brk_msg_unref(&s->will);
    brk_acl_id_free(s->acl);
    for (uint32_t i = 0; i < s->n_subs; i++)
        free(s->subs[i].filter);
    free(s->subs);
    free(s->q);
    free(s->inf);
    free(s->in2);
    pthread_mutex_destroy(&s->lock);
    free(s->client_id);
    free(s);
}

void brk_session_clear(brk_session_t *s)
{
    /* subscriptions first, without the session lock (lock order), so that
     * re-dispatch below cannot pick this session again */
    pthread_mutex_lock(&s->lock);
    brk_subrec_t *subs = s->subs;
    uint32_t n_subs = s->n_subs;
    s->subs = NULL;
    s->n_subs = s->cap_subs = 0;
    pthread_mutex_unlock(&s->lock);
    for (uint32_t i = 0; i < n_subs; i++) {
        brk_subs_remove(s->b->subs, subs[i].filter, subs[i].len, s);
        free(subs[i].filter);
    }
    free(subs);
    /* QoS 1/2 messages of a shared subscription that this member never
     * confirmed go to another member of the group */
    brk_delivery_t *again = NULL;
    uint32_t n = 0;
    pthread_mutex_lock(&s->lock);
    uint32_t cap = s->q_len + s->inf_len;
    if (cap && (again = malloc(cap * sizeof(*again)))) {
        for (uint32_t i = 0; i < s->inf_len; i++) {
            brk_delivery_t *d = &s->inf[i].d;
            if (d->share && d->msg && d->qos) {
                again[n++] = *d; /* moved: msg, share and ids go with it */
                d->msg = NULL;
                d->share = NULL;
                d->n_sub_ids = 0;
            }
        }
        for (uint32_t i = 0; i < s->q_len; i++) {
            brk_delivery_t *d = &s->q[(s->q_head + i) % s->q_cap];
            if (d->share && d->msg && d->qos) {
                again[n++] = *d; /* moved: msg, share and ids go with it */
                d->msg = NULL;
                d->share = NULL;
                d->n_sub_ids = 0;
            }
        }
    }
    free_queues(s);
    pthread_mutex_unlock(&s->lock);
    for (uint32_t i = 0; i < n; i++) {
        /* no other member here: one on another node of the cluster */
        if (!brk_share_redispatch(s->b->subs, again[i].share, again[i].msg, again[i].qos))
            brk_cluster_share_away(s->b, again[i].share->filter, again[i].share->len, again[i].msg);
        brk_delivery_release(&again[i]);
    }
    free(again);
}

static bool q_push(brk_session_t *s, const brk_delivery_t *d)
{
    if (s->q_len == s->q_cap &&
        brk_grow_ring(&s->q, &s->q_cap, &s->q_head, s->q_len, sizeof(*s->q), 16))
        return false;
    s->q[(s->q_head + s->q_len) % s->q_cap] = *d;
    s->q_len++;
    return true;
}

/* Session lock held, queue at the mark: true to queue the delivery anyway.
 * Online QoS 1/2 under "backpressure" holds the publisher; with no
 * publisher to hold (a will, a Kafka record) up to twice the mark is
 * queued, then dropped (documented in docs/CONFIG.md). */
static bool over_mark(brk_session_t *s, brk_worker_t *from, uint8_t qos, uint64_t depth)
{
    const cfg_t *cfg = s->b->cfg;
    if (!s->conn || !qos || cfg->mqtt.queue_full != CFG_QUEUE_BACKPRESSURE) return false;
    return brk_flow_hold(s, from) || depth < 2ull * cfg->mqtt.max_queued;
}

void brk_session_deliver(brk_session_t *s, brk_worker_t *from, brk_msg_t *m, uint8_t qos,
                         bool retain, const uint32_t *sub_ids, uint32_t n_sub_ids,
                         brk_share_t *share)
{
    const cfg_t *cfg = s->b->cfg;
    brk_worker_t *wake = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->ended) goto out; /* its store records are gone: write nothing more */
    if (!s->conn && (qos == 0 || s->expiry == 0)) goto out; /* QoS 0 is not queued offline */
    /* the limit counts what waits in the store behind the loaded page too
     * (an upper bound: a seq whose record is gone still counts until its
     * page is read) */
    uint64_t depth = s->q_len + (atomic_load(&s->backlog) ? s->q_seq - s->backlog_after : 0);
    if (depth >= cfg->mqtt.max_queued && !over_mark(s, from, qos, depth)) {
        brk_count(&s->dropped, 1);
        if (from) brk_count(&from->st.dropped, 1);
        goto out;
    }
    brk_delivery_t d = {.qos = qos, .retain = retain};
    if (brk_subids_set(&d.sub_ids, &d.n_sub_ids, sub_ids, n_sub_ids) < 0) {
        brk_count(&s->dropped, 1); /* without memory: like a full queue */
        if (from) brk_count(&from->st.dropped, 1);
        goto out;
    }
    d.msg = brk_msg_ref(m);
    d.share = brk_share_ref(share);
    s->ck_dirty = true;
    brk_persist_enqueue(s, &d);
    if (d.seq && from) from->route_writes++;
    if (d.seq && atomic_load(&s->backlog)) {
        /* behind the stored backlog: the store holds it until its page */
        brk_delivery_release(&d);
        if (s->conn && !s->ready) {
            s->ready = true;
            wake = s->home;
            brk_session_ref(s);
        }
        goto out;
    }
    if (!q_push(s, &d)) {
        brk_persist_drop(s, &d);
        brk_delivery_release(&d);
        goto out;
    }
    if (s->conn && !s->ready) {
        s->ready = true;
        wake = s->home;
        brk_session_ref(s);
    }
out:
    pthread_mutex_unlock(&s->lock);
    brk_inbox_item_t it = {.kind = BRK_INBOX_READY, .u.s = s};
    if (wake && brk_worker_post(wake, it) < 0) {
        pthread_mutex_lock(&s->lock);
        s->ready = false; /* the next delivery tries to wake it again */
        pthread_mutex_unlock(&s->lock);
        brk_worker_post_failed(wake, it);
    }
}

bool brk_session_in2_add(brk_session_t *s, uint16_t pid)
{
    bool added = false;
    pthread_mutex_lock(&s->lock);
    if (s->ended) { /* route it, but record nothing: the id's next session would inherit it */
        pthread_mutex_unlock(&s->lock);
        return true;
    }
    for (uint32_t i = 0; i < s->in2_len; i++)
        if (s->in2[i] == pid) goto out;
    if (s->in2_len == s->in2_cap && brk_grow_vec(&s->in2, &s->in2_cap, sizeof(*s->in2), 8))
        goto out;
    s->in2[s->in2_len++] = pid;
    added = true;
    /* under the lock: submitted before brk_session_end's range delete, or
     * not at all (it sets `ended` under this lock first) */
    brk_persist_in2(s, pid, true);
out:
    pthread_mutex_unlock(&s->lock);
    return added;
}

bool brk_session_in2_remove(brk_session_t *s, uint16_t pid)
{
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < s->in2_len; i++)
        if (s->in2[i] == pid) {
            s->in2[i] = s->in2[--s->in2_len];
            found = true;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    if (found) brk_persist_in2(s, pid, false);
    return found;
}

/* Record the filter in the session (for unsubscribe-all and persistence). */
bool brk_session_subrec_put(brk_session_t *s, const char *filter, uint16_t len, uint8_t options,
                            uint32_t sub_id)
{
    bool ok = false;
    pthread_mutex_lock(&s->lock);
    if (s->ended) goto out; /* a discarded session takes no subscription */
    for (uint32_t i = 0; i < s->n_subs; i++)
        if (s->subs[i].len == len && !memcmp(s->subs[i].filter, filter, len)) {
            s->subs[i].options = options;
            s->subs[i].sub_id = sub_id;
            ok = true;
            goto out;
        }
    if (s->n_subs == s->cap_subs && brk_grow_vec(&s->subs, &s->cap_subs, sizeof(*s->subs), 4))
        goto out;
    char *f = malloc((size_t)len + 1);
    if (!f) goto out;
    memcpy(f, filter, len);
    f[len] = 0;
    s->subs[s->n_subs++] = (brk_subrec_t){f, len, options, sub_id};
    ok = true;
out:
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void brk_session_handover(brk_session_t *s)
{
    brk_conn_t *n = s->pending;
    s->pending = NULL;
    s->conn = n;
    s->home = n->w;
    /* the pending reference travels with the item; without it the session
     * resumes at the connection's next write (brk_conn_write drains) */
    brk_inbox_item_t it = {.kind = BRK_INBOX_RESUME, .u.c = n};
    if (brk_worker_post(n->w, it) < 0) brk_worker_post_failed(n->w, it);
}

void brk_will_publish(brk_t *b, brk_worker_t *w, brk_msg_t *will, uint32_t expiry, bool has_expiry,
                      const char *client_id, const char *username)
{
    if (has_expiry) will->expire_at_ms = brk_now_ms() + (int64_t)expiry * 1000;
    /* no connection: the sinks hold no ack and cannot refuse a will */
    brk_origin_t o = {.kind = BRK_ORIGIN_WILL, .client_id = client_id, .username = username};
    brk_route_from(b, w, will, &o);
}

/* A delayed will whose time has come (or whose session ends): publish it.
 * Registry lock held; takes the session lock. */
void brk_session_will(brk_t *b, brk_session_t *s, int64_t now, bool ending)
{
    pthread_mutex_lock(&s->lock);
    brk_msg_t *will = NULL;
    if (s->will && !s->conn && (ending || now >= s->will_at_ms)) {
        will = s->will;
        s->will = NULL;
    }
    uint32_t exp = s->will_expiry;
    bool has = s->has_will_expiry;
    uint64_t token = will ? s->will_token : 0;
    pthread_mutex_unlock(&s->lock);
    if (!will) return;
    /* its connection, and with it the user name, is gone */
    brk_will_publish(b, NULL, will, exp, has, s->client_id, NULL);
    brk_msg_unref(&will);
    brk_cluster_will_fired(b, s->client_id, token);
}

/* Registry lock held by the caller. */
void brk_session_end(brk_t *b, brk_session_t *s)
{
    if (!s->registered) return;
    /* from here on s refuses subscriptions and deliveries, whichever worker
     * still holds it (its old connection may be reading input right now) */
    pthread_mutex_lock(&s->lock);
    s->ended = true;
    bool ck = s->ck_written;
    pthread_mutex_unlock(&s->lock);
    if (ck) brk_cluster_session_ended(b, s->client_id, s->id_len);
    brk_session_will(b, s, 0, true);
    brk_reg_remove(b, s);
    /* subscriptions first: after that no worker can queue into s, so the
     * range delete below catches every record it ever wrote */
    brk_session_clear(s);
    if (s->persisted) brk_persist_session_end(s);
    brk_session_unref(s);
}
