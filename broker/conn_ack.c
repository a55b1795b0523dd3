/*
 * conn_ack.c - a connection's acknowledgement ring: PUBACK / PUBREC (and
 * the silent places of store writes) leave in PUBLISH order (MQTT 4.6),
 * each once everything it waits on (the store, Kafka, a subscriber's full
 * queue) has completed. The numbering and the contract are in conn.h
 * (brk_conn_ack). Only the connection's worker calls these; completions
 * from the store and bridge threads arrive through its inbox
 * (brk_pending_complete).
 */
#include <stdlib.h>

#include "worker.h"
#include "grow.h"

static void send_ack(brk_conn_t *c, const brk_ackq_t *a)
{
    if (a->type == BRK_ACK_SILENT) return; /* only held its place (brk_store_hold) */
    /* a refused QoS 2 PUBLISH was not taken: its id must not count as a
     * duplicate when the client sends it again */
    if (a->refuse && a->type == MQTT_PUBREC && c->session)
        brk_session_in2_remove(c->session, a->pid);
    if (a->refuse && a->type == MQTT_PUBREL) { /* PUBREL has no refusal: send it */
        mqtt_packet_t r = {.type = MQTT_PUBREL, .u.ack = {.packet_id = a->pid}};
        brk_conn_send_packet(c, &r);
        return;
    }
    if (a->refuse && c->version != MQTT_V5) { /* 3.1.1 has no way to say no */
        brk_conn_close(c, 0);
        return;
    }
    mqtt_packet_t r = {
        .type = (mqtt_type_t)a->type,
        .u.ack = {.packet_id = a->pid, .reason = a->refuse ? MQTT_RC_QUOTA_EXCEEDED : a->reason}};
    brk_conn_send_packet(c, &r);
}

uint64_t brk_conn_ack(brk_conn_t *c, uint8_t type, uint16_t pid, uint8_t reason, uint8_t waits)
{
    brk_ackq_t a = {.pid = pid, .type = type, .reason = reason, .waits = waits};
    bool timed = type == MQTT_PUBACK || type == MQTT_PUBREC;
    if (!waits && !c->ack_len) {
        send_ack(c, &a);
        if (timed) brk_hist_observe(&c->w->st.ack_lat, 0);
        return c->ack_base++;
    }
    if (timed) a.at_us = brk_now_us();
    if (c->ack_len == c->ack_cap &&
        brk_grow_ring(&c->acks, &c->ack_cap, &c->ack_head, c->ack_len, sizeof(*c->acks), 16)) {
        brk_conn_close(c, MQTT_RC_UNSPECIFIED); /* cannot queue: refuse, not acknowledge early */
        return c->ack_base + c->ack_len;
    }
    c->acks[(c->ack_head + c->ack_len) % c->ack_cap] = a;
    if (type == MQTT_PUBACK) c->acks_puback++;
    return c->ack_base + c->ack_len++;
}

static brk_ackq_t *ack_find(brk_conn_t *c, uint64_t seq)
{
    if (seq < c->ack_base || seq >= c->ack_base + c->ack_len) return NULL;
    return &c->acks[(c->ack_head + (seq - c->ack_base)) % c->ack_cap];
}

void brk_conn_ack_hold(brk_conn_t *c, uint64_t seq)
{
    brk_ackq_t *a = ack_find(c, seq);
    if (a) a->waits++;
}

void brk_conn_ack_reason(brk_conn_t *c, uint64_t seq, uint8_t reason)
{
    brk_ackq_t *a = ack_find(c, seq);
    if (a) a->reason = reason;
}

bool brk_conn_ack_withdraw(brk_conn_t *c, uint64_t seq)
{
    if (!c->ack_len || seq != c->ack_base + c->ack_len - 1) return false;
    if (ack_find(c, seq)->type == MQTT_PUBACK) c->acks_puback--;
    c->ack_len--;
    return true;
}

void brk_conn_ack_done(brk_conn_t *c, uint64_t seq, int status)
{
    brk_ackq_t *a = ack_find(c, seq);
    if (!a) return;
    if (a->waits) a->waits--;
    if (status < 0) a->refuse = true;
    while (c->ack_len && c->state < BRK_CONN_CLOSING) {
        a = &c->acks[c->ack_head];
        if (a->waits) break;
        if (a->type == MQTT_PUBACK) c->acks_puback--;
        send_ack(c, a);
        if (a->at_us) brk_hist_observe(&c->w->st.ack_lat, (uint64_t)(brk_now_us() - a->at_us));
        c->ack_head = (c->ack_head + 1) % c->ack_cap;
        c->ack_len--;
        c->ack_base++;
    }
}

brk_pending_t *brk_pending_new(brk_conn_t *c, uint64_t seq)
{
    brk_pending_t *p = calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->c = c;
    p->seq = seq;
    atomic_fetch_add(&c->refs, 1);
    return p;
}

void brk_pending_drop(brk_pending_t *p)
{
    if (!p) return;
    brk_conn_unref(p->c);
    free(p);
}

void brk_pending_complete(void *arg, int status)
{
    brk_pending_t *p = arg;
    p->status = status;
    if (brk_worker_post(p->c->w, (brk_inbox_item_t){.kind = BRK_INBOX_ACK, .u.p = p}) < 0) {
        brk_conn_unref(p->c);
        free(p);
    }
}
