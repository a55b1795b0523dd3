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
    int64_t gone_at; /* brk_now_ms() its connection ended, the will held for its delay; 0 */
    bool marked;     /* this node sent its will-fired marker */
} pres_will_t;

/* One client id in a presence map. */
typedef struct pres_ent {
    struct pres_ent *next;
    uint32_t hash;
    uint16_t len;
    /* mine: this node's current connection of the id; claims: the
     * connection waiting for its session (cluster_session.c) */
    uint64_t token;
    bool seen;             /* mine: its present record was read back; claims: the session came */
    int64_t until;         /* claims: brk_now_ms() deadline of the phase */
    struct brk_conn *conn; /* claims: the paused CONNECT's connection (a reference) */
    uint64_t ticket;       /* claims: its sessions barrier */
    uint8_t phase;         /* claims: CLAIM_SYNC, CLAIM_WAIT */
    bool woken;            /* claims: its worker was told to try again */
    pres_will_t *wills;    /* wills: pending wills, any node */
    /* owners: the node holding the client's session (index into names),
     * and whether it outlives the connection (a session to claim) */
    uint16_t owner;
    bool kept;
    int64_t gone_at; /* owners: wall ms its connection ended, 0 = connected */
    char *ck;        /* ckpts: the latest checkpoint's JSON (owner: its node) */
    char id[];
} pres_ent_t;

typedef struct pres_map {
    pres_ent_t **v;
    uint32_t cap, n;
} pres_map_t;

typedef struct pres_node {
    char id[72], inc[24]; /* its latest incarnation */
    bool up;
    int64_t down_at; /* wall ms it was seen down */
} pres_node_t;

/* A session this node must hand over (to a claim) or end (its client is
 * on another node now), once its connection here has closed. Reader. */
typedef struct pres_job {
    char *id;
    uint16_t len;
    bool handover;
    char to[72], to_inc[24]; /* handover: the claiming connection */
    uint64_t to_token;
    int64_t until;
    bool kicked;
    uint8_t stage; /* JOB_NEW, JOB_BARRIER (waits for route barrier `bar`) */
    uint64_t bar;
} pres_job_t;
enum { JOB_NEW, JOB_BARRIER };

/* A moved session's filters kept subscribed here a while by a session of
 * nobody (deliveries to it are dropped): this node's interest does not
 * drop before the new node's is known everywhere. Reader thread. */
typedef struct pres_ghost {
    brk_session_t *s;
    int64_t until;
} pres_ghost_t;

/* A <prefix>.msgs record read while a claim was open: a session moving in
 * gets those the old node had not read when it handed the session over
 * (cluster_session_in.c). Reader thread. */
typedef struct pres_rec {
    int32_t part;
    int64_t off;
    int64_t at; /* brk_now_ms() it was read */
    brk_msg_t *m;
} pres_rec_t;
#define PRES_BUF_MAX 200000
#define BRK_CLUSTER_MAX_PARTS 1024

#define PRES_MAX_NAMES 1024

