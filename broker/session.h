/*
 * session.h - MQTT sessions (session.c): queued and in-flight deliveries,
 * subscriptions kept for persistence, inbound QoS 2 ids, the delayed will.
 *
 * A session is shared: any worker may deliver into it. Everything below
 * `lock` is guarded by it; `conn`/`home` say where it is attached (NULL
 * offline). Lock order: registry -> subs -> session; never take the subs
 * lock holding a session lock. The registry and brk_session_end are in
 * brk.h (they need the broker).
 */
#ifndef SLUICE_BRK_SESSION_H
#define SLUICE_BRK_SESSION_H

#include <pthread.h>
#include "msg.h"
#include "subs.h"

typedef struct brk_delivery {
    brk_msg_t *msg;
    brk_share_t *share; /* shared subscription it came through (a ref), or NULL */
    uint64_t seq;       /* q/ record in the store, 0 = not persisted */
    uint8_t qos;
    bool retain;
    uint32_t n_sub_ids;
    brk_subids_t sub_ids;
} brk_delivery_t;

/* HOLD: a QoS 2 PUBLISH whose in-flight record is not yet durable (sync
 * "always"); it is written when the store says so, never before, so that a
 * crash cannot make the broker send it twice. */
enum { BRK_INF_PUBACK = 1, BRK_INF_PUBREC, BRK_INF_PUBCOMP, BRK_INF_HOLD };

typedef struct brk_inflight {
    brk_delivery_t d;
    uint64_t msg_id; /* o/ record's body in the store, 0 = not persisted */
    uint16_t pid;
    uint8_t state;
} brk_inflight_t;

typedef struct brk_subrec {
    char *filter;
    uint16_t len;
    uint8_t options;
    uint32_t sub_id;
} brk_subrec_t;

struct brk_session {
    _Atomic uint32_t refs;
    char *client_id;
    uint16_t id_len;
    brk_t *b;

    pthread_mutex_t lock;
    brk_conn_t *conn;    /* attached connection, NULL when offline */
    brk_conn_t *pending; /* taking over from conn: attached once conn is done (holds a ref) */
    brk_worker_t *home;  /* worker of conn */
    bool ready;          /* queued in home's inbox */
    bool registered;     /* in the registry */
    bool persisted;      /* has records in the store */
    bool ended;          /* brk_session_end ran: refuses every mutation from now on */
    int64_t sched_at;    /* earliest entry of it in the expiry heap, 0 = none (reg_lock) */
    uint8_t version;
    uint32_t expiry; /* session expiry interval, seconds; UINT32_MAX = never */
    uint64_t q_seq;  /* last q/ sequence number used in the store */
    /* brk_persist_begin..end (under lock): the locked writes gather in pb */
    bool persist_pass;
    struct store_batch *pb;
    /* Queued messages still only in the store (loaded a page at a time, so
     * a restart with millions queued does not need them in memory); while
     * set, new persistent deliveries go to the store only, behind them. */
    _Atomic bool backlog;
    uint64_t backlog_after; /* last seq loaded into q */
    int64_t offline_since_ms;
    brk_msg_t *will;     /* delayed will (MQTT 5), published at will_at_ms or session end */
    uint64_t will_token; /* cluster: the connection it came from (its presence token), 0 none */
    int64_t will_at_ms;
    uint32_t will_expiry;
    bool has_will_expiry;

    /* FIFO of deliveries not yet written (ring). */
    brk_delivery_t *q;
    uint32_t q_head, q_len, q_cap;

    /* outbound QoS 1/2 in send order */
    brk_inflight_t *inf;
    uint32_t inf_len, inf_cap;
    uint16_t next_pid;

    /* inbound QoS 2 packet ids awaiting PUBREL */
    uint16_t *in2;
    uint32_t in2_len, in2_cap;

    /* subscriptions, for unsubscribe-all and persistence */
    brk_subrec_t *subs;
    uint32_t n_subs, cap_subs;

    brk_counter_t dropped;
    struct brk_acl_id *acl; /* who the client is (acl.h), set at CONNECT; under lock */

    /* publishers' acknowledgements held while the queue is over the mark
     * (flow.c; FIFO ring) and since when it has been over, 0 = not */
    struct brk_flow **holds;
    uint32_t hold_head, hold_len, hold_cap;
    _Atomic int64_t over_since_ms;

    /* cluster: its last checkpoint (cluster_ckpt.c; under lock) */
    uint64_t ck_hash;
    uint32_t ck_epoch;
    bool ck_written;
    bool ck_dirty; /* something was queued since: its floor may move */
};

brk_session_t *brk_session_new(brk_t *b, const char *id, uint16_t len);
/* Drop what a delivery holds (message, group, ids); s->lock held. */
void brk_delivery_release(brk_delivery_t *d);
/* Attach s to s->pending and tell its worker to resume (s->lock held). */
void brk_session_handover(brk_session_t *s);
static inline brk_session_t *brk_session_ref(brk_session_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}
void brk_session_unref(brk_session_t *s);
/* Deliver into s (any thread; takes s->lock). */
void brk_session_deliver(brk_session_t *s, brk_worker_t *from, brk_msg_t *m, uint8_t qos,
                         bool retain, const uint32_t *sub_ids, uint32_t n_sub_ids,
                         brk_share_t *share);
/* Move queued deliveries into the attached conn's output (home worker). */
void brk_session_drain(brk_session_t *s, brk_worker_t *w);
/* Drop every subscription and queued/in-flight message (clean start). */
void brk_session_clear(brk_session_t *s);
/* Record a subscription in the session (home worker, or start-up); false
 * if the session has ended or without memory. Called before the index is
 * touched, so that brk_session_clear sees every filter it must remove. */
bool brk_session_subrec_put(brk_session_t *s, const char *filter, uint16_t len, uint8_t options,
                            uint32_t sub_id);
/* Acknowledgement from the client: BRK_ACK_OK, BRK_ACK_UNKNOWN (no such
 * pid in flight: tolerated) or BRK_ACK_WRONG (an ack of the wrong kind for
 * the pid's state, e.g. PUBCOMP for a QoS 1 PUBLISH: a protocol error). */
enum { BRK_ACK_WRONG = -1, BRK_ACK_UNKNOWN = 0, BRK_ACK_OK = 1 };
int brk_session_ack(brk_session_t *s, brk_conn_t *c, uint16_t pid, uint8_t type);
/* A held QoS 2 PUBLISH may go now (its worker's inbox). */
void brk_session_release(brk_session_t *s, brk_worker_t *w, uint16_t pid);
/* Re-send in-flight messages after reconnect (DUP set), then queued ones. */
void brk_session_resume(brk_session_t *s, brk_conn_t *c);
/* Inbound QoS 2 ids (s->lock held inside). */
bool brk_session_in2_add(brk_session_t *s, uint16_t pid);    /* false if already there */
bool brk_session_in2_remove(brk_session_t *s, uint16_t pid); /* false if absent */

#endif
