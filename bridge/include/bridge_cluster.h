/*
 * bridge_cluster.h - the Kafka side of the cluster: several sluice nodes
 * that behave as one broker, joined only through four internal topics
 * (docs/CLUSTER.md has their keys, headers and guarantees):
 *   <prefix>.msgs      MQTT-to-MQTT traffic, keyed by MQTT topic
 *   <prefix>.retained  retained messages, keyed by MQTT topic, empty = delete
 *   <prefix>.interest  "<node> <filter>": a node has subscribers on filter
 *   <prefix>.nodes     heartbeats, keyed by node id, empty = left
 *   <prefix>.sessions  client presence and wills, keyed by client id
 *
 * What it is for: the broker offers what other nodes must see
 * (bridge_cluster_publish, _retain, _interest); one reader thread reads
 * every partition of the four topics (assigned, no consumer group: every
 * node reads everything) and hands records back through the hooks.
 * Retained, interest and nodes are read from the beginning, last write
 * wins (a real cluster compacts them; the test cluster does not); the
 * load is complete (BRIDGE_CLUSTER_EV_LOADED, stats.loaded) once each of
 * their partitions has been read to the end it had when we got there. msgs
 * is read from where this node last committed its position (its end on a
 * first start): a node that restarts delivers to its persistent sessions
 * what was published for them while it was away.
 *
 * Ownership: bridge_cluster_new keeps a pointer to cfg (it must outlive the
 * cluster) and copies the hooks. bridge_msg_t views are valid only during
 * the call that receives them.
 *
 * Threads: publish, retain, interest and get_stats from any thread,
 * concurrently, between start and stop; they never block. The hooks run on
 * the reader thread, except on_ack callbacks, which run on the producer's
 * poll thread. new/start/stop/free are for one thread.
 */
#ifndef SLUICE_BRIDGE_CLUSTER_H
#define SLUICE_BRIDGE_CLUSTER_H

#include "bridge.h"

typedef struct bridge_cluster bridge_cluster_t;

/* A record header: name and value (views). */
typedef struct bridge_kv {
    const char *name;
    const void *v;
    size_t len;
} bridge_kv_t;
#define BRIDGE_CLUSTER_MAX_HDRS 16

/* Where a <prefix>.msgs record was read. */
typedef struct bridge_cluster_at {
    int32_t partition;
    int64_t offset;
    bool own; /* this node produced it */
} bridge_cluster_at_t;

typedef struct bridge_cluster_hooks {
    /* A <prefix>.msgs record of this cluster, at its partition and
     * offset: another node's, to route to local subscribers (never back to
     * the cluster), or this node's own (own set: already delivered here;
     * only a session moving in needs to see it). expiry_s: seconds of
     * message expiry left, 0 = none; share: the sluice.share header (the
     * node picked for each shared group), NULL if none. 0: done; <0:
     * retried. */
    int (*deliver)(void *ctx, const bridge_msg_t *m, uint32_t expiry_s, const void *share,
                   size_t share_len, const struct bridge_cluster_at *at);
    /* A <prefix>.retained record of any node (this one's included, so all
     * nodes end on the log's order): set, or delete when payload_len is 0. */
    void (*retained)(void *ctx, const bridge_msg_t *m);
    /* Another node's interest in filter came (on) or went; at_ms: the
     * record's timestamp (when that node wrote it), 0 if unknown. */
    void (*interest)(void *ctx, const char *node, const char *filter, uint16_t len, bool on,
                     int64_t at_ms);
    /* A node's incarnation is seen alive (up), or is gone: silent longer
     * than node_timeout_ms, said goodbye (left), or replaced by a newer
     * incarnation of the same node (a restart). */
    void (*node)(void *ctx, const char *node, const char *inc, bool up, bool left);
    /* A <prefix>.sessions record, this node's included, in log order:
     * key, the producing node and incarnation, headers (at most
     * BRIDGE_CLUSTER_MAX_HDRS, sluice.* bookkeeping ones left out) and
     * value (NULL for a tombstone). */
    void (*session)(void *ctx, const char *key, size_t klen, const char *node, const char *inc,
                    const bridge_kv_t *h, size_t n, const void *val, size_t vlen);
    /* About every 20 ms on the reader thread (timers). */
    void (*tick)(void *ctx);
    /* Block until every delivery handed to `deliver` so far is durable
     * (stored for offline persistent sessions); 0, or <0 if it cannot be.
     * Called about once a second before this node's <prefix>.msgs
     * positions are committed (its consumer group, "sluice-cluster-<id>-
     * <node_id>"), so a restart resumes there: at-least-once. May be NULL
     * (positions are then committed as read). */
    int (*durable)(void *ctx);
    /* One of this node's own interest records read back during the load:
     * the broker compares them with its filters and withdraws the stale. */
    void (*own_interest)(void *ctx, const char *filter, uint16_t len, bool on);
    /* Something an operator must hear of (BRIDGE_CLUSTER_EV_*), with a
     * one-line description. May be NULL. */
    void (*event)(void *ctx, int ev, const char *detail);
    /* The sessions barrier answered its tickets (bridge_cluster_sessions_sync):
     * whoever waits may look now rather than at the next tick. May be NULL. */
    void (*synced)(void *ctx);
    void *ctx;
    /* This run of the node (sluice.inc), copied; NULL: one is made up. */
    const char *incarnation;
} bridge_cluster_hooks_t;

