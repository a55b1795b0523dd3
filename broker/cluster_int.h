/*
 * cluster_int.h - what cluster.c (interest, messages, retained) and
 * cluster_presence.c (connections and wills across nodes) share. Private
 * to those two files.
 */
#ifndef SLUICE_BRK_CLUSTER_INT_H
#define SLUICE_BRK_CLUSTER_INT_H

#include "bridge_cluster.h"
#include "brk.h"
#include "cluster.h"
#include "sink.h"

/* A will of a client connected somewhere in the cluster (reader thread). */
typedef struct pres_will {
    struct pres_will *next;
    char node[72], inc[24]; /* whose connection */
    uint64_t token;
    brk_msg_t *will;
    char *username;
    uint32_t delay, expiry;
    bool has_expiry;
    int64_t fire_at; /* brk_now_ms() once its node is gone, 0 before */
    bool marked;     /* this node sent its will-fired marker */
} pres_will_t;

/* One client id in a presence map. */
typedef struct pres_ent {
    struct pres_ent *next;
    uint32_t hash;
    uint16_t len;
    /* mine: this node's current connection of the id */
    uint64_t token;
    bool seen;          /* its present record was read back */
    pres_will_t *wills; /* wills: pending wills, any node */
    char id[];
} pres_ent_t;

typedef struct pres_map {
    pres_ent_t **v;
    uint32_t cap, n;
} pres_map_t;

typedef struct pres_node {
    char id[72], inc[24]; /* its latest incarnation */
    bool up;
} pres_node_t;

typedef struct brk_presence {
    pthread_mutex_t mu; /* mine (workers and the reader) */
    pres_map_t mine;
    pres_map_t wills;       /* reader thread */
    pres_node_t nodes[256]; /* as the heartbeats tell */
    uint32_t n_nodes;
    uint32_t scheduled; /* wills with fire_at set */
    int64_t last_sweep;
    _Atomic uint64_t next_token, takeovers, wills_fired;
} brk_presence_t;

#define CLUSTER_MAX_NODES 256

typedef struct rnode {
    char id[72];
    brk_session_t *s; /* its stand-in in `remote` (lock and ended only) */
} rnode_t;

struct brk_cluster {
    brk_t *b;
    bridge_cluster_t *bc;
    brk_subs_t *remote;               /* the other nodes' interest */
    brk_subs_t *own;                  /* this node's, as its log had it (read at load) */
    rnode_t nodes[CLUSTER_MAX_NODES]; /* reader thread */
    uint32_t n_nodes;
    brk_session_t *own_s;
    pthread_mutex_t mu; /* announcing, and the order of interest records */
    bool announcing;
    int64_t start_ms;
    _Atomic int64_t remote_filters;
    _Atomic uint64_t interest_failed;
    brk_presence_t pres; /* who is connected where, and their wills */
    /* the other nodes' shared groups (cluster_share.c) */
    pthread_rwlock_t shares_lock;
    struct rshare *shares;
    uint32_t n_shares, cap_shares;
    _Atomic uint32_t share_rr;
};

/* Shared groups cluster-wide (cluster_share.c). */
#define BRK_SHARE_HDR_MAX 1024
/* Another node's group (filter "$share/<g>/<f>") gained (on) or lost its
 * members; reader thread. */
void brk_cluster_share_interest(brk_cluster_t *cl, uint32_t node, const char *full, uint16_t len,
                                bool on);
/* Pick, for each known group matching m, the one node that delivers it
 * (this one included if it has members); groups picked elsewhere go to
 * o->share_skip. Writes the picks as the sluice.share header into hdr and
 * returns its length; *remote is set when some node other than this one
 * was picked (the record must go out). Sink thread. */
size_t brk_cluster_share_pick(brk_cluster_t *cl, const brk_msg_t *m, brk_origin_t *o, uint8_t *hdr,
                              size_t cap, bool *remote);
/* A record's picks: the groups picked for other nodes go to o->share_skip. */
void brk_cluster_share_apply(brk_cluster_t *cl, const uint8_t *hdr, size_t len, brk_origin_t *o);
void brk_cluster_shares_free(brk_cluster_t *cl);

void brk_presence_init(brk_presence_t *p);
void brk_presence_fini(brk_presence_t *p);
/* The reader's hooks (cluster.c passes them on). */
void brk_presence_node(brk_cluster_t *cl, const char *node, const char *inc, bool up, bool left);
void brk_presence_record(brk_cluster_t *cl, const char *key, size_t klen, const char *node,
                         const char *inc, const bridge_kv_t *h, size_t n, const void *val,
                         size_t vlen);
void brk_presence_tick(brk_cluster_t *cl);
/* Loaded: wills of incarnations that are not alive start their delay. */
void brk_presence_loaded(brk_cluster_t *cl);

#endif
