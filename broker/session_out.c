/*
 * session_out.c - a session's way out to its client: packet ids, outbound
 * topic aliases, the in-flight window, QoS 2 PUBLISHes held until their
 * record is durable, draining the queue into the attached connection's
 * output, acknowledgements from the client, and the re-send after a
 * reconnect. Only the home worker (the attached connection's) calls these,
 * each under the session lock (taken here).
 */
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "brk.h"
#include "grow.h"

static uint16_t alloc_pid(brk_session_t *s)
{
    for (;;) {
        uint16_t pid = s->next_pid++;
        if (!s->next_pid) s->next_pid = 1;
        bool used = false;
        for (uint32_t i = 0; i < s->inf_len && !used; i++)
            used = s->inf[i].pid == pid;
        if (!used) return pid;
    }
}

static uint32_t expiry_left(const brk_msg_t *m, int64_t now)
{
    if (!m->expire_at_ms) return 0;
    int64_t left = (m->expire_at_ms - now + 999) / 1000;
    return left > 0 ? (uint32_t)left : 0;
}

/* MQTT 5 client with a Topic Alias Maximum (MQTT-3.3.2-17: the server may
 * assign aliases): the alias of m's topic, *fresh when it is given now (the
 * topic goes with it); 0 when the table is full. */
static uint16_t alias_out(brk_conn_t *c, const brk_msg_t *m, bool *fresh)
{
    for (uint16_t i = 0; i < c->aliases_out_n; i++) {
        const mqtt_str_t *t = &c->aliases_out[i];
        if (t->len == m->topic_len && !memcmp(t->p, m->topic, t->len)) {
            *fresh = false;
            return (uint16_t)(i + 1);
        }
    }
    if (c->aliases_out_n >= c->alias_max_out) return 0;
    *fresh = true;
    return (uint16_t)(c->aliases_out_n + 1);
}

/* Remember the alias write_publish just sent with its topic. */
static void alias_out_keep(brk_conn_t *c, const brk_msg_t *m)
{
    if (!c->aliases_out) {
        c->aliases_out = calloc(c->alias_max_out, sizeof(*c->aliases_out));
        if (!c->aliases_out) return;
    }
    uint8_t *t = malloc(m->topic_len ? m->topic_len : 1);
    if (!t) return; /* the alias is given again with its topic: a remap, allowed */
    memcpy(t, m->topic, m->topic_len);
    c->aliases_out[c->aliases_out_n++] = (mqtt_str_t){t, m->topic_len};
}

/* A PUBLISH with a topic alias: the full topic once, an empty one after
 * (a 40-byte topic costs 3 bytes instead of 42). Encoded per subscriber:
 * the shared frames have no alias. Same results as write_publish. */
static int write_aliased(brk_conn_t *c, const brk_delivery_t *d, uint16_t pid, bool dup,
                         int64_t now, uint16_t alias, bool fresh)
{
    brk_msg_t *m = d->msg;
    uint32_t left = expiry_left(m, now);
    const uint32_t *ids = brk_subids_get(&d->sub_ids, d->n_sub_ids);
    int n = brk_msg_encode_alias_size(m, d->qos, ids, d->n_sub_ids, left, fresh);
    if (n < 0 || (c->max_packet && (uint32_t)n > c->max_packet)) return 0;
    uint8_t *dst = brk_conn_out_reserve(c, (size_t)n);
    if (!dst) return -1;
    brk_msg_encode_alias(m, d->qos, d->retain, dup, pid, ids, d->n_sub_ids, left, alias, fresh, dst,
                         (size_t)n);
    brk_conn_out_commit(c, (size_t)n);
    if (fresh) alias_out_keep(c, m);
    return 1;
}

/* Write one PUBLISH for d to c. Returns 1 written, 0 dropped (too large
 * for the client or expired), -1 no room now. */
static int write_publish(brk_conn_t *c, const brk_delivery_t *d, uint16_t pid, bool dup,
                         int64_t now)
{
    brk_msg_t *m = d->msg;
    if (m->expire_at_ms && now >= m->expire_at_ms) return 0;
    if (c->alias_max_out && c->version == MQTT_V5) {
        bool fresh = false;
        uint16_t alias = alias_out(c, m, &fresh);
        if (alias) return write_aliased(c, d, pid, dup, now, alias, fresh);
    }
    bool custom = c->version == MQTT_V5 && (d->n_sub_ids || m->expire_at_ms);
    if (custom) {
        uint32_t left = expiry_left(m, now);
        const uint32_t *ids = brk_subids_get(&d->sub_ids, d->n_sub_ids);
        int n = brk_msg_encode_size(m, c->version, d->qos, d->retain, ids, d->n_sub_ids, left);
        if (n < 0 || (c->max_packet && (uint32_t)n > c->max_packet)) return 0;
        uint8_t *dst = brk_conn_out_reserve(c, (size_t)n);
        if (!dst) return -1;
        brk_msg_encode(m, c->version, d->qos, d->retain, dup, pid, ids, d->n_sub_ids, left, dst,
                       (size_t)n);
        brk_conn_out_commit(c, (size_t)n);
        return 1;
    }
    const brk_frame_t *f = brk_msg_frame(m, c->version, d->qos, d->retain);
    if (!f || (c->max_packet && f->len > c->max_packet)) return 0;
    uint8_t *dst = brk_conn_out_reserve(c, f->len);
    if (!dst) return -1;
    memcpy(dst, f->bytes, f->len);
    if (d->qos) {
        dst[f->pid_off] = (uint8_t)(pid >> 8);
        dst[f->pid_off + 1] = (uint8_t)pid;
        if (dup) dst[0] |= 0x08;
    }
    brk_conn_out_commit(c, f->len);
    return 1;
}

