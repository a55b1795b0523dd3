/*
 * brk.h - the broker's internal types, shared by the files of broker/ only.
 *
 * Threads and locks (the whole contract; read before touching anything):
 * - W workers, each owning one lws_context. A connection (brk_conn_t) lives
 *   on one worker for its whole life and only that worker touches it, except
 *   for its atomic `refs`.
 * - A session (brk_session_t) is shared: any worker may deliver into it.
 *   Everything in it below `lock` is guarded by `lock`. `conn`/`home` say
 *   where it is attached (NULL when offline).
 * - The subscription index (brk_subs_t) is guarded by an rwlock. Routing
 *   holds the read lock while it delivers into sessions; subscribe,
 *   unsubscribe and session destruction take the write lock. Lock order:
 *   registry -> subs -> session. Never take the subs lock holding a session
 *   lock.
 * - Cross-worker hand-off goes through the target worker's inbox (a mutex-
 *   guarded vector swapped out by the owner) plus lws_cancel_service().
 */
#ifndef SLUICE_BRK_H
#define SLUICE_BRK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mqtt.h"

struct lws;
struct lws_context;
typedef struct brk brk_t;
typedef struct brk_worker brk_worker_t;
typedef struct brk_conn brk_conn_t;
typedef struct brk_session brk_session_t;

