/*
 * sink.h - router sinks, and where a routed message comes from.
 *
 * brk_route_from() hands every routed message to each registered sink (the
 * Kafka bridge today, a cluster link later) before matching local
 * subscribers, together with its origin: a client's PUBLISH, a will, a
 * record injected from Kafka, the admin API or the broker itself ($SYS,
 * recovery). A sink can skip what it must not see again (Kafka skips what
 * came from Kafka: loop prevention), hold the publisher's queued
 * acknowledgement until it has made the message safe, or refuse it.
 *
 * Ownership: a sink (name, functions, ctx) is copied into the broker's list
 * by brk_sink_add; ctx stays the registrant's and must outlive the workers.
 * An origin lives on the caller's stack for one brk_route_from call: its
 * strings and connection are borrowed, never kept by a sink (the message
 * outlives the call in queues and the retained map; the connection may not).
 *
 * Threads: brk_sink_add at start, before the bridge and the workers run (the
 * list is append-only, published with a release store, so a late addition
 * is also safe). offer runs on the routing thread: an I/O worker (w set),
 * or a bridge consumer / the main thread (w NULL); it must not block. Only
 * with o->conn set is it on that connection's worker, where it may call
 * brk_conn_ack_hold(o->conn, o->ack_seq) and later complete the hold through
 * brk_pending_complete (inbox ACK item).
 */
#ifndef SLUICE_SINK_H
#define SLUICE_SINK_H

#include <stdbool.h>
#include <stdint.h>

struct brk;
struct brk_worker;
struct brk_msg;
struct brk_conn;

/* Who published a routed message. */
typedef enum brk_origin_kind {
    BRK_ORIGIN_BROKER,  /* the broker itself ($SYS, recovery): plain brk_route */
    BRK_ORIGIN_CLIENT,  /* a client's PUBLISH */
    BRK_ORIGIN_WILL,    /* a will, at disconnect or after its delay */
    BRK_ORIGIN_KAFKA,   /* a record of a from_kafka rule */
    BRK_ORIGIN_API,     /* the admin API */
    BRK_ORIGIN_CLUSTER, /* another cluster node's PUBLISH, read from <prefix>.msgs */
} brk_origin_kind_t;

/* The route context: borrowed views, valid for one brk_route_from call. */
typedef struct brk_origin {
    brk_origin_kind_t kind;
    const char *client_id; /* NUL-terminated, "" if none */
    const char *username;  /* NULL if none */
    /* A client's QoS 1/2 PUBLISH: the connection whose acknowledgement
     * number ack_seq is queued and may be held; NULL otherwise (nobody
     * to hold or to refuse to). */
    struct brk_conn *conn;
    uint64_t ack_seq;
    /* Shared groups ("$share/<g>/<f>") this node must leave out: another
     * cluster node delivers the message to them (cluster.c). Entries of
     * u16 length + name, on the heap (NULL: none, the usual case; nothing
     * to clear per publish); added with brk_origin_skip by a sink or the
     * cluster's reader, freed by brk_route_from. */
    uint8_t *share_skip;
    uint32_t share_skip_len;
    /* a cluster re-send of a message for shared groups whose picked node
     * lost its last member: delivered to the groups not skipped only */
    bool shares_only;
    /* written by brk_route_from */
    uint32_t holds; /* sinks that hold the acknowledgement */
    uint32_t taken; /* sinks that took it (holding or not) */
    bool refused;   /* a sink refused: nothing was routed */
} brk_origin_t;

enum {
    BRK_SINK_REFUSE = -1, /* only with o->conn or from the API: refuse (0x97 / pause / 503) */
    BRK_SINK_PASS = 0,    /* taken, skipped or not matched: nothing to wait for */
    BRK_SINK_HELD = 1,    /* took one hold on o->conn's ack (brk_conn_ack_hold) */
    BRK_SINK_TAKEN = 2,   /* took it, nothing to wait for (counted in o->taken) */
};

typedef struct brk_sink {
    const char *name;
    /* may write o->share_skip, nothing else of o */
    int (*offer)(void *ctx, struct brk_worker *w, const struct brk_msg *m, brk_origin_t *o);
    void *ctx;
} brk_sink_t;

#define BRK_SINKS_MAX 4
typedef struct brk_sinks brk_sinks_t;
brk_sinks_t *brk_sinks_new(void);
void brk_sinks_free(brk_sinks_t *l);
/* Append a sink; -1 when BRK_SINKS_MAX are registered already. */
int brk_sink_add(struct brk *b, const brk_sink_t *s);
/* Offer m to every sink in registration order; stops at a refusal. Fills
 * o->holds and o->refused. */
void brk_sinks_offer(struct brk *b, struct brk_worker *w, const struct brk_msg *m, brk_origin_t *o);

/* o->share_skip names the group (filter: "$share/<g>/<f>"). */
bool brk_origin_skips(const brk_origin_t *o, const char *filter, uint16_t len);
/* Add a group to o->share_skip; false without memory (then delivered). */
bool brk_origin_skip(brk_origin_t *o, const char *filter, uint16_t len);

/* Route m from origin o: sinks first (a refusal routes nothing, so no
 * subscriber got what the publisher is told was refused), then retained
 * state and local subscribers. Returns the local subscriber count.
 * brk_route(b, w, m) is this with a BRK_ORIGIN_BROKER origin. */
uint32_t brk_route_from(struct brk *b, struct brk_worker *w, struct brk_msg *m, brk_origin_t *o);

#endif