typedef struct brk_presence {
    pthread_mutex_t mu; /* mine, claims, owners, names, nodes (workers and the reader) */
    pres_map_t mine;
    pres_map_t claims; /* this node's CONNECTs waiting for their session */
    pres_map_t owners; /* where each client's session is, as the log says */
    pres_map_t ckpts;  /* each client's latest session checkpoint (cluster_ckpt.c) */
    char (*names)[72]; /* node ids the owners map names */
    uint32_t n_names;
    pres_job_t *jobs; /* reader thread */
    uint32_t n_jobs, cap_jobs;
    pres_ghost_t *ghosts; /* reader thread */
    uint32_t n_ghosts, cap_ghosts;
    _Atomic uint32_t claims_active; /* entries of claims */
    pres_rec_t *buf;                /* reader thread, while claims are open */
    uint32_t buf_n, buf_cap;
    int64_t *buf_start; /* per msgs partition: the first offset buffered (-1: unknown) */
    int32_t buf_parts;
    bool buf_on, buf_full;
    int64_t buf_full_ms, buf_trim_ms; /* the last overflow; the last trim */
    _Atomic uint64_t replayed, gaps;
    uint64_t bar_started, bar_done; /* route barriers (brk_route_flip), reader thread */
    uint32_t bar_half;
    _Atomic uint64_t moved_in, moved_out, claims_failed;
    _Atomic uint64_t ck_written, revived; /* checkpoints written; sessions revived here */
    _Atomic uint64_t sf_written;          /* shared-groups floors written */
    pres_map_t wills;                     /* reader thread */
    pres_node_t nodes[256];               /* as the heartbeats tell */
    uint32_t n_nodes;
    uint32_t scheduled; /* wills with fire_at set */
    int64_t last_sweep;
    _Atomic uint64_t next_token, takeovers, wills_fired;
    _Atomic int64_t wills_known; /* entries of wills */
    _Atomic int64_t wills_held;  /* of them, held for their delay after their connection ended */
} brk_presence_t;

#define CLUSTER_MAX_NODES 256

typedef struct rnode {
    char id[72];
    brk_session_t *s;  /* its stand-in in `remote` (lock and ended only) */
    _Atomic bool down; /* seen down (heartbeats): not picked for shared groups */
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
    _Atomic bool loaded, load_late; /* load_late: load_timeout_ms passed first */
    _Atomic int64_t remote_filters;
    _Atomic uint64_t interest_failed;
    brk_presence_t pres; /* who is connected where, and their wills */
    /* the other nodes' shared groups (cluster_share.c) */
    pthread_rwlock_t shares_lock;
    struct rshare *shares;
    uint32_t n_shares, cap_shares;
    _Atomic uint32_t share_rr;
    _Atomic uint32_t share_members; /* nodes over all groups: 0 = nothing to pick */
    _Atomic uint64_t share_resent;  /* messages sent again for groups that lost their members */
    _Atomic uint32_t nodes_down;    /* nodes seen down (rnode_t.down) */
    struct brk_ckpt *ck;            /* epochs and checkpoints (cluster_ckpt.c), reader thread */
    struct brk_recent *recent;      /* cluster_recent.c */
    _Atomic uint64_t recent_sent;   /* kept messages sent for an interest that came late */
};

/* Local messages that went to no other node, kept a moment for an
 * interest that arrives just after (cluster_recent.c). lock/keep/unlock
 * on routing threads around the sink's decision; interest on the reader:
 * add(cl, node, f, len) (true: new to that node) under every shard's
 * lock, then the kept messages since at_ms that match go to msgs. */
typedef struct brk_recent brk_recent_t;
typedef struct recent_shard recent_shard_t;
brk_recent_t *brk_recent_new(void);
void brk_recent_free(brk_recent_t *r);
recent_shard_t *brk_recent_lock(brk_recent_t *r, const struct brk_worker *w);
void brk_recent_keep(recent_shard_t *sh, brk_msg_t *m);
void brk_recent_unlock(recent_shard_t *sh);
void brk_recent_interest(brk_cluster_t *cl, const char *node, const char *f, uint16_t len,
                         int64_t at_ms,
                         bool (*add)(brk_cluster_t *, const char *, const char *, uint16_t));

/* m once more to <prefix>.msgs, without its retain flag (its retained
 * copy went its own way) and with nobody waiting: a re-send for shared
 * groups (header share), or a kept message for an interest that came
 * late. The bridge's code. */
int brk_cluster_send_again(brk_cluster_t *cl, const brk_msg_t *m, uint32_t expiry_s,
                           const uint8_t *share, size_t share_len);

/* node's interest in filter, as if its record had been read (reader
 * thread): a session moving there is routed to it at once. */
void brk_cluster_remote_add(brk_cluster_t *cl, const char *node, const char *f, uint16_t len);

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
/* m's groups (header hdr) picked for nodes that are down now: picked
 * again among the living, delivered here for the groups picked here and
 * sent on for the others; false if none was. The duty node's (reader or
 * replayer thread). */
