/*
 * persist_recover.c - rebuild the broker's state from the store at start,
 * before any listener opens: sessions (expired ones are deleted), their
 * subscriptions, retained messages, in-flight deliveries, queued messages
 * and inbound QoS 2 ids. Bodies shared by several sessions are loaded once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brk.h"
#include "store.h"
#include "grow.h"

typedef struct body {
    uint64_t id;
    brk_msg_t *m;
} body_t;

typedef struct rec {
    brk_t *b;
    store_batch_t *cleanup; /* deletes of expired state */
    body_t *bodies;         /* open addressing by id */
    uint32_t cap, n;
    uint64_t sessions, expired, subs, retained, inflight, queued, missing;
    brk_session_t *cur; /* queue scan target */
    brk_msg_t **wills;  /* of clients connected when we died, to publish */
    uint32_t n_wills;
    int cleanup_rc; /* first put into cleanup that failed (that record is not in it) */
} rec_t;

static void cleanup_put(rec_t *r, int rc)
{
    if (rc != STORE_OK && r->cleanup_rc == STORE_OK) r->cleanup_rc = rc;
}

static brk_msg_t *from_store(const mqtt_str_t *topic, const mqtt_str_t *payload,
                             const mqtt_str_t *props, uint8_t qos, bool retain, int64_t expiry)
{
    brk_msg_t *m = brk_msg_copy(topic->p, (uint16_t)topic->len, payload->p, payload->len, props->p,
                                props->len, qos, retain);
    if (!m) return NULL;
    m->epoch = 0; /* made long ago, maybe: its msgs position is unknown */
    if (expiry) m->expire_at_ms = brk_now_ms() + (expiry - brk_wall_s()) * 1000;
    return m;
}

