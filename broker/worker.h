/*
 * worker.h - the I/O workers (worker.c) and their plain TCP transport
 * (tcp.c).
 *
 * W workers, each owning one lws_context and one epoll set; each runs on
 * its own thread and alone touches its connections. Cross-worker hand-off
 * goes through the target worker's inbox (a mutex-guarded vector swapped
 * out by the owner) plus lws_cancel_service().
 */
#ifndef SLUICE_BRK_WORKER_H
#define SLUICE_BRK_WORKER_H

#include <pthread.h>
#include "conn.h"
#include "subs.h"

struct lws_context;

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
    uint32_t route_writes;            /* store writes made by the PUBLISH being handled */
    struct brk_storewait *store_wait; /* acks of this pass waiting for the store (conn_ack.c) */
    int64_t next_probe_ms;
    uint64_t next_conn_id;
    int reserve_fd;          /* spare fd for EMFILE */
    void *tick;              /* lws timer, owned by worker.c */
    int epfd;                /* plain TCP connections (tcp.c); itself polled by lws */
    uint8_t *rxbuf;          /* one read's worth, shared by this worker's TCP connections */
    brk_conn_t *dirty;       /* TCP connections with output to write this pass */
    brk_pool_t pool;         /* messages and frames allocated on this thread */
    void **listens;          /* one per listener, owned by lws_loop.c */
    char (*vhost_names)[24]; /* per listener: lws keeps the pointer (lws_loop.c) */
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

/* The event loop (lws_loop.c): set up w's context, listeners and tick
 * (main thread), run it until b->stopping (w's thread), wake it from any
 * thread (no-op without a context), destroy a context taken out of a
 * worker, free what init made. brk_loop_global_init once before any. */
int brk_loop_init(brk_worker_t *w, char *err, size_t errlen);
/* Each listener's port is free of other processes (main thread, before
 * the first brk_loop_init); -1 with the listener and reason in err. */
int brk_loop_probe(const cfg_t *cfg, char *err, size_t errlen);
void brk_loop_run(brk_worker_t *w);
void brk_loop_wake(brk_worker_t *w);
void brk_loop_destroy(struct lws_context *ctx);
void brk_loop_fini(brk_worker_t *w);
void brk_loop_global_init(void);
/* Every 250 ms on each worker (lws_loop.c's timer): keepalive, idle
 * buffers, paused connections, stuck subscribers; worker 0 also session
 * expiry, the store probe and $SYS. */
void brk_worker_tick(brk_worker_t *w);

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
/* A connection that has not sent its CONNECT within this long of being
 * accepted (TLS handshake included) is closed (tick). lws's own timeouts
 * on handshakes and HTTP upgrades are set to the same (lws_loop.c). */
#define BRK_CONNECT_TIMEOUT_MS 10000
/* After its last byte is written, a closed TCP connection is half-closed
 * and its input drained (discarded) until the peer closes, for at most this
 * long or this many bytes: closing a socket with unread input makes Linux
 * send RST, which destroys whatever the peer has not read yet - the
 * CONNACK or DISCONNECT that says why. */
#define BRK_LINGER_MS 2000
#define BRK_LINGER_BYTES (4u << 20)
/* Close every TCP connection (shutdown). */
void brk_tcp_fini(brk_worker_t *w);

#endif
