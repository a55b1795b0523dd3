/*
 * handle_subscribe.c - SUBSCRIBE and UNSUBSCRIBE. Each entry gets its own
 * reason code; a bad filter fails its entry, not the packet. Retained
 * messages are delivered after the SUBACK, per the retain handling option.
 */
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "brk.h"

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
    brk_session_t *s = c->session;
    bool v5 = c->version == MQTT_V5;
    if (p->count > MAX_ENTRIES) {
        brk_conn_close(c, MQTT_RC_QUOTA_EXCEEDED);
        return -1;
    }
    if (b->acl_on && acl_waiting(s, p)) return BRK_PAUSE;
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
        if (shared && (e.options & MQTT_SUBOPT_NO_LOCAL)) { /* MQTT-3.8.3-4 */
            brk_conn_close(c, MQTT_RC_PROTOCOL_ERROR);
            return -1;
        }
        mqtt_str_t f = shared ? rest : e.filter; /* a group is not part of the rights */
        if (brk_acl_session(s, (const char *)f.p, (uint16_t)f.len, BRK_ACL_SUBSCRIBE)) {
            reasons[n++] = v5 ? MQTT_RC_NOT_AUTHORIZED : 0x80;
            continue;
        }
        if (!v5) e.options = qos; /* 3.1.1 has only the QoS bits */
        int rc = brk_subs_add(b->subs, (const char *)e.filter.p, (uint16_t)e.filter.len, s,
                              e.options, sub_id);
        if (rc < 0) {
            reasons[n++] = v5 ? MQTT_RC_UNSPECIFIED : 0x80;
            continue;
        }
        brk_session_subrec_put(s, (const char *)e.filter.p, (uint16_t)e.filter.len, e.options,
                               sub_id);
        brk_persist_sub(s, (const char *)e.filter.p, (uint16_t)e.filter.len, e.options, sub_id,
                        true);
        reasons[n++] = qos;
        uint8_t rh = MQTT_SUBOPT_RH(e.options);
        if (!shared && (rh == 0 || (rh == 1 && rc == 1))) {
            granted_q[n_ret] = qos;
            retained[n_ret++] = e;
        }
    }
    mqtt_packet_t ack = {.type = MQTT_SUBACK,
                         .u.suback = {.packet_id = p->packet_id, .reasons = {reasons, n}}};
    brk_conn_send_packet(c, &ack);
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
    uint8_t reasons[MAX_ENTRIES];
    uint32_t n = 0, off = 0;
    mqtt_sub_entry_t e;
    while (n < p->count && mqtt_sub_next(p, false, &off, &e)) {
        bool had = brk_subs_remove(b->subs, (const char *)e.filter.p, (uint16_t)e.filter.len, s);
        if (subrec_del(s, &e.filter))
            brk_persist_sub(s, (const char *)e.filter.p, (uint16_t)e.filter.len, 0, 0, false);
        reasons[n++] = had ? MQTT_RC_SUCCESS : MQTT_RC_NO_SUBSCRIPTION_EXISTED;
    }
    mqtt_packet_t ack = {.type = MQTT_UNSUBACK,
                         .u.suback = {.packet_id = p->packet_id, .reasons = {reasons, n}}};
    brk_conn_send_packet(c, &ack);
    return 0;
}
