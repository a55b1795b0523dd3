/*
 * conn_ack.c - a connection's acknowledgement ring: PUBACK / PUBREC (and
 * the silent places of store writes) leave in PUBLISH order (MQTT 4.6),
 * each once everything it waits on (the store, Kafka, a subscriber's full
 * queue) has completed. The numbering and the contract are in conn.h
 * (brk_conn_ack). Only the connection's worker calls these; completions
 * from the store and bridge threads arrive through its inbox
 * (brk_pending_complete, or one call per pass's store barrier).
 */
#include <stdlib.h>

#include "persist.h"
#include "worker.h"
#include "worker_call.h"
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

/* The acks of one pass that wait for the store, and the barrier's result.
 * Built on the worker's thread; from the submit on, the store thread's until
 * it hands it back through brk_worker_call. Each entry holds a reference
 * to its connection. */
typedef struct brk_storewait {
    brk_worker_t *w;
    int status;
    uint32_t n, cap;
    struct storewait_ack {
        brk_conn_t *c;
        uint64_t seq;
    } * v;
} brk_storewait_t;

void brk_conn_ack_store(brk_conn_t *c, uint64_t seq)
{
    brk_worker_t *w = c->w;
    brk_storewait_t *sw = w->store_wait;
    brk_conn_ack_hold(c, seq);
    if (!sw) sw = w->store_wait = calloc(1, sizeof(*sw));
    if (!sw || (sw->n == sw->cap && brk_grow_vec(&sw->v, &sw->cap, sizeof(*sw->v), 64))) {
        brk_conn_ack_done(c, seq, -1); /* cannot wait for it: refuse */
        return;
    }
    atomic_fetch_add(&c->refs, 1);
    sw->v[sw->n++] = (struct storewait_ack){c, seq};
}

static void storewait_free(brk_storewait_t *sw)
{
    for (uint32_t i = 0; i < sw->n; i++)
        brk_conn_unref(sw->v[i].c);
    free(sw->v);
    free(sw);
}

/* On the worker: the barrier completed. */
static void storewait_run(brk_worker_t *w, void *arg)
{
    brk_storewait_t *sw = arg;
    (void)w;
    for (uint32_t i = 0; i < sw->n; i++) {
        brk_conn_t *c = sw->v[i].c;
        if (c->state != BRK_CONN_OPEN) continue;
        brk_conn_ack_done(c, sw->v[i].seq, sw->status);
        /* read on if it waited for its acks: once per run of one connection */
        if (i + 1 == sw->n || sw->v[i + 1].c != c) brk_conn_retry(c);
    }
    storewait_free(sw);
}

/* On the store thread: everything before the barrier is durable. */
static void storewait_done(void *arg, int err)
{
    brk_storewait_t *sw = arg;
    sw->status = err < 0 ? -1 : 0;
    if (brk_worker_call(sw->w, storewait_run, sw) < 0) storewait_free(sw); /* stopped */
}

bool brk_store_wait_flush(brk_worker_t *w)
{
    brk_storewait_t *sw = w->store_wait;
    if (!sw) return false;
    w->store_wait = NULL;
    sw->w = w;
    if (!sw->n) {
        storewait_free(sw);
        return false;
    }
    if (brk_persist_barrier(w->b, storewait_done, sw)) return false;
    sw->status = -1;
    storewait_run(w, sw);
    return true;
}