enum {
    BRIDGE_CLUSTER_EV_LOADED = 1, /* the start-up load reached the end */
    BRIDGE_CLUSTER_EV_PARTITIONS, /* an internal topic's partition count is not cluster.partitions
                                   */
    BRIDGE_CLUSTER_EV_NO_TOPIC,   /* an internal topic does not exist (yet): retrying */
    BRIDGE_CLUSTER_EV_LOADING,    /* still loading (every 10 s until loaded) */
};

/* Reads cfg->cluster, cfg->kafka and cfg->node_id. BRIDGE_ERR with a
 * message in err. */
int bridge_cluster_new(const cfg_t *cfg, const bridge_cluster_hooks_t *hooks,
                       bridge_cluster_t **out, char *err, size_t errlen);
/* Start the producer's poll thread and the reader. */
int bridge_cluster_start(bridge_cluster_t *c);

/* MQTT -> cluster. Like bridge_offer: DONE (QoS 0 or no fn), PENDING
 * (fn(arg, status) is called once Kafka has the record with acks=all, or
 * failed), FULL (librdkafka's queue is full: nothing taken), ERR. expiry_s:
 * message expiry left, 0 = none; share: the sluice.share header, NULL if
 * none. */
__attribute__((warn_unused_result)) int
bridge_cluster_publish(bridge_cluster_t *c, const bridge_msg_t *m, uint32_t expiry_s,
                       const void *share, size_t share_len, bridge_ack_fn fn, void *arg);
__attribute__((warn_unused_result)) int bridge_cluster_retain(bridge_cluster_t *c,
                                                              const bridge_msg_t *m,
                                                              uint32_t expiry_s, bridge_ack_fn fn,
                                                              void *arg);
/* A <prefix>.sessions record for key (any thread, in call order per key):
 * headers h[0..n) and value (NULL: tombstone). 0, or BRIDGE_FULL. */
int bridge_cluster_session(bridge_cluster_t *c, const char *key, size_t klen, const bridge_kv_t *h,
                           size_t n, const void *val, size_t vlen);
/* A read barrier on <prefix>.sessions (any thread): the ticket is answered
 * (bridge_cluster_sessions_synced) once the reader has handed to the
 * session hook every record that was in the log when the reader next
 * looked, so a decision taken after it sees what other nodes wrote
 * before the call. */
uint64_t bridge_cluster_sessions_sync(bridge_cluster_t *c);
bool bridge_cluster_sessions_synced(bridge_cluster_t *c, uint64_t ticket);

/* This node's <prefix>.msgs positions: pos[p] is the next offset the
 * reader hands over (-1: none read yet), for p < the returned partition
 * count (at most cap). Exact on the reader thread (its hooks). */
int32_t bridge_cluster_msgs_positions(bridge_cluster_t *c, int64_t *pos, int32_t cap);

/* Like bridge_cluster_msgs_positions, but a partition read nothing from
 * yet says where its reading begins (the committed position, or the end
 * at start), -1 only when that is unknown too: every record this node
 * routes from now on, or produces, is at or past it. Reader thread. */
int32_t bridge_cluster_msgs_floor(bridge_cluster_t *c, int64_t *pos, int32_t cap);

/* Read <prefix>.msgs again (docs/CLUSTER.md, "A node dies"): from[p] for
 * p < n (-1 or past n: the beginning) to the end each partition has when
 * the read begins. fn(arg, m, expiry_s) gets every record of this cluster
 * there, any node's (m->clientid set from mqtt.clientid; expired ones left
 * out; share: its sluice.share header, NULL if none), then done(arg, records, complete) once:
 * complete is false when Kafka did not let the read reach its ends within a minute, or the cluster
 * stopped. Requests waiting together share one read. Both run on the replayer's thread. 0, or -1
 * (done is not called). */
typedef void (*bridge_replay_fn)(void *arg, const bridge_msg_t *m, uint32_t expiry_s,
                                 const void *share, size_t share_len);
typedef void (*bridge_replay_done_fn)(void *arg, uint64_t records, bool complete);
int bridge_cluster_replay(bridge_cluster_t *c, const int64_t *from, int32_t n, bridge_replay_fn fn,
                          bridge_replay_done_fn done, void *arg);

/* Whether the reader also hands this node's own <prefix>.msgs records to
 * the deliver hook (own set); off by default: they cost a parse each. Any
 * thread. */
void bridge_cluster_own_records(bridge_cluster_t *c, bool on);

/* This node's incarnation (hex), for the records that name it. */
const char *bridge_cluster_incarnation(const bridge_cluster_t *c);

/* This node's interest in filter starts (on) or ends. Calls are produced
 * in call order (the caller serialises them); 0, or BRIDGE_FULL. */
int bridge_cluster_interest(bridge_cluster_t *c, const char *filter, uint16_t len, bool on);

/* Flush for at most a few seconds, say goodbye (a tombstone on
 * <prefix>.nodes), join the threads. Idempotent. */
void bridge_cluster_stop(bridge_cluster_t *c);
void bridge_cluster_free(bridge_cluster_t *c);

typedef struct bridge_cluster_stats {
    uint64_t msgs_produced, msgs_acked, msgs_failed;
    uint64_t msgs_consumed, msgs_delivered, msgs_skipped;
    uint64_t retained_produced, retained_applied, interest_produced;
    uint64_t nodes;         /* nodes alive now, this one included */
    uint64_t lag;           /* records behind the end, summed over partitions */
    uint64_t lag_of[5];     /* the same per topic: msgs, retained, interest, nodes, sessions */
    uint64_t kafka_down_ms; /* how long Kafka has been unreachable; 0: reachable */
    bool loaded;
} bridge_cluster_stats_t;
void bridge_cluster_get_stats(bridge_cluster_t *c, bridge_cluster_stats_t *out);

#endif