static int grow(rec_t *r)
{
    uint32_t cap = r->cap ? r->cap * 2 : 1024;
    body_t *nb = calloc(cap, sizeof(*nb));
    if (!nb) return -1;
    for (uint32_t i = 0; i < r->cap; i++)
        if (r->bodies[i].m) {
            uint32_t j = (uint32_t)(r->bodies[i].id * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
            while (nb[j].m)
                j = (j + 1) & (cap - 1);
            nb[j] = r->bodies[i];
        }
    free(r->bodies);
    r->bodies = nb;
    r->cap = cap;
    return 0;
}

/* The body with store id `id`, loaded once and shared; NULL if missing. */
static brk_msg_t *body(rec_t *r, uint64_t id)
{
    if ((r->n + 1) * 2 > r->cap && grow(r)) return NULL;
    uint32_t j = (uint32_t)(id * 0x9E3779B97F4A7C15ull >> 32) & (r->cap - 1);
    for (; r->bodies[j].m; j = (j + 1) & (r->cap - 1))
        if (r->bodies[j].id == id) return r->bodies[j].m;
    store_msg_t sm;
    void *mem = NULL;
    if (store_get_msg(r->b->store, id, &sm, &mem) != STORE_OK) {
        r->missing++;
        return NULL;
    }
    brk_msg_t *m = from_store(&sm.topic, &sm.payload, &sm.props, sm.qos, sm.retain, sm.expiry_time);
    store_free(mem);
    if (!m) return NULL;
    atomic_store(&m->store_id, id);
    r->bodies[j] = (body_t){id, m};
    r->n++;
    return m;
}

static int on_session(void *arg, const store_session_t *ss)
{
    rec_t *r = arg;
    brk_t *b = r->b;
    int64_t wall = brk_wall_s();
    /* a session connected when we died went away at the crash: now */
    int64_t away = ss->disconnect_time ? wall - ss->disconnect_time : 0;
    if (away < 0) away = 0;
    /* the crash closed that client's connection without DISCONNECT: its
     * will is due (MQTT-3.1.2-8), at once or after its delay */
    brk_msg_t *will = NULL;
    if (ss->has_will && !ss->disconnect_time) {
        will = from_store(&ss->will_topic, &ss->will_payload, &ss->will_props, ss->will_qos,
                          ss->will_retain, 0);
        store_session_t rewritten = *ss; /* published once, not at every restart */
        rewritten.has_will = false;
        rewritten.disconnect_time = wall;
        cleanup_put(r, store_batch_put_session(r->cleanup, &rewritten));
    }
    if (ss->expiry_interval == 0 ||
        (ss->expiry_interval != UINT32_MAX && away >= (int64_t)ss->expiry_interval)) {
        cleanup_put(r, store_delete_client_state(r->cleanup, (const char *)ss->client_id.p,
                                                 ss->client_id.len, STORE_CLIENT_ALL));
        r->expired++;
        if (will) {
            brk_msg_t **nw = realloc(r->wills, (r->n_wills + 1) * sizeof(*nw));
            if (nw)
                (r->wills = nw)[r->n_wills++] = will;
            else
                brk_msg_unref(&will);
        }
        return 0;
    }
    brk_session_t *s =
        brk_session_new(b, (const char *)ss->client_id.p, (uint16_t)ss->client_id.len);
    if (!s) return -1;
    s->version = ss->version;
    s->expiry = ss->expiry_interval;
    s->offline_since_ms = brk_now_ms() - away * 1000;
    s->persisted = true;
    if (will && ss->will_delay) {
        uint32_t d = ss->will_delay < s->expiry ? ss->will_delay : s->expiry;
        s->will = will; /* cancelled if the client is back within the delay */
        s->will_at_ms = brk_now_ms() + (int64_t)d * 1000;
    } else if (will) {
        brk_msg_t **nw = realloc(r->wills, (r->n_wills + 1) * sizeof(*nw));
        if (nw)
            (r->wills = nw)[r->n_wills++] = will;
        else
            brk_msg_unref(&will);
    }
    store_queue_last_seq(b->store, s->client_id, s->id_len, &s->q_seq);
    brk_reg_insert(b, s);
    r->sessions++;
    return 0;
}

static int on_sub(void *arg, const store_sub_t *su)
{
    rec_t *r = arg;
    brk_session_t *s =
        brk_reg_find(r->b, (const char *)su->client_id.p, (uint16_t)su->client_id.len);
    if (!s) return 0; /* its session expired above: deleted with it */
    if (brk_subs_add(r->b->subs, (const char *)su->filter.p, (uint16_t)su->filter.len, s,
                     su->options, su->sub_id) < 0)
        return -1;
    brk_session_subrec_put(s, (const char *)su->filter.p, (uint16_t)su->filter.len, su->options,
                           su->sub_id);
    r->subs++;
    return 0;
}

static int on_retained(void *arg, const store_retained_t *rt)
{
    rec_t *r = arg;
    if (rt->expiry_time && rt->expiry_time <= brk_wall_s()) {
        cleanup_put(r,
                    store_batch_del_retained(r->cleanup, (const char *)rt->topic.p, rt->topic.len));
        return 0;
    }
    brk_msg_t *m = from_store(&rt->topic, &rt->payload, &rt->props, rt->qos, true, rt->expiry_time);
    if (!m) return -1;
    brk_retain_set(r->b->retain, m);
    brk_msg_unref(&m);
    r->retained++;
    return 0;
}

static int on_inflight(void *arg, const store_inflight_t *o)
{
    rec_t *r = arg;
    brk_session_t *s = brk_reg_find(r->b, (const char *)o->client_id.p, (uint16_t)o->client_id.len);
    if (!s) return 0;
    brk_inflight_t e = {.pid = o->packet_id, .msg_id = o->msg_id};
    e.d.qos = o->qos;
    if (o->state == STORE_OUT_PUBREL_SENT) {
        e.state = BRK_INF_PUBCOMP;
    } else {
        brk_msg_t *m = body(r, o->msg_id);
        if (!m) return 0;
        e.d.msg = brk_msg_ref(m);
        e.state = o->qos == 1 ? BRK_INF_PUBACK : BRK_INF_PUBREC;
    }
    if (s->inf_len == s->inf_cap && brk_grow_vec(&s->inf, &s->inf_cap, sizeof(*s->inf), 16))
        return -1;
    s->inf[s->inf_len++] = e;
    if (o->packet_id >= s->next_pid) s->next_pid = (uint16_t)(o->packet_id + 1);
    if (!s->next_pid) s->next_pid = 1;
    r->inflight++;
    return 0;
}

static int on_inbound(void *arg, const store_inbound_t *in)
{
    rec_t *r = arg;
    brk_session_t *s =
        brk_reg_find(r->b, (const char *)in->client_id.p, (uint16_t)in->client_id.len);
    if (!s) return 0;
    uint16_t *n = realloc(s->in2, (s->in2_len + 1) * sizeof(*n));
    if (!n) return -1;
    s->in2 = n;
    s->in2[s->in2_len++] = in->packet_id;
    s->in2_cap = s->in2_len;
    return 0;
}

static int on_qref(void *arg, const store_qref_t *q)
{
    rec_t *r = arg;
    brk_session_t *s = r->cur;
    brk_msg_t *m = body(r, q->msg_id);
    if (!m) return 0;
    /* q_head is 0 during recovery: the ring is a plain array */
    if (s->q_len == s->q_cap && brk_grow_vec(&s->q, &s->q_cap, sizeof(*s->q), 16)) return -1;
    s->q[s->q_len++] = (brk_delivery_t){.msg = brk_msg_ref(m), .seq = q->seq, .qos = q->qos};
    r->queued++;
    return 0;
}

typedef struct page {
    brk_session_t *s;
    uint32_t n;
} page_t;

static int on_page(void *arg, const store_qref_t *q)
{
    page_t *pg = arg;
    brk_session_t *s = pg->s;
    s->backlog_after = q->seq;
    store_msg_t sm;
    void *mem = NULL;
    if (store_get_msg(s->b->store, q->msg_id, &sm, &mem) != STORE_OK) return 0;
    brk_msg_t *m = from_store(&sm.topic, &sm.payload, &sm.props, sm.qos, sm.retain, sm.expiry_time);
    store_free(mem);
    if (!m) return -1;
    atomic_store(&m->store_id, q->msg_id);
    if (s->q_len == s->q_cap &&
        brk_grow_ring(&s->q, &s->q_cap, &s->q_head, s->q_len, sizeof(*s->q), 16)) {
        brk_msg_unref(&m);
        return -1;
    }
    s->q[(s->q_head + s->q_len) % s->q_cap] =
        (brk_delivery_t){.msg = m, .seq = q->seq, .qos = q->qos};
    s->q_len++;
    pg->n++;
    return 0;
}

void brk_persist_refill(brk_session_t *s)
{
    page_t pg = {s, 0};
    int rc = store_queue_scan(s->b->store, s->client_id, s->id_len, s->backlog_after,
                              BRK_QUEUE_PAGE, on_page, &pg);
    /* done when everything ever queued has been read; a short page with
     * seqs still missing means their writes are not committed yet: the
     * next drain (or the tick) reads them */
    if (rc >= 0 && s->backlog_after >= s->q_seq) atomic_store(&s->backlog, false);
}

int brk_persist_recover(brk_t *b, char *err, size_t errlen)
{
    rec_t r = {.b = b, .cleanup = store_batch_new()};
    int rc = -1;
    const char *step = "sessions";
    if (!r.cleanup) goto out;
    if ((rc = store_scan_sessions(b->store, on_session, &r)) ||
        (step = "subscriptions", rc = store_scan_subs(b->store, on_sub, &r)) ||
        (step = "retained", rc = store_scan_retained(b->store, on_retained, &r)) ||
        (step = "in-flight", rc = store_scan_inflight(b->store, on_inflight, &r)) ||
        (step = "inbound QoS 2", rc = store_scan_inbound_qos2(b->store, on_inbound, &r)))
        goto out;
    step = "queues";
    for (uint32_t i = 0; i < b->reg_cap; i++) {
        if (!(r.cur = b->reg[i])) continue;
        /* one page now, the rest when the session drains (lazily) */
        rc = store_queue_scan(b->store, r.cur->client_id, r.cur->id_len, 0, BRK_QUEUE_PAGE, on_qref,
                              &r);
        if (rc < 0) goto out;
        if (r.cur->q_len) r.cur->backlog_after = r.cur->q[r.cur->q_len - 1].seq;
        atomic_store(&r.cur->backlog, r.cur->backlog_after < r.cur->q_seq);
    }
    rc = 0;
    /* a fan-out pin left by a crash in the middle of a route */
    cleanup_put(&r, store_delete_client_state(r.cleanup,
                                              "\xff"
                                              "fanout",
                                              7, STORE_CLIENT_QUEUE));
    /* what is missing from the clean-up (expired state, a fired will's
     * rewrite) is found again at the next start: worth a warning only */
    int sub_rc = STORE_OK;
    if (store_batch_count(r.cleanup)) {
        sub_rc = store_submit(b->store, r.cleanup, NULL, NULL);
        if (sub_rc == STORE_OK) r.cleanup = NULL; /* the store owns it now */
    }
    if (sub_rc == STORE_OK) sub_rc = r.cleanup_rc;
    if (sub_rc != STORE_OK)
        brk_log(b, BRK_LOG_WARN, "SLUICE-RECOVER-CLEANUP",
                "%s: clean-up of expired state incomplete: %s", b->cfg->data_dir,
                store_strerror(sub_rc));
    /* wills last: subscriptions and queues are back, so they reach everyone */
    for (uint32_t i = 0; i < r.n_wills; i++)
        brk_route(b, NULL, r.wills[i]);
    brk_log(b, BRK_LOG_INFO, "SLUICE-RECOVERED",
            "%s: %llu sessions (%llu expired), %llu subscriptions, %llu retained, %llu in flight, "
            "%llu queued%s",
            b->cfg->data_dir, (unsigned long long)r.sessions, (unsigned long long)r.expired,
            (unsigned long long)r.subs, (unsigned long long)r.retained,
            (unsigned long long)r.inflight, (unsigned long long)r.queued,
            r.missing ? " (some message bodies were missing)" : "");
out:
    if (rc)
        snprintf(err, errlen, "%s: recovery of %s failed: %s (%d)", b->cfg->data_dir, step,
                 store_strerror(rc), rc);
    store_batch_free(r.cleanup);
    for (uint32_t i = 0; i < r.cap; i++)
        brk_msg_unref(&r.bodies[i].m);
    free(r.bodies);
    for (uint32_t i = 0; i < r.n_wills; i++)
        brk_msg_unref(&r.wills[i]);
    free(r.wills);
    return rc ? -1 : 0;
}
