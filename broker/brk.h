/*
 * brk.h - the broker (broker.c): its state, lifecycle, session registry,
 * counters and expiry; and, through the headers it includes, every
 * broker-internal type (base.h, msg.h, subs.h, retain.h, session.h,
 * conn.h, persist.h, flow.h, worker.h: one per noun).
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

#include "base.h"
#include "config.h"
#include "conn.h"
#include "flow.h"
#include "msg.h"
#include "mqtt.h"
#include "persist.h"
#include "retain.h"
#include "session.h"
#include "subs.h"
#include "worker.h"

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
/* A routed message as the bridge libraries see it (views into m and o). */
struct bridge_msg;
struct brk_origin;
void brk_kafka_msg(const brk_msg_t *m, const struct brk_origin *o, struct bridge_msg *out);
/* Every bridge counter by name ("produced", "spool/depth", ...). */
void brk_kafka_stats(brk_t *b, void (*fn)(void *arg, const char *name, uint64_t v), void *arg);

/* ---- routing (route.c) ------------------------------------------------- */

/* Route m to the sinks and every matching subscriber and update retained
 * state, as the broker's own message (origin BRK_ORIGIN_BROKER; sink.h has
 * brk_route_from for the others). Any worker thread (w) or NULL for
 * non-worker threads. Returns subscriber count. */
uint32_t brk_route(brk_t *b, brk_worker_t *w, brk_msg_t *m);
/* Store m as the retained message of its topic (an empty payload deletes),
 * in memory and on disk in one order; counted when a limit keeps it out.
 * What brk_route_from does for a retained message; the cluster's reader
 * calls it for <prefix>.retained (w NULL). */
void brk_route_retain(brk_t *b, brk_worker_t *w, brk_msg_t *m);

/* A route barrier, with a cluster only (any thread may route): flip, then
 * poll quiet with the returned half until true; every route that had
 * begun before the flip is then over (its sinks and local deliveries). */
uint32_t brk_route_flip(brk_t *b);
bool brk_route_quiet(brk_t *b, uint32_t half);

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
    char incarnation[24];        /* this run (hex: wall clock ms and pid), in every Kafka record */
    _Atomic int log_level;       /* a reload changes it */
    struct store *store;         /* NULL: persistence.sync "none" */
    struct bridge *bridge;       /* NULL: no Kafka */
    struct brk_cluster *cluster; /* NULL: not in a cluster (cluster.h) */
    struct brk_sinks *sinks;     /* what every route is offered to (sink.h) */
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
    /* routes in progress, counted in two halves by epoch (cluster only):
     * brk_route_quiet tells when every route begun before a flip is over */
    _Atomic uint32_t route_epoch;
    _Atomic uint64_t routing[2];
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
/* A delayed will whose time has come (or whose session ends: ending)
 * is published (session.c). Registry lock held; takes the session lock. */
void brk_session_will(brk_t *b, brk_session_t *s, int64_t now, bool ending);
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
