/*
 * conn.h - one client connection (conn.c), its acknowledgement ring, and
 * the packet handlers (handle_*.c) it dispatches to.
 *
 * A connection lives on one worker for its whole life and only that worker
 * touches it, except for its atomic `refs` (inbox items hold one each).
 * Close marks, the transport reaps: brk_conn_close is idempotent and never
 * frees.
 */
#ifndef SLUICE_BRK_CONN_H
#define SLUICE_BRK_CONN_H

#include "config.h"
#include "msg.h"
#include "session.h"

struct lws;

/* RAW: plain TCP on the worker's own epoll (tcp.c); the others through lws */
enum { BRK_TRANSPORT_RAW, BRK_TRANSPORT_WS, BRK_TRANSPORT_TLS_RAW };

/* A connection's life, in order (compare with < and >=). What it says of
 * the MQTT side (connected, paused, how it ended) are separate facts. */
typedef enum brk_conn_state {
    BRK_CONN_OPEN,    /* read and written */
    BRK_CONN_CLOSING, /* closed for MQTT: its output goes, then the transport closes */
    BRK_CONN_DEAD,    /* RAW: close now, without writing (peer gone, error) */
    BRK_CONN_GONE,    /* brk_conn_closed ran: the transport no longer has it */
    BRK_CONN_LINGER,  /* RAW: after GONE, half-closed, input drained (tcp.c) */
} brk_conn_state_t;

/* What a transport does for the connection core (NNG's nng_stream ops):
 * plain TCP on the worker's epoll fills one table (tcp.c), libwebsockets
 * (TLS, WebSocket) the other (lws_conn.c). conn.c calls only these. */
typedef struct brk_stream_ops {
    /* Write up to n bytes; returns how many were taken (the rest waits for
     * the next writable event), -1 when the connection must close. */
    long (*write)(brk_conn_t *c, const uint8_t *p, size_t n);
    /* Call brk_conn_write when writable (c->want_write is false here). */
    void (*want_write)(brk_conn_t *c);
    /* Stop (false) or resume reading. */
    void (*rx_flow)(brk_conn_t *c, bool on);
    /* Closed for MQTT: the last output goes, then the transport closes it,
     * within BRK_CLOSE_GRACE_MS even if the peer does not read. */
    void (*close_after_flush)(brk_conn_t *c);
    /* The TLS session (an OpenSSL SSL *), NULL when there is none; NULL
     * for a transport without TLS. */
    void *(*tls)(brk_conn_t *c);
    /* Bytes kept free in front of the output buffer (lws writes its
     * framing there: LWS_PRE); 0 for plain TCP. */
    size_t headroom;
} brk_stream_ops_t;

extern const brk_stream_ops_t brk_tcp_ops; /* tcp.c */
extern const brk_stream_ops_t brk_lws_ops; /* lws_conn.c */

struct brk_conn {
    _Atomic uint32_t refs; /* the transport owns one until close; inbox items one each */
    brk_worker_t *w;
    const brk_stream_ops_t *ops; /* the transport */
    struct lws *wsi;             /* lws transports only (lws_conn.c's) */
    int fd;
    uint8_t transport;
    uint8_t state;          /* brk_conn_state_t: where in its life it is */
    bool out_wait;          /* RAW: the socket was full, EPOLLOUT armed */
    uint32_t ev;            /* RAW: events registered with epoll */
    brk_conn_t *dirty_next; /* RAW: worker's list of connections to write */
    int64_t close_by_ms;    /* RAW: closing, reap at this time even if unwritten */
    uint32_t linger_left;   /* RAW: input bytes still drained before giving up */
    const cfg_listener_t *listener;
    uint64_t id;
    char peer[48];
    int64_t accepted_s; /* wall clock at accept (admin API: connected since) */

    uint8_t *in;
    uint32_t in_len, in_cap;
    uint8_t *out; /* ops->headroom bytes, then out_len bytes of frames */
    uint32_t out_off, out_len, out_cap;
    bool want_write;
    bool paused; /* back-pressure: not read until the tick retries */

    bool connected;            /* CONNECT accepted (stays true while it closes) */
    uint64_t cluster_token;    /* its presence in the cluster, 0 = none (cluster.h) */
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
/* Ack `seq` also waits until the store holds every write submitted so far
 * (persistence.sync "always", or a PUBLISH whose routing wrote). The acks of
 * one worker pass share one barrier, submitted when the pass ends
 * (brk_store_wait_flush), instead of a barrier and a completion each.
 * Without memory the ack is refused, never sent early. c's worker. */
void brk_conn_ack_store(brk_conn_t *c, uint64_t seq);
/* The end of a pass (run_inbox): submit the barrier the pass's acks wait
 * on. True if they completed here instead (no store to take the barrier:
 * refused), which may have made more work for the pass. w's thread. */
bool brk_store_wait_flush(brk_worker_t *w);
/* A completion callback for store/bridge: arg is a brk_pending_t. */
void brk_pending_complete(void *arg, int status);
/* A pending completion of c's ack seq (holds a reference to c); NULL
 * without memory. brk_pending_drop frees one that was never handed on. */
brk_pending_t *brk_pending_new(brk_conn_t *c, uint64_t seq);
void brk_pending_drop(brk_pending_t *p);

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

#endif