bool brk_cluster_share_dead(brk_cluster_t *cl, const brk_msg_t *m, uint32_t expiry_s,
                            const uint8_t *hdr, size_t len);
/* After m (a record with share header hdr) was routed here: groups picked
 * for this node with no member here any more get it through another node
 * (reader thread). */
void brk_cluster_share_resend(brk_cluster_t *cl, const brk_msg_t *m, uint32_t expiry_s,
                              const uint8_t *hdr, size_t len);

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
/* Produce a <prefix>.sessions record; 0 or BRIDGE_FULL (logged). */
int brk_presence_produce(brk_cluster_t *cl, const char *id, size_t len, const bridge_kv_t *h,
                         size_t n, const void *val, size_t vlen);
bool brk_presence_kv_is(const bridge_kv_t *h, size_t n, const char *name, const char *want);
const bridge_kv_t *brk_presence_kv(const bridge_kv_t *h, size_t n, const char *name);
uint64_t brk_presence_kv_u64(const bridge_kv_t *h, size_t n, const char *name);
bool brk_presence_kv_str(const bridge_kv_t *h, size_t n, const char *name, char *dst, size_t cap);
/* Close s's connection here, if any (0x8E: the client is elsewhere); its
 * worker reads what the client already sent first. reg_lock and s->lock
 * held. */
void brk_presence_kick(brk_cluster_t *cl, brk_session_t *s);
/* Copies of s's filters (s->lock held): an array of n, NULL if none or
 * without memory; brk_session_filters_free frees it. */
brk_subrec_t *brk_session_filters(const brk_session_t *s, uint32_t *n);
void brk_session_filters_free(brk_subrec_t *f, uint32_t n);
/* Any incarnation of node is alive, or not heard of yet (p->mu held, or
 * the reader thread). */
bool brk_presence_up(const brk_presence_t *p, const char *node);
/* The client id maps (p->mu held for mine, claims and owners). */
pres_ent_t *brk_presence_find(pres_map_t *m, const char *id, size_t len, bool create);
void brk_presence_drop(pres_map_t *m, pres_ent_t *e);
/* owners: id's session is on node (kept: it outlives the connection);
 * takes p->mu. brk_presence_owner: the node, NULL if unknown (p->mu held). */
void brk_presence_owner_set(brk_presence_t *p, const char *id, size_t len, const char *node,
                            bool kept);
const char *brk_presence_owner(brk_presence_t *p, const char *id, size_t len, bool *kept);
/* Since when (wall ms) id's session on node has had no connection: its
 * connection's end, or node's death; 0 if not known (p->mu held). */
int64_t brk_presence_offline_since(brk_presence_t *p, const char *id, size_t len, const char *node);
/* node's index in p->names, added if new; -1 if full (p->mu held). */
int brk_presence_name(brk_presence_t *p, const char *node);

/* Sessions that move (cluster_session.c), reader thread: a claim for a
 * session this node holds, a hand-over record, another node's connection
 * of a client (this node's copy of its session ends), the timers. */
void brk_session_claimed(brk_cluster_t *cl, const char *id, size_t len, const char *node,
                         const char *inc, const bridge_kv_t *h, size_t n);
void brk_session_state(brk_cluster_t *cl, const char *id, size_t len, const char *node,
                       const bridge_kv_t *h, size_t n, const void *val, size_t vlen);
void brk_session_elsewhere(brk_cluster_t *cl, const char *id, size_t len, bool kicked);
void brk_session_jobs_tick(brk_cluster_t *cl);
/* Claims whose barrier passed or whose session came: their CONNECTs are
 * tried again now (reader tick; brk_session_claim_wake with pres.mu held). */
