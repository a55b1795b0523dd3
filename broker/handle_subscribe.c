/*
 * handle_subscribe.c - SUBSCRIBE and UNSUBSCRIBE. Each entry gets its own
 * reason code; a bad filter fails its entry, not the packet. Retained
 * messages are delivered after the SUBACK, per the retain handling option.
 */
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "brk.h"
#include "cluster.h"

#define MAX_ENTRIES 1024

typedef struct retained_ctx {
    brk_conn_t *c;
    uint8_t granted;
    uint32_t sub_id;
} retained_ctx_t;

static void send_retained(void *arg, brk_msg_t *m)
{
    retained_ctx_t *rc = arg;
    if (brk_acl_session(rc->c->session, m->topic, m->topic_len, BRK_ACL_RETAINED) !=
        BRK_ACL_ALLOW) {
        brk_msg_unref(&m);
        return;
    }
    uint8_t qos = m->qos < rc->granted ? m->qos : rc->granted;
    brk_session_deliver(rc->c->session, rc->c->w, m, qos, true, &rc->sub_id, rc->sub_id ? 1 : 0,
                        NULL);
    brk_msg_unref(&m);
}

bool brk_store_busy(const brk_conn_t *c)
{
    const brk_t *b = c->w->b;
    return b->store && c->ack_len >= b->cfg->mqtt.max_store_pending;
}

void brk_store_hold(brk_conn_t *c)
{
    brk_t *b = c->w->b;
    uint64_t seq = brk_conn_ack(c, BRK_ACK_SILENT, 0, 0, 1);
    brk_pending_t *pd = calloc(1, sizeof(*pd));
    if (pd) {
        *pd = (brk_pending_t){.c = c, .seq = seq};
        atomic_fetch_add(&c->refs, 1);
        if (brk_persist_barrier(b, brk_pending_complete, pd)) return;
        brk_conn_unref(c);
        free(pd);
    }
    brk_conn_ack_done(c, seq, 0); /* no store to wait for */
}