/* Relaxed counters: written by one thread, read by the $SYS publisher. */
typedef _Atomic uint64_t brk_counter_t;
static inline void brk_count(brk_counter_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline uint64_t brk_read(brk_counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

int64_t brk_now_ms(void); /* CLOCK_MONOTONIC */
int64_t brk_now_us(void); /* CLOCK_MONOTONIC */

/* Latency histograms for /metrics: upper bounds in microseconds (the last
 * bucket, +Inf, is implicit); one writer per histogram, relaxed counters. */
#define BRK_LAT_N 16
extern const uint64_t brk_lat_le_us[BRK_LAT_N];
typedef struct brk_hist {
    brk_counter_t bucket[BRK_LAT_N + 1]; /* not cumulative */
    brk_counter_t sum_us, count;
} brk_hist_t;
void brk_hist_observe(brk_hist_t *h, uint64_t us);
int64_t brk_wall_s(void); /* CLOCK_REALTIME seconds */
void brk_log(brk_t *b, int level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
enum { BRK_LOG_ERROR, BRK_LOG_WARN, BRK_LOG_INFO, BRK_LOG_DEBUG };

/* ---- messages (msg.c) ------------------------------------------------ */

/* One encoded PUBLISH, shared by every subscriber of the same variant.
 * For QoS > 0 the packet identifier at pid_off is patched per subscriber. */
typedef struct brk_frame {
    uint32_t len;
    uint32_t pid_off;
    uint8_t bytes[];
} brk_frame_t;

/*
 * An immutable, refcounted application message. topic, payload and the
 * forwardable MQTT 5 properties (payload format, content type, response
 * topic, correlation data, user properties; pre-encoded, without message
 * expiry, topic alias or subscription ids) live in one allocation.
 */
typedef struct brk_msg {
    _Atomic uint32_t refs;
    uint8_t qos;
    bool retain;
    uint16_t topic_len;
    uint32_t payload_len;
    uint32_t props_len;
    int64_t expire_at_ms;      /* brk_now_ms() deadline, 0 = never */
    const void *origin;        /* publishing session, for no-local; never dereferenced */
    _Atomic uint64_t store_id; /* body in the store, 0 = not written yet */
    bool body_pinned;          /* a fan-out holds the body in the store: refs need no copy */
    /* cached frames: [v5][qos][retain]; built lazily, published by CAS */
    _Atomic(brk_frame_t *) frames[2][3][2];
    const char *topic;
    const uint8_t *payload;
    const uint8_t *props;
    uint8_t data[];
} brk_msg_t;

brk_msg_t *brk_msg_new(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
                       uint32_t payload_len, uint32_t props_len, uint8_t qos, bool retain);
/* props blob of a decoded PUBLISH/will: the forwardable properties. */
uint32_t brk_msg_props_size(const mqtt_props_t *p);
void brk_msg_props_write(const mqtt_props_t *p, uint8_t *dst, uint32_t len);
static inline brk_msg_t *brk_msg_ref(brk_msg_t *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}
void brk_msg_unref(brk_msg_t **m);
/* Frame for (version, qos, retain) with no per-subscriber properties. */
const brk_frame_t *brk_msg_frame(brk_msg_t *m, uint8_t version, uint8_t qos, bool retain);
/* Encode a PUBLISH of m with per-subscriber properties into dst. */
int brk_msg_encode(brk_msg_t *m, uint8_t version, uint8_t qos, bool retain, bool dup, uint16_t pid,
                   const uint32_t *sub_ids, uint32_t n_sub_ids, uint32_t expiry_left, uint8_t *dst,
                   size_t cap);
int brk_msg_encode_size(brk_msg_t *m, uint8_t version, uint8_t qos, bool retain,
                        const uint32_t *sub_ids, uint32_t n_sub_ids, uint32_t expiry_left);

/*
 * The Subscription Identifiers of one delivery: every matching
 * subscription's (MQTT-3.3.4-3), so at most one per subscription of the
 * session. Up to BRK_SUBIDS_INLINE live in the delivery itself (the common
 * case allocates nothing); more go to the heap. The count is kept beside
 * it by the owner; copying the owner moves the ownership.
 */
#define BRK_SUBIDS_INLINE 4
typedef union brk_subids {
    uint32_t v[BRK_SUBIDS_INLINE];
    uint32_t *heap; /* when n > BRK_SUBIDS_INLINE */
} brk_subids_t;
static inline const uint32_t *brk_subids_get(const brk_subids_t *x, uint32_t n)
{
    return n > BRK_SUBIDS_INLINE ? x->heap : x->v;
}
/* Copy ids[0..count) into x (*n = count); -1 without memory (then *n = 0). */
int brk_subids_set(brk_subids_t *x, uint32_t *n, const uint32_t *ids, uint32_t count);
void brk_subids_free(brk_subids_t *x, uint32_t *n);
/* MQTT 5: the same with a Topic Alias property; send_topic false leaves the
 * topic name empty (the client knows the alias already). */
int brk_msg_encode_alias(brk_msg_t *m, uint8_t qos, bool retain, bool dup, uint16_t pid,
                         const uint32_t *sub_ids, uint32_t n_sub_ids, uint32_t expiry_left,
                         uint16_t alias, bool send_topic, uint8_t *dst, size_t cap);
int brk_msg_encode_alias_size(brk_msg_t *m, uint8_t qos, const uint32_t *sub_ids,
                              uint32_t n_sub_ids, uint32_t expiry_left, bool send_topic);

/* ---- subscription index (subs.c) ------------------------------------- */

typedef struct brk_sub {
    brk_session_t *s;
    uint8_t options; /* MQTT_SUBOPT_* */
    uint32_t sub_id; /* 0 = none */
} brk_sub_t;

/* The identity of a shared subscription group ("$share/g/filter"),
 * refcounted so a delivery can name its group after the group is gone. */
typedef struct brk_share {
    _Atomic uint32_t refs;
    uint16_t len;
    char filter[];
} brk_share_t;
brk_share_t *brk_share_ref(brk_share_t *sh);
void brk_share_unref(brk_share_t **sh);
/* Hand m to another member of the group (a member left with it unacked). */
void brk_share_redispatch(brk_t *b, brk_share_t *sh, brk_msg_t *m, uint8_t qos);

/* One matched delivery target, after merging overlapping subscriptions. */
typedef struct brk_match {
    brk_session_t *s;
    brk_share_t *share; /* set when matched through a shared subscription */
    uint8_t qos;
    bool rap; /* retain as published */
    uint32_t n_sub_ids;
    const uint32_t *sub_ids; /* &one, or a run of the matches' ids */
    uint32_t one;            /* the only id (n_sub_ids <= 1) */
    uint32_t ids_off;        /* n_sub_ids > 1: where the run starts in ids */
} brk_match_t;

/* Reused between matches; sub_ids pointers are valid until the next one. */
typedef struct brk_matches {
    brk_match_t *v;
    uint32_t n, cap;
    uint32_t nodes; /* how many index nodes contributed (merge needed if > 1) */
    uint32_t *ids;  /* the Subscription Identifiers of merged matches */
    uint32_t n_ids, cap_ids;
} brk_matches_t;
void brk_matches_free(brk_matches_t *m);

typedef struct brk_subs brk_subs_t;
brk_subs_t *brk_subs_new(void);
void brk_subs_free(brk_subs_t *t);
/* Write-locked inside. Returns 1 if the subscription is new, 0 if it
 * replaced an existing one of the same session and filter, BRK_SUBS_ENDED
 * if s has ended (checked under the write lock, so brk_session_end's
 * removal cannot miss it), -1 on ENOMEM. */
#define BRK_SUBS_ENDED (-2)
int brk_subs_add(brk_subs_t *t, const char *filter, uint16_t len, brk_session_t *s, uint8_t options,
                 uint32_t sub_id);
/* Returns true if the session had that subscription. */
bool brk_subs_remove(brk_subs_t *t, const char *filter, uint16_t len, brk_session_t *s);
void brk_subs_rdlock(brk_subs_t *t);
void brk_subs_unlock(brk_subs_t *t);
/* Collect matches for a topic (caller holds the read lock); overlapping
 * subscriptions of one session are merged. out is reused between calls. */
int brk_subs_match(brk_subs_t *t, const char *topic, uint16_t len, const void *origin,
                   brk_matches_t *out);
uint64_t brk_subs_count(brk_subs_t *t);
/* A topic or filter within mqtt.max_topic_length and max_topic_levels
 * (a shared filter counts the filter after "$share/<group>/"). */
enum { BRK_TOPIC_OK, BRK_TOPIC_TOO_LONG, BRK_TOPIC_TOO_DEEP };
int brk_topic_limits(const cfg_t *cfg, const uint8_t *p, uint32_t len);

/* ---- retained (retain.c) ---------------------------------------------- */

typedef struct brk_retain brk_retain_t;
brk_retain_t *brk_retain_new(void);
void brk_retain_free(brk_retain_t *r);
/* mqtt.max_retained / max_retained_bytes (0 = no limit). */
void brk_retain_limit(brk_retain_t *r, uint32_t max_n, uint64_t max_bytes);
enum { BRK_RETAIN_OK, BRK_RETAIN_FULL_COUNT, BRK_RETAIN_FULL_BYTES };
/* Takes a reference to m; an empty payload deletes. Returns BRK_RETAIN_OK,
 * or which limit kept m out (the old entry, if any, stays). */
int brk_retain_set(brk_retain_t *r, brk_msg_t *m);
/* The answer brk_retain_set would give now (a PUBLISH checks before it
 * routes, to refuse rather than half-accept). */
int brk_retain_fits(brk_retain_t *r, const brk_msg_t *m);
/* Calls fn for every retained message matching filter (with a ref the
 * callee must drop). */
void brk_retain_match(brk_retain_t *r, const char *filter, uint16_t len,
                      void (*fn)(void *arg, brk_msg_t *m), void *arg);
uint64_t brk_retain_count(brk_retain_t *r);

/* ---- sessions (session.c) --------------------------------------------- */

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
    /* Queued messages still only in the store (loaded a page at a time, so
     * a restart with millions queued does not need them in memory); while
     * set, new persistent deliveries go to the store only, behind them. */
    _Atomic bool backlog;
    uint64_t backlog_after; /* last seq loaded into q */
    int64_t offline_since_ms;
    brk_msg_t *will; /* delayed will (MQTT 5), published at will_at_ms or session end */
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
};

brk_session_t *brk_session_new(brk_t *b, const char *id, uint16_t len);
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

/* ---- connections (conn.c) --------------------------------------------- */

/* RAW: plain TCP on the worker's own epoll (tcp.c); the others through lws */
enum { BRK_TRANSPORT_RAW, BRK_TRANSPORT_WS, BRK_TRANSPORT_TLS_RAW };

struct brk_conn {
    _Atomic uint32_t refs; /* the transport owns one until close; inbox items one each */
    brk_worker_t *w;
    struct lws *wsi; /* lws transports only */
    int fd;
    uint8_t transport;
    bool live;              /* until brk_conn_closed: the transport still has it */
    bool dead;              /* RAW: close now, without writing (peer gone, error) */
    bool out_wait;          /* RAW: the socket was full, EPOLLOUT armed */
    uint32_t ev;            /* RAW: events registered with epoll */
    brk_conn_t *dirty_next; /* RAW: worker's list of connections to write */
    int64_t close_by_ms;    /* RAW: closing, reap at this time even if unwritten */
    bool lingering;         /* RAW: closed for MQTT, output sent, input drained (tcp.c) */
    uint32_t linger_left;   /* RAW: input bytes still drained before giving up */
    const cfg_listener_t *listener;
    uint64_t id;
    char peer[48];
    int64_t accepted_s; /* wall clock at accept (admin API: connected since) */

    uint8_t *in;
    uint32_t in_len, in_cap;
    uint8_t *out; /* LWS_PRE bytes of headroom, then out_len bytes of frames */
    uint32_t out_off, out_len, out_cap;
    bool want_write;
    bool paused; /* back-pressure: not read until the tick retries */

    bool connected; /* CONNECT accepted */
    bool closing;
    bool disconnected_cleanly; /* DISCONNECT received: no will */
    bool got_disconnect;       /* the client sent DISCONNECT (for the log line) */
    uint8_t close_reason;      /* reason the broker closed with, 0 = none (log line) */
    uint8_t version;
    uint16_t keepalive;
    int64_t last_rx_ms;
    int64_t last_tx_ms; /* last write; idle buffers are released by the tick */
    brk_session_t *session;
    char *username;

    /* MQTT 5 limits of the client */
    uint32_t max_packet; /* 0 = none */
    uint16_t receive_max;
    uint16_t alias_max_in;  /* what we accept */
    mqtt_str_t *aliases_in; /* inbound topic alias table (owned copies) */
    /* Outbound topic aliases (session.c write_publish): the client's Topic
     * Alias Maximum capped at BRK_ALIAS_OUT_MAX; aliases 1..aliases_out_n
     * are given first come and kept for the connection's life, so that a
     * mapping never changes under a message in flight. */
    uint16_t alias_max_out, aliases_out_n;
    mqtt_str_t *aliases_out; /* [alias - 1]: owned topic copies */
    bool request_problem_info;

    brk_msg_t *will;
    uint32_t will_delay;
    uint32_t will_expiry; /* message expiry of the will, counted from its publication */
    bool has_will_expiry;

    /* PUBACK/PUBREC in PUBLISH order (MQTT 4.6), some waiting for the store
     * or Kafka: entry i of the ring has absolute number ack_base + i */
    struct brk_ackq *acks;
    uint32_t ack_head, ack_len, ack_cap;
    uint64_t ack_base;
    uint32_t flow_waits;  /* of those, held for subscribers' queues (flow.c) */
    uint32_t acks_puback; /* PUBACKs among them: QoS 1 the client awaits (receive max) */

    brk_conn_t *next, *prev; /* worker's list */
};

#define BRK_ACK_SILENT 0 /* a store write no packet acknowledges: never sent */
/* Outbound aliases per connection: a handful of hot topics is the use
 * (a device's own command and config topics); the lookup is a scan. */
#define BRK_ALIAS_OUT_MAX 16

typedef struct brk_ackq {
    uint16_t pid;
    uint8_t type; /* MQTT_PUBACK, MQTT_PUBREC or BRK_ACK_SILENT */
    uint8_t reason;
    uint8_t waits; /* completions still expected */
    bool refuse;   /* a completion failed */
    int64_t at_us; /* queued at (publish-to-ack histogram) */
} brk_ackq_t;

/* A completion travelling from the store or bridge thread to the worker. */
typedef struct brk_pending {
    brk_conn_t *c; /* holds a reference */
    uint64_t seq;
    int status;
    bool flow; /* a subscriber's queue held it (flow.c): c->flow_waits counts it */
} brk_pending_t;

/* Queue an acknowledgement behind `waits` completions (0: send as soon as
 * everything before it went). Returns its number for brk_conn_ack_done.
 * The ack is queued first, then completed by whoever it waits on: each
 * party that must see the message safe first adds a wait with
 * brk_conn_ack_hold and gives it back with one brk_conn_ack_done. All on
 * c's worker; an unknown seq (already sent, or never queued because the
 * ring could not grow) is ignored by each of them. */
uint64_t brk_conn_ack(brk_conn_t *c, uint8_t type, uint16_t pid, uint8_t reason, uint8_t waits);
/* One more completion ack `seq` waits for. */
void brk_conn_ack_hold(brk_conn_t *c, uint64_t seq);
/* The reason code a still queued ack `seq` will carry. */
void brk_conn_ack_reason(brk_conn_t *c, uint64_t seq, uint8_t reason);
/* Take back ack `seq` unsent; only the newest can be (nothing behind it
 * holds its number). False when it is not the newest queued. */
bool brk_conn_ack_withdraw(brk_conn_t *c, uint64_t seq);
/* One completion of ack `seq` (status < 0: could not be made safe). */
void brk_conn_ack_done(brk_conn_t *c, uint64_t seq, int status);
/* A completion callback for store/bridge: arg is a brk_pending_t. */
void brk_pending_complete(void *arg, int status);

/* A new connection on fd (wsi NULL for RAW); NULL without memory. */
brk_conn_t *brk_conn_new(brk_worker_t *w, struct lws *wsi, int fd, uint8_t transport,
                         const cfg_listener_t *l);
/* Bytes from the transport; returns -1 if the connection must close. */
int brk_conn_feed(brk_conn_t *c, const uint8_t *p, size_t n);
/* Reserve n bytes of output (NULL only without memory). The limit
 * (mqtt.max_out_bytes) is applied by the callers: drain stops queueing
 * PUBLISH at it, and input stops being read at twice it. */
uint8_t *brk_conn_out_reserve(brk_conn_t *c, size_t n);
void brk_conn_out_commit(brk_conn_t *c, size_t n);
/* Queue a control packet (within the client's Maximum Packet Size: reason
 * string and user properties are dropped first). Returns bytes queued, or
 * < 0 when it could not be: the failure is already handled here (counted,
 * logged, the connection closing), so callers need not check. */
int brk_conn_send_packet(brk_conn_t *c, const mqtt_packet_t *pkt);
bool brk_conn_out_full(const brk_conn_t *c);
/* Ask for a WRITEABLE callback (once per loop pass). */
void brk_conn_want_write(brk_conn_t *c);
/* Write pending output; returns -1 when the connection must close now. */
int brk_conn_write(brk_conn_t *c);
/* Mark for close after pending output (idempotent). reason is a MQTT 5
 * reason code sent in DISCONNECT to v5 clients when > 0 and connected. */
void brk_conn_close(brk_conn_t *c, uint8_t reason);
/* The transport closed it: detach from the session, publish the will. */
void brk_conn_closed(brk_conn_t *c);
void brk_conn_unref(brk_conn_t *c);
/* Give back empty I/O buffers of a connection idle for a while (tick). */
void brk_conn_trim(brk_conn_t *c, int64_t now);
/* A paused connection tries its held packet again (tick). */
void brk_conn_retry(brk_conn_t *c);
/* Session takeover, second half (old connection's worker): read what the
 * old client already sent, close it, attach the session to s->pending. */
void brk_conn_kill(brk_conn_t *c);
/* Attach s to s->pending and tell its worker to resume (s->lock held). */
void brk_session_handover(brk_session_t *s);

/* MQTT 5 enhanced authentication (auth.c). A step consumes the client's
 * authentication data and answers OK (authenticated), CONTINUE (send AUTH
 * 0x18 with *out) or FAIL (CONNACK/DISCONNECT 0x87). */
enum { BRK_AUTH_OK, BRK_AUTH_CONTINUE, BRK_AUTH_FAIL };
typedef struct brk_auth_method {
    const char *name;
    int (*step)(brk_conn_t *c, const mqtt_str_t *data_in, mqtt_str_t *out);
} brk_auth_method_t;
/* NULL when the method is unknown: CONNACK 0x8C. */
const brk_auth_method_t *brk_auth_find(const mqtt_str_t *name);

/* packet handlers (handle_*.c): return 0, or -1 to close (after calling
 * brk_conn_close with the reason), or BRK_PAUSE: stop reading this
 * connection and hand it this same packet again later (back-pressure). */
#define BRK_PAUSE 1
/* Store writes that no acknowledgement waits for (SUBSCRIBE/UNSUBSCRIBE
 * records, retained QoS 0) hold a silent place in the connection's ack
 * ring until the store has them; with mqtt.max_store_pending places taken,
 * brk_store_busy says so and the handler answers BRK_PAUSE, so a client
 * cannot grow the store's queue without bound (handle_subscribe.c). */
bool brk_store_busy(const brk_conn_t *c);
void brk_store_hold(brk_conn_t *c);
int brk_handle_connect(brk_conn_t *c, mqtt_connect_t *p);
int brk_handle_publish(brk_conn_t *c, mqtt_publish_t *p);
int brk_handle_subscribe(brk_conn_t *c, mqtt_subscribe_t *p);
int brk_handle_unsubscribe(brk_conn_t *c, mqtt_subscribe_t *p);
int brk_handle_ack(brk_conn_t *c, mqtt_type_t type, mqtt_ack_t *p);
int brk_handle_disconnect(brk_conn_t *c, mqtt_reason_pkt_t *p);
int brk_handle_auth(brk_conn_t *c, mqtt_reason_pkt_t *p);

/* ---- persistence (persist.c) -----------------------------------------
 * No-ops without a store or for sessions that end at disconnect. Functions
 * marked "locked" are called with s->lock held: every write touching a
 * session's queue and in-flight records is submitted under that lock, so the
 * store commits them in the order memory saw them, whichever worker made
 * them. */
int brk_persist_open(brk_t *b, char *err, size_t errlen);
void brk_persist_close(brk_t *b);
bool brk_persist_on(const brk_session_t *s);
void brk_persist_session(brk_session_t *s, const brk_msg_t *will, uint32_t will_delay,
                         bool connected);
void brk_persist_session_end(brk_session_t *s);
void brk_persist_sub(brk_session_t *s, const char *filter, uint16_t len, uint8_t options,
                     uint32_t sub_id, bool add);
void brk_persist_retained(brk_t *b, const brk_msg_t *m);
void brk_persist_enqueue(brk_session_t *s, brk_delivery_t *d);      /* locked */
void brk_persist_send(brk_session_t *s, brk_inflight_t *e);         /* locked */
void brk_persist_pubrec(brk_session_t *s, const brk_inflight_t *e); /* locked */
void brk_persist_done(brk_session_t *s, const brk_inflight_t *e);   /* locked */
void brk_persist_drop(brk_session_t *s, const brk_delivery_t *d);   /* locked */
void brk_persist_in2(brk_session_t *s, uint16_t pid, bool add);
/* Load the next page of a backlog into s->q (locked; home worker). */
void brk_persist_refill(brk_session_t *s);
#define BRK_QUEUE_PAGE 256
/* Fan-out of one QoS 1/2 message to several sessions: the body is written
 * once under a pseudo-reference held for the duration of the route, so each
 * session's batch adds only its reference (not another copy of the body). */
void brk_persist_pin(brk_t *b, brk_msg_t *m);
void brk_persist_unpin(brk_t *b, brk_msg_t *m);
/* While the disk is full, one harmless write per call so that the store
 * notices when space returns (worker 0's tick). */
void brk_persist_probe(brk_t *b);
/* Submit an empty batch: done(arg, err) runs on the store thread once every
 * write submitted before it is durable. Returns false without a store. */
bool brk_persist_barrier(brk_t *b, void (*done)(void *arg, int err), void *arg);
/* Rebuild sessions, subscriptions, retained messages, queues and in-flight
 * state from the store (before the listeners open). */
int brk_persist_recover(brk_t *b, char *err, size_t errlen);

/* ---- Kafka (kafka.c) --------------------------------------------------- */

/* A thread waiting for a store barrier. */
typedef struct brk_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int err;
} brk_waiter_t;
/* Start the bridge and register it as a router sink (sink.h). */
int brk_kafka_start(brk_t *b, char *err, size_t errlen);
void brk_kafka_stop(brk_t *b);
void brk_kafka_free(brk_t *b);
/* Every bridge counter by name ("produced", "spool/depth", ...). */
void brk_kafka_stats(brk_t *b, void (*fn)(void *arg, const char *name, uint64_t v), void *arg);

/* ---- flow control (flow.c) -----------------------------------------------
 * mqtt.queue_full "backpressure": a QoS 1/2 delivery to an online session
 * at mqtt.max_queued holds the publisher's PUBACK/PUBREC instead of being
 * dropped. */
typedef struct brk_flow brk_flow_t;
/* Publisher's worker, around brk_route of a client's QoS 1/2 PUBLISH. */
void brk_flow_begin(brk_worker_t *w, brk_conn_t *c);
/* The token some session holds (its ack must wait one more completion), or NULL. */
brk_flow_t *brk_flow_end(brk_worker_t *w);
/* Hand the token its acknowledgement (number seq on c); completes it now if
 * every session already let go. */
void brk_flow_attach(brk_flow_t *f, brk_conn_t *c, uint64_t seq);
/* s->lock held: hold the PUBLISH being routed on `from`; false if there is
 * no publisher to hold (then the caller decides: queue or drop). */
bool brk_flow_hold(brk_session_t *s, brk_worker_t *from);
/* s->lock held: let go of the holds a queue of `depth` no longer justifies
 * (all: every one, e.g. the session went offline or ended). */
void brk_flow_release(brk_session_t *s, uint64_t depth, bool all);
/* Over the mark for longer than mqtt.queue_full_timeout_ms (tick). */
bool brk_flow_stuck(brk_session_t *s, int64_t now);

/* ---- routing (route.c) ------------------------------------------------- */

/* Route m to the sinks and every matching subscriber and update retained
 * state, as the broker's own message (origin BRK_ORIGIN_BROKER; sink.h has
 * brk_route_from for the others). Any worker thread (w) or NULL for
 * non-worker threads. Returns subscriber count. */
uint32_t brk_route(brk_t *b, brk_worker_t *w, brk_msg_t *m);

/* ---- per-worker block pools (pool.c) ------------------------------------ */

/* Messages and frames come from the allocating worker's free lists; a block
 * freed on another thread goes back through the owner's lock-free stack. */
#define BRK_POOL_CLASSES 5
typedef struct brk_pool {
    struct blk *local[BRK_POOL_CLASSES]; /* owner only */
    uint32_t n_local[BRK_POOL_CLASSES];
    char pad[64]; /* other threads write `remote`: keep it off the owner's line */
    _Atomic(struct blk *) remote[BRK_POOL_CLASSES];
} brk_pool_t;
/* The calling thread allocates from p from now on (a worker, at start). */
void brk_pool_bind(brk_pool_t *p);
/* malloc-like; any thread may free. */
void *brk_pool_alloc(size_t n);
void brk_pool_free(void *ptr);
/* Free the blocks a pool keeps (every thread that used it is done). */
void brk_pool_destroy(brk_pool_t *p);

/* ---- workers (worker.c) ------------------------------------------------ */

enum {
    BRK_INBOX_READY,
    BRK_INBOX_KILL,
    BRK_INBOX_ACK,
    BRK_INBOX_RESUME,
    BRK_INBOX_RELEASE,
    BRK_INBOX_CALL
};
typedef struct brk_inbox_item {
    uint8_t kind;
    uint16_t pid; /* RELEASE */
    union {
        brk_session_t *s;
        brk_conn_t *c;
        struct brk_pending *p;
        struct brk_call *call; /* CALL (owned by the item) */
    } u;
} brk_inbox_item_t;

typedef struct brk_wstats {
    brk_counter_t msgs_in, msgs_out, bytes_in, bytes_out, dropped, conns, bad_packets;
    brk_counter_t flow_held;  /* acks held for a subscriber's queue (one per session) */
    brk_counter_t flow_kicks; /* subscribers disconnected for staying over the mark */
    brk_hist_t ack_lat;       /* PUBLISH handled -> its PUBACK/PUBREC sent (conn.c) */
} brk_wstats_t;

struct brk_worker {
    brk_t *b;
    int index;
    pthread_t thread;
    struct lws_context *ctx;

    pthread_mutex_t inbox_lock;
    brk_inbox_item_t *inbox;
    uint32_t inbox_len, inbox_cap;
    brk_inbox_item_t *inbox_spare;
    uint32_t inbox_spare_cap;
    bool inbox_closed; /* stopped: posts fail (worker.c) */

    brk_conn_t *conns; /* list of live connections */
    uint32_t n_conns;
    brk_matches_t matches; /* scratch for routing */
    brk_wstats_t st;
    int64_t next_sys_ms;
    uint32_t route_writes; /* store writes made by the PUBLISH being handled */
    int64_t next_probe_ms;
    uint64_t next_conn_id;
    int reserve_fd;    /* spare fd for EMFILE */
    void *tick;        /* lws timer, owned by worker.c */
    int epfd;          /* plain TCP connections (tcp.c); itself polled by lws */
    uint8_t *rxbuf;    /* one read's worth, shared by this worker's TCP connections */
    brk_conn_t *dirty; /* TCP connections with output to write this pass */
    brk_pool_t pool;   /* messages and frames allocated on this thread */
    void **listens;    /* one per listener, owned by worker.c */
    /* connections per listener (index: c->listener - listen_base); this
     * worker writes, /metrics sums (worker.c, conn.c) */
    const cfg_listener_t *listen_base;
    brk_counter_t *listen_conns;

    /* flow.c: the publisher whose PUBLISH is being routed, and its token
     * once a session held it */
    brk_conn_t *flow_conn;
    struct brk_flow *flow;

    /* half-closed TCP sockets draining their input, by deadline (tcp.c) */
    brk_conn_t *linger_head, *linger_tail;
};

/* Fails (-1) only without memory: the caller still owns what item holds,
 * and hands it to brk_worker_post_failed unless it can do better. */
__attribute__((warn_unused_result)) int brk_worker_post(brk_worker_t *w, brk_inbox_item_t item);
/* A post that failed: log it (SLUICE-INBOX-NOMEM) and drop the reference
 * the item carried. */
void brk_worker_post_failed(brk_worker_t *w, brk_inbox_item_t item);
/* Inbox items, then the TCP writes: what a worker runs after every event.
 * Only for a worker driven by hand (tests/fuzz/fuzz_conn.c). */
void brk_worker_run_inbox(brk_worker_t *w);

/* Generic cross-worker call: worker_call.h. */
/* The inbox's side (worker.c): run a posted call and free it. */
void brk_call_run(brk_worker_t *w, struct brk_call *call);

/* Plain TCP connections on the worker's epoll (tcp.c). lws keeps TLS,
 * WebSocket and HTTP; this keeps the common case free of lws's per-socket
 * state. Only the owning worker calls these. */
int brk_tcp_init(brk_worker_t *w);
/* Take an accepted socket (closed on failure). */
void brk_tcp_adopt(brk_worker_t *w, int fd, const cfg_listener_t *l);
/* Handle what epoll reports (one batch). */
void brk_tcp_service(brk_worker_t *w);
/* Write every connection on the dirty list, reap the closed ones; true if
 * the list filled up again meanwhile. */
bool brk_tcp_flush(brk_worker_t *w);
/* Keep the registered events in step with paused / closing / out_wait. */
void brk_tcp_update(brk_conn_t *c);
/* A closing connection whose peer would not take its last bytes within
 * BRK_CLOSE_GRACE_MS is dropped (tick). */
void brk_tcp_expire(brk_conn_t *c, int64_t now);
#define BRK_CLOSE_GRACE_MS 3000
/* After its last byte is written, a closed TCP connection is half-closed
 * and its input drained (discarded) until the peer closes, for at most this
 * long or this many bytes: closing a socket with unread input makes Linux
 * send RST, which destroys whatever the peer has not read yet - the
 * CONNACK or DISCONNECT that says why. */
#define BRK_LINGER_MS 2000
#define BRK_LINGER_BYTES (4u << 20)
/* Close every TCP connection (shutdown). */
void brk_tcp_fini(brk_worker_t *w);

/* ---- the broker (broker.c) --------------------------------------------- */

/* Operator limits a client ran into (mqtt.max_*), counted for $SYS and
 * /metrics under brk_limit_names[i]. */
enum {
    BRK_LIMIT_CONNECTIONS,
    BRK_LIMIT_SUBSCRIPTIONS,
    BRK_LIMIT_TOPIC_LEVELS,
    BRK_LIMIT_TOPIC_LENGTH,
    BRK_LIMIT_RETAINED,
    BRK_LIMIT_RETAINED_BYTES,
    BRK_LIMIT_N
};
extern const char *const brk_limit_names[BRK_LIMIT_N];

struct brk {
    /* Swapped whole by a reload (reload.c); every configuration ever
     * current stays alive until the process ends, so a pointer read from
     * here (or into it, like a connection's listener) never dangles. A
     * function that needs several values reads it once. */
    const cfg_t *_Atomic cfg;
    int n_workers;
    brk_worker_t *workers;
    brk_subs_t *subs;
    brk_retain_t *retain;

    pthread_mutex_t reg_lock;     /* the session registry */
    pthread_mutex_t retain_order; /* retained updates: memory and store in one order */
    brk_session_t **reg;          /* open hash by client id */
    uint32_t reg_cap, reg_len;
    uint64_t next_assigned_id;

    int64_t start_ms;
    _Atomic int log_level;   /* a reload changes it */
    struct store *store;     /* NULL: persistence.sync "none" */
    struct bridge *bridge;   /* NULL: no Kafka */
    struct brk_sinks *sinks; /* what every route is offered to (sink.h) */
    bool sync_always;
    _Atomic uint64_t next_msg_id; /* store ids of message bodies */
    _Atomic bool stopping;
    struct brk_auth *auth; /* policies (acl.h); NULL: allow all */
    bool acl_on;           /* some listener has ACL rules: deliveries are checked */
    _Atomic uint64_t limit_hits[BRK_LIMIT_N]; /* any thread: brk_limit_hit */
    struct brk_timer *expiry_heap;            /* offline sessions by deadline (reg_lock) */
    uint32_t expiry_len, expiry_cap;
    bool expiry_primed;                /* the sessions restored at start-up are in the heap */
    _Atomic bool draining;             /* graceful shutdown: accept nothing new (worker.c) */
    brk_counter_t store_failed;        /* writes the store refused */
    _Atomic int64_t store_fail_log_ms; /* rate limit of their log line */
};

brk_t *brk_new(const cfg_t *cfg);
int brk_start(brk_t *b);
/* SIGTERM, first half: stop accepting, close every connection (MQTT 5
 * clients get DISCONNECT 0x8B; wills of sessions that persist are not
 * published), and wait up to timeout_ms for their output to be written.
 * Returns how many connections were still open at the end. brk_stop
 * follows (bridge drained or spooled, store synced). */
uint64_t brk_shutdown(brk_t *b, int64_t timeout_ms);
void brk_stop(brk_t *b);
void brk_free(brk_t *b);
/* Registry (lock held by caller with brk_reg_lock). */
brk_session_t *brk_reg_find(brk_t *b, const char *id, uint16_t len);
void brk_reg_insert(brk_t *b, brk_session_t *s);
void brk_reg_remove(brk_t *b, brk_session_t *s);
/* End a session for good: unsubscribe all, drop its queue, unregister. */
void brk_session_end(brk_t *b, brk_session_t *s);
static inline void brk_limit_hit(brk_t *b, int which)
{
    atomic_fetch_add_explicit(&b->limit_hits[which], 1, memory_order_relaxed);
}
/* One snapshot of the broker's counters, for $SYS and /metrics. */
typedef struct brk_stats {
    uint64_t uptime_s, conns, sessions, subscriptions, retained;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out, dropped, bad_packets;
    uint64_t flow_held, flow_kicks;
    uint64_t limits[BRK_LIMIT_N]; /* refusals per operator limit */
} brk_stats_t;
void brk_stats_collect(brk_t *b, brk_stats_t *out);
/* HTTP listeners: /healthz and /metrics (http.c). */
int brk_http_callback(struct lws *wsi, int reason, void *user, void *in, size_t len);
/* Wait (bounded) for admin API work running off the workers (api_dlq.c);
 * before the store closes. */
void brk_api_stop(void);
/* $SYS and periodic broker duties (worker 0's tick). */
void brk_sys_tick(brk_t *b, brk_worker_t *w, int64_t now);
/* Offline sessions wait in a min-heap keyed by their next deadline (a
 * delayed will or the session expiry), so the tick looks at the top only.
 * An entry holds a session reference; a stale one (the client came back) is
 * dropped or re-armed when it reaches the top. */
typedef struct brk_timer {
    int64_t at; /* brk_now_ms() deadline */
    brk_session_t *s;
} brk_timer_t;
/* s went offline (or start-up restored it offline): arm its deadline.
 * Takes the registry lock, then s->lock. */
void brk_expiry_schedule(brk_t *b, brk_session_t *s);
/* Publish due wills and end expired sessions (registry lock inside). */
void brk_expire_sessions(brk_t *b, int64_t now);
/* Publish a will now: its message expiry starts counting here. client_id
 * and username (NULL if none) name its publisher to the sinks. */
void brk_will_publish(brk_t *b, brk_worker_t *w, brk_msg_t *will, uint32_t expiry, bool has_expiry,
                      const char *client_id, const char *username);

#endif