void brk_session_claims_tick(brk_cluster_t *cl);
void brk_session_claim_wake(pres_ent_t *e);
enum { CLAIM_SYNC, CLAIM_WAIT };
void brk_session_jobs_free(brk_cluster_t *cl);
/* A msgs record read (reader thread): kept while claims are open. */
void brk_session_buffer(brk_cluster_t *cl, brk_msg_t *m, const bridge_cluster_at_t *at);
static inline bool brk_session_buffering(brk_cluster_t *cl)
{
    return cl->pres.buf_on || atomic_load_explicit(&cl->pres.claims_active, memory_order_relaxed);
}
void brk_session_buffer_free(brk_cluster_t *cl);

/* Building a session from JSON (cluster_session_in.c; any thread, no
 * lock held): the session of id here, the existing one or a new one made
 * from j's "expiry" and "version" (none if expiry is 0); a reference, or
 * NULL. Its subscriptions from a "subs" array: recorded, indexed, stored;
 * returns the entries dropped as malformed. */
struct cJSON;
brk_session_t *brk_session_for(brk_cluster_t *cl, const char *id, size_t len,
                               const struct cJSON *j);
uint32_t brk_session_import_subs(brk_session_t *s, const struct cJSON *subs);
/* The QoS, retain-as-published and subscription ids filters f give m
 * (overlapping ones: the highest QoS, every id; a no-local one none when
 * m's publisher `from` is the client id/len); false if none matches.
 * Shared subscriptions take no part: their group decides. */
#define BRK_SESSION_MAX_IDS 32
bool brk_session_match(const brk_subrec_t *f, uint32_t n, const brk_msg_t *m, const char *from,
                       const char *id, size_t len, uint8_t *qos, bool *rap, uint32_t *ids,
                       uint32_t *n_ids);
/* s's subscriptions as a "subs" array of o (s->lock held); *bytes grows
 * by about their size. */
void brk_session_subs_json(struct cJSON *o, const brk_session_t *s, size_t *bytes);

/* Sessions that outlive their node (cluster_ckpt.c). Reader thread:
 * a ckpt record; the tick (epochs, checkpoints). Any thread: a session
 * ends (its checkpoint goes); a CONNECT with clean start 0 finds its
 * session on a dead node (revived from its checkpoint: 1, the CONNECT
 * goes on with it; 0: no checkpoint). */
void brk_ckpt_record(brk_cluster_t *cl, const char *key, size_t klen, const char *node,
                     const bridge_kv_t *h, size_t n, const void *val, size_t vlen);
void brk_ckpt_tick(brk_cluster_t *cl);
void brk_ckpt_ended(brk_cluster_t *cl, const char *id, size_t len);
int brk_ckpt_revive(brk_cluster_t *cl, const char *id, size_t len, const char *node);
void brk_ckpt_free(brk_cluster_t *cl);
/* The checkpoint format's version ("v"); a "pos" array of msgs offsets
 * (a checkpoint's floor, or a hand-over's positions; -1 unknown) into
 * pos, how many (none: from the beginning). */
#define BRK_CKPT_VERSION 1
int32_t brk_ckpt_pos_of(const struct cJSON *j, int64_t *pos);
/* Made at prepare (NULL without memory); brk_ckpt_soon: s's subscriptions
 * changed, its checkpoint goes at the reader's next tick (any thread). */
struct brk_ckpt *brk_ckpt_new(void);
void brk_ckpt_soon(brk_cluster_t *cl, brk_session_t *s);
/* Shared groups of a node that dies (reader thread): a node's
 * share-floor record; a node seen down while this one is on duty (the
 * messages picked for it since its floor are picked again). */
void brk_ckpt_share_floor(brk_cluster_t *cl, const char *node, const void *val, size_t vlen);
void brk_ckpt_node_down(brk_cluster_t *cl, const char *node);
/* The living node with the lowest id (this one?) is on duty for the
 * dead's wills and shared groups (reader thread). */
bool brk_presence_on_duty(const brk_cluster_t *cl);
/* Records older than any claim can need go (reader tick). */
void brk_session_buffer_trim(brk_cluster_t *cl);

#endif