static uint32_t window(const brk_session_t *s, const brk_conn_t *c)
{
    uint32_t w = s->b->cfg->mqtt.max_inflight;
    if (c->receive_max && c->receive_max < w) w = c->receive_max;
    return w;
}

typedef struct held {
    brk_session_t *s;
    uint16_t pid;
} held_t;

/* Store thread: the in-flight record of a held PUBLISH is durable. */
static void held_durable(void *arg, int err)
{
    held_t *h = arg;
    brk_session_t *s = h->s;
    (void)err; /* not durable: sending is still better than never */
    pthread_mutex_lock(&s->lock);
    brk_worker_t *w = s->home;
    pthread_mutex_unlock(&s->lock);
    if (!w || brk_worker_post(
                  w, (brk_inbox_item_t){.kind = BRK_INBOX_RELEASE, .pid = h->pid, .u.s = s}) < 0) {
        brk_session_release(s, NULL, h->pid); /* offline: it goes at resume */
        brk_session_unref(s);
    }
    free(h);
}

/* Put d in flight without sending it until its record is on disk.
 * Session lock held; false if that cannot be arranged (then send now). */
static bool hold(brk_session_t *s, brk_delivery_t *d, uint16_t pid)
{
    if (s->inf_len == s->inf_cap && brk_grow_vec(&s->inf, &s->inf_cap, sizeof(*s->inf), 16))
        return false;
    held_t *h = malloc(sizeof(*h));
    if (!h) return false;
    brk_inflight_t *e = &s->inf[s->inf_len++];
    *e = (brk_inflight_t){.d = *d, .pid = pid, .state = BRK_INF_HOLD};
    brk_persist_send(s, e);
    brk_persist_flush(s); /* the barrier must follow the record */
    h->s = brk_session_ref(s);
    h->pid = pid;
    if (!brk_persist_barrier(s->b, held_durable, h)) {
        e->state = BRK_INF_PUBREC; /* no store after all: resume sends it */
        brk_session_unref(s);
        free(h);
    }
    return true;
}

void brk_session_release(brk_session_t *s, brk_worker_t *w, uint16_t pid)
{
    pthread_mutex_lock(&s->lock);
    brk_persist_begin(s);
    for (uint32_t i = 0; i < s->inf_len; i++) {
        brk_inflight_t *e = &s->inf[i];
        if (e->pid != pid || e->state != BRK_INF_HOLD) continue;
        e->state = BRK_INF_PUBREC;
        brk_conn_t *c = s->conn;
        if (w && c && s->home == w && c->connected && c->state < BRK_CONN_CLOSING) {
            if (write_publish(c, &e->d, pid, false, brk_now_ms()) == 0) {
                brk_persist_done(s, e); /* expired or too large for the client */
                brk_delivery_release(&e->d);
                memmove(e, e + 1, (s->inf_len - i - 1) * sizeof(*e));
                s->inf_len--;
            }
            brk_conn_want_write(c);
        }
        break;
    }
    brk_persist_end(s);
    pthread_mutex_unlock(&s->lock);
}

/* Session lock held. */
static void drain_locked(brk_session_t *s, brk_conn_t *c, brk_worker_t *w)
{
    int64_t now = brk_now_ms();
    uint32_t win = window(s, c);
    bool wrote = false;
    if (atomic_load(&s->backlog) && s->q_len < BRK_QUEUE_PAGE / 2) brk_persist_refill(s);
    while (s->q_len) {
        brk_delivery_t *d = &s->q[s->q_head];
        if (d->msg->acl_unchecked && s->b->acl_on &&
            brk_acl_check(s->acl, d->msg->topic, d->msg->topic_len, BRK_ACL_RECEIVE) !=
                BRK_ACL_ALLOW) {
            brk_persist_drop(s, d); /* a replay's message its client may not read */
            brk_delivery_release(d);
            s->q_head = (s->q_head + 1) % s->q_cap;
            s->q_len--;
            continue;
        }
        if (d->qos && s->inf_len >= win) break;
        if (brk_conn_out_full(c)) break;
        uint16_t pid = d->qos ? alloc_pid(s) : 0;
        if (d->qos == 2 && d->seq && s->b->sync_always && hold(s, d, pid)) {
            s->q_head = (s->q_head + 1) % s->q_cap;
            s->q_len--;
            continue;
        }
        int rc = write_publish(c, d, pid, false, now);
        if (rc < 0) break;
        if (rc == 0) {
            brk_count(&w->st.dropped, 1);
            brk_persist_drop(s, d);
            brk_delivery_release(d);
        } else if (d->qos) {
            /* written but not tracked would lose the ack: stop */
            if (s->inf_len == s->inf_cap && brk_grow_vec(&s->inf, &s->inf_cap, sizeof(*s->inf), 16))
                break;
            brk_inflight_t *e = &s->inf[s->inf_len++];
            *e = (brk_inflight_t){
                .d = *d, .pid = pid, .state = d->qos == 1 ? BRK_INF_PUBACK : BRK_INF_PUBREC};
            brk_persist_send(s, e);
            brk_count(&w->st.msgs_out, 1);
            wrote = true;
        } else {
            brk_delivery_release(d);
            brk_count(&w->st.msgs_out, 1);
            wrote = true;
        }
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
    }
    if (s->hold_len) {
        uint64_t stored = atomic_load(&s->backlog) ? s->q_seq - s->backlog_after : 0;
        brk_flow_release(s, s->q_len + stored, false);
    }
    if (wrote) brk_conn_want_write(c);
}