static bool subrec_del(brk_session_t *s, const mqtt_str_t *f)
{
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < s->n_subs; i++)
        if (s->subs[i].len == f->len && !memcmp(s->subs[i].filter, f->p, f->len)) {
            free(s->subs[i].filter);
            s->subs[i] = s->subs[--s->n_subs];
            found = true;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* Would a new filter take the session over mqtt.max_subscriptions? A
 * filter it already has only replaces its options. */
static bool over_quota(brk_session_t *s, const mqtt_str_t *f, uint32_t max)
{
    if (!max) return false;
    bool over = false;
    pthread_mutex_lock(&s->lock);
    if (s->n_subs >= max) {
        over = true;
        for (uint32_t i = 0; i < s->n_subs && over; i++)
            over = !(s->subs[i].len == f->len && !memcmp(s->subs[i].filter, f->p, f->len));
    }
    pthread_mutex_unlock(&s->lock);
    return over;
}

/* The reason code refusing one entry for an operator limit, 0 if none. */
static uint8_t limit_refusal(brk_conn_t *c, const mqtt_str_t *f)
{
    brk_t *b = c->w->b;
    bool v5 = c->version == MQTT_V5;
    switch (brk_topic_limits(b->cfg, f->p, f->len)) {
    case BRK_TOPIC_TOO_LONG:
        brk_limit_hit(b, BRK_LIMIT_TOPIC_LENGTH);
        return v5 ? MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
    case BRK_TOPIC_TOO_DEEP:
        brk_limit_hit(b, BRK_LIMIT_TOPIC_LEVELS);
        return v5 ? MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
    default:
        break;
    }
    if (over_quota(c->session, f, b->cfg->mqtt.max_subscriptions)) {
        brk_limit_hit(b, BRK_LIMIT_SUBSCRIPTIONS);
        return v5 ? MQTT_RC_QUOTA_EXCEEDED : 0x80;
    }
    return 0;
}

/* Record first, index second: brk_session_clear removes what the record
 * lists, and both refuse a session that has ended, so an ended session can
 * never be left in the index. Returns brk_subs_add's result. */
static int add_sub(brk_conn_t *c, const mqtt_sub_entry_t *e, uint32_t sub_id)
{
    brk_t *b = c->w->b;
    brk_session_t *s = c->session;
    const char *f = (const char *)e->filter.p;
    uint16_t len = (uint16_t)e->filter.len;
    bool had = false;
    pthread_mutex_lock(&s->lock);
    for (uint32_t i = 0; i < s->n_subs && !had; i++)
        had = s->subs[i].len == len && !memcmp(s->subs[i].filter, f, len);
    pthread_mutex_unlock(&s->lock);
    if (!brk_session_subrec_put(s, f, len, e->options, sub_id)) return -1;
    int rc = brk_subs_add(b->subs, f, len, s, e->options, sub_id);
    if (rc < 0) {
        if (!had) subrec_del(s, &e->filter);
        return rc;
    }
    /* under the lock: before brk_session_end's range delete, or not at all */
    pthread_mutex_lock(&s->lock);
    if (!s->ended) brk_persist_sub(s, f, len, e->options, sub_id, true);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Whether an entry's right is still being asked (the HTTP hook): then the
 * whole SUBSCRIBE waits, before anything of it is applied. Every entry is
 * asked here, so their requests run side by side. */
static bool acl_waiting(brk_session_t *s, mqtt_subscribe_t *p)
{
    uint32_t off = 0, n = 0;
    bool wait = false;
    mqtt_sub_entry_t e;
    while (n++ < p->count && mqtt_sub_next(p, true, &off, &e)) {
        mqtt_str_t group, rest;
        bool shared = mqtt_share_split(e.filter.p, e.filter.len, &group, &rest);
        mqtt_str_t f = shared ? rest : e.filter;
        if (mqtt_filter_valid(e.filter.p, e.filter.len) &&
            brk_acl_session(s, (const char *)f.p, (uint16_t)f.len, BRK_ACL_SUBSCRIBE) ==
                BRK_ACL_WAIT)
            wait = true;
    }
    return wait;
}

int brk_handle_subscribe(brk_conn_t *c, mqtt_subscribe_t *p)
{
    brk_t *b = c->w->b;
    bool v5 = c->version == MQTT_V5;
    if (p->count > MAX_ENTRIES) {
        brk_conn_close(c, MQTT_RC_QUOTA_EXCEEDED);
        return -1;
    }
    if (brk_store_busy(c)) return BRK_PAUSE;
    uint32_t stored = 0;
    if (b->acl_on && acl_waiting(c->session, p)) return BRK_PAUSE;
    uint8_t reasons[MAX_ENTRIES];
    mqtt_sub_entry_t retained[MAX_ENTRIES];
    uint8_t granted_q[MAX_ENTRIES];
    uint32_t n = 0, n_ret = 0, off = 0;
    uint32_t sub_id = (v5 && p->props.sub_id_count) ? p->props.sub_ids[0] : 0;
    mqtt_sub_entry_t e;
    while (n < p->count && mqtt_sub_next(p, true, &off, &e)) {
        uint8_t qos = MQTT_SUBOPT_QOS(e.options);
        mqtt_str_t group, rest;
        bool shared = mqtt_share_split(e.filter.p, e.filter.len, &group, &rest);
        if (!mqtt_filter_valid(e.filter.p, e.filter.len)) {
            reasons[n++] = v5 ? MQTT_RC_TOPIC_FILTER_INVALID : 0x80;
            continue;
        }
        uint8_t refusal = limit_refusal(c, &e.filter);
        if (refusal) {
            reasons[n++] = refusal;
            continue;
        }
        if (shared && (e.options & MQTT_SUBOPT_NO_LOCAL)) { /* MQTT-3.8.3-4 */
            brk_conn_close(c, MQTT_RC_PROTOCOL_ERROR);
            return -1;
        }
        mqtt_str_t f = shared ? rest : e.filter; /* a group is not part of the rights */
        if (brk_acl_session(c->session, (const char *)f.p, (uint16_t)f.len, BRK_ACL_SUBSCRIBE)) {
            reasons[n++] = v5 ? MQTT_RC_NOT_AUTHORIZED : 0x80;
            continue;
        }
        if (!v5) e.options = qos; /* 3.1.1 has only the QoS bits */
        int rc = add_sub(c, &e, sub_id);
        if (rc < 0) {
            reasons[n++] = v5 ? MQTT_RC_UNSPECIFIED : 0x80;
            continue;
        }
        reasons[n++] = qos;
        stored += brk_persist_on(c->session);
        uint8_t rh = MQTT_SUBOPT_RH(e.options);
        if (!shared && (rh == 0 || (rh == 1 && rc == 1))) {
            granted_q[n_ret] = qos;
            retained[n_ret++] = e;
        }
    }
    if (stored) brk_cluster_subs_changed(b, c->session); /* persistent: its checkpoint */
    mqtt_packet_t ack = {.type = MQTT_SUBACK,
                         .u.suback = {.packet_id = p->packet_id, .reasons = {reasons, n}}};
    brk_conn_send_packet(c, &ack);
    if (stored) brk_store_hold(c);
    for (uint32_t i = 0; i < n_ret; i++) {
        retained_ctx_t rc = {c, granted_q[i], sub_id};
        brk_retain_match(b->retain, (const char *)retained[i].filter.p,
                         (uint16_t)retained[i].filter.len, send_retained, &rc);
    }
    return 0;
}

int brk_handle_unsubscribe(brk_conn_t *c, mqtt_subscribe_t *p)
{
    brk_t *b = c->w->b;
    brk_session_t *s = c->session;
    if (p->count > MAX_ENTRIES) {
        brk_conn_close(c, MQTT_RC_QUOTA_EXCEEDED);
        return -1;
    }
    if (brk_store_busy(c)) return BRK_PAUSE;
    uint32_t stored = 0;
    uint8_t reasons[MAX_ENTRIES];
    uint32_t n = 0, off = 0;
    mqtt_sub_entry_t e;
    while (n < p->count && mqtt_sub_next(p, false, &off, &e)) {
        bool had = brk_subs_remove(b->subs, (const char *)e.filter.p, (uint16_t)e.filter.len, s);
        if (subrec_del(s, &e.filter)) {
            brk_persist_sub(s, (const char *)e.filter.p, (uint16_t)e.filter.len, 0, 0, false);
            stored += brk_persist_on(s);
        }
        reasons[n++] = had ? MQTT_RC_SUCCESS : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
    }
    if (stored) brk_cluster_subs_changed(b, s);
    mqtt_packet_t ack = {.type = MQTT_UNSUBACK,
                         .u.suback = {.packet_id = p->packet_id, .reasons = {reasons, n}}};
    brk_conn_send_packet(c, &ack);
    if (stored) brk_store_hold(c);
    return 0;
}
