/*
 * cluster_int.h - what bridge_cluster.c (API, producer) and
 * bridge_cluster_read.c (the reader thread) share. Private to bridge/.
 *
 * Locking: mu guards loaded; the node table belongs to
 * the reader thread; positions and stats are atomics read by any thread.
 */
#ifndef SLUICE_CLUSTER_INT_H
#define SLUICE_CLUSTER_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "bridge_cluster.h"

enum { CT_MSGS, CT_RETAINED, CT_INTEREST, CT_NODES, CT_SESSIONS, CT_N };

/* The record format's version, header sluice.v (docs/CLUSTER.md). */
#define CLUSTER_FORMAT "1"

typedef struct cnode {
    char id[72];
    char inc[24];    /* its incarnation, as last heard */
    int64_t last_ms; /* wall clock of the last heartbeat's timestamp */
    bool up;
} cnode_t;

struct bridge_cluster {
    const cfg_t *cfg;
    bridge_cluster_hooks_t hooks;
    char topic[CT_N][300];
    char inc[24]; /* this run's incarnation, hex */
    rd_kafka_t *prod, *cons;
    pthread_t poll_thr, read_thr;
    bool started;
    atomic_bool stop, stopped;

    pthread_mutex_t mu;
    bool loaded;

    /* partitions of each topic and the next offset read (-1: none yet) */
    _Atomic int32_t parts[CT_N]; /* stored after pos and eof, with release */
    _Atomic int64_t *pos[CT_N];
    int64_t *msgs_start; /* msgs_start(): set before parts[CT_MSGS], then read-only */
    bool *eof[CT_N];     /* read to the end it had at start */
    int64_t *hi0[CT_N];  /* that end, -1 unknown (reader thread) */
    uint32_t eof_left;

    cnode_t *nodes; /* reader thread */
    uint32_t n_nodes, cap_nodes;
    int64_t last_beat, last_tick, last_commit;
    bool moved; /* msgs positions advanced since the last commit */

    /* sessions barrier (bridge_cluster_sessions_sync): tickets asked and
     * answered; the ends being waited for (reader thread) */
    _Atomic uint64_t sync_want, sync_done;
    uint64_t sync_taking;
    int64_t *sync_hi;
    bool sync_active;

    /* the replayer (bridge_cluster_replay.c) */
    pthread_mutex_t rp_mu;
    pthread_cond_t rp_cv;
    struct rjob *rp_queue;
    pthread_t rp_thr;
    bool rp_started;

    atomic_bool own_on; /* hand own msgs records to deliver too (bridge_cluster_own_records) */
    _Atomic int64_t down_since; /* monotonic ms Kafka went unreachable, 0 = reachable */
    atomic_uint_least64_t msgs_produced, msgs_acked, msgs_failed, msgs_consumed, msgs_delivered,
        msgs_skipped, retained_produced, retained_applied, interest_produced, nodes_up;
};

int64_t bridge_cluster_wall_ms(void);
/* Produce one record to topic t (key, value copied; headers h owned by the
 * call, also on failure). fn NULL: nobody waits. */
int bridge_cluster_produce(struct bridge_cluster *c, int t, const void *key, size_t klen,
                           const void *val, size_t vlen, rd_kafka_headers_t *h, bridge_ack_fn fn,
                           void *arg);
rd_kafka_headers_t *bridge_cluster_headers(struct bridge_cluster *c);
void *bridge_cluster_reader(void *arg);
/* A consumer with this node's Kafka settings (no member of `group` ever
 * joins: assign only); auto.offset.reset = reset. NULL with err. */
rd_kafka_t *bridge_cluster_consumer(struct bridge_cluster *c, const char *group, const char *reset,
                                    char *err, size_t errlen);
bool bridge_cluster_hdr(rd_kafka_headers_t *h, const char *name, const void **v, size_t *vl);
uint32_t bridge_cluster_hdr_u32(rd_kafka_headers_t *h, const char *name);
/* A msgs or retained record as a bridge_msg_t (clientid ""); false if
 * unusable. */
bool bridge_cluster_as_msg(rd_kafka_message_t *rm, rd_kafka_headers_t *h, bridge_msg_t *m);
/* A msgs record's expiry left, counted from its timestamp; false if it
 * expired already. */
bool bridge_cluster_expiry(rd_kafka_message_t *rm, rd_kafka_headers_t *h, uint32_t *left);
/* The replayer (bridge_cluster_replay.c): joined and freed at stop. */
void bridge_cluster_replay_stop(struct bridge_cluster *c);
int bridge_cluster_reader_new(struct bridge_cluster *c, char *err, size_t errlen);
void bridge_cluster_loaded(struct bridge_cluster *c);

#endif