void brk_session_drain(brk_session_t *s, brk_worker_t *w)
{
    pthread_mutex_lock(&s->lock);
    s->ready = false;
    brk_conn_t *c = s->conn;
    if (c && s->home == w && c->connected && c->state < BRK_CONN_CLOSING) {
        brk_persist_begin(s); /* one batch for the sends of the pass */
        drain_locked(s, c, w);
        brk_persist_end(s);
    }
    pthread_mutex_unlock(&s->lock);
}

/* Which acknowledgement a state waits for (0: none yet, the PUBLISH is
 * held back until durable and the client never saw it). */
static uint8_t expected_ack(uint8_t state)
{
    switch (state) {
    case BRK_INF_PUBACK:
        return MQTT_PUBACK;
    case BRK_INF_PUBREC:
        return MQTT_PUBREC;
    case BRK_INF_PUBCOMP:
        return MQTT_PUBCOMP;
    default:
        return 0;
    }
}

int brk_session_ack(brk_session_t *s, brk_conn_t *c, uint16_t pid, uint8_t type)
{
    int rc = BRK_ACK_UNKNOWN;
    pthread_mutex_lock(&s->lock);
    if (s->conn != c) goto out;
    brk_persist_begin(s); /* the ack's write and the sends it allows: one batch */
    for (uint32_t i = 0; i < s->inf_len; i++) {
        brk_inflight_t *e = &s->inf[i];
        if (e->pid != pid) continue;
        uint8_t want = expected_ack(e->state);
        if (!want) break; /* never sent: the client cannot know this pid */
        if (type == MQTT_PUBREC && e->state == BRK_INF_PUBCOMP) {
            rc = BRK_ACK_OK; /* a repeated PUBREC: PUBREL again, nothing changes */
        } else if (type != want) {
            /* PUBREC/PUBCOMP for QoS 1, PUBACK for QoS 2, PUBCOMP before
             * PUBREC: the client and we disagree on the exchange */
            rc = BRK_ACK_WRONG;
        } else if (type == MQTT_PUBREC) {
            e->state = BRK_INF_PUBCOMP; /* message released; pid held until PUBCOMP */
            brk_persist_pubrec(s, e);
            brk_delivery_release(&e->d); /* the receiver has it: nothing to re-dispatch */
            rc = BRK_ACK_OK;
        } else {
            brk_persist_done(s, e);
            brk_delivery_release(&e->d);
            memmove(e, e + 1, (s->inf_len - i - 1) * sizeof(*e));
            s->inf_len--;
            rc = BRK_ACK_OK;
        }
        break;
    }
    if (rc == BRK_ACK_OK && s->q_len) drain_locked(s, c, c->w);
    brk_persist_end(s);
out:
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void brk_session_resume(brk_session_t *s, brk_conn_t *c)
{
    int64_t now = brk_now_ms();
    pthread_mutex_lock(&s->lock);
    brk_persist_begin(s);
    for (uint32_t i = 0; i < s->inf_len; i++) {
        brk_inflight_t *e = &s->inf[i];
        if (e->state == BRK_INF_HOLD) continue; /* goes when durable */
        if (e->state == BRK_INF_PUBCOMP) {
            mqtt_packet_t p = {.type = MQTT_PUBREL, .u.ack = {.packet_id = e->pid}};
            brk_conn_send_packet(c, &p);
        } else if (write_publish(c, &e->d, e->pid, true, now) == 0) {
            /* expired while away: forget it (MQTT-3.3.2-5) */
            brk_persist_done(s, e);
            brk_delivery_release(&e->d);
            memmove(e, e + 1, (s->inf_len - i - 1) * sizeof(*e));
            s->inf_len--;
            i--;
        }
    }
    drain_locked(s, c, c->w);
    brk_persist_end(s);
    brk_conn_want_write(c);
    pthread_mutex_unlock(&s->lock);
}
