/*
 * msg.h - application messages (msg.c) and the per-worker block pools
 * they come from (pool.c).
 *
 * A brk_msg_t is immutable once routed and refcounted: any thread takes and
 * drops references; its cached frames are built lazily and published by
 * CAS. Blocks are allocated on the calling worker's pool and may be freed
 * on any thread (they go back through the owner's lock-free stack).
 */
#ifndef SLUICE_BRK_MSG_H
#define SLUICE_BRK_MSG_H

#include "base.h"
#include "mqtt.h"

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
    /* made for one session by a cluster replay, which asked no ACL: the
     * session's is asked when it is sent (session_out.c) */
    bool acl_unchecked;
    /* brk_msg_epoch when made (cluster: which msgs positions it is at or
     * past, cluster_ckpt.c); 0 = unknown (from the store, or replayed) */
    uint32_t epoch;
    /* cached frames: [v5][qos][retain]; built lazily, published by CAS */
    _Atomic(brk_frame_t *) frames[2][3][2];
    const char *topic;
    const uint8_t *payload;
    const uint8_t *props;
    uint8_t data[];
} brk_msg_t;

/* Advanced about once a second by a cluster node's reader; 0 otherwise. */
extern _Atomic uint32_t brk_msg_epoch;

brk_msg_t *brk_msg_new(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
                       uint32_t payload_len, uint32_t props_len, uint8_t qos, bool retain);
/* props: the forwardable properties of a decoded PUBLISH or will, as
 * mqtt_props_forward_size / mqtt_props_forward_write encode them.
 * brk_msg_copy is brk_msg_new with that block already encoded elsewhere
 * (the store, a Kafka record) copied in. */
brk_msg_t *brk_msg_copy(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
                        uint32_t payload_len, const uint8_t *props, uint32_t props_len, uint8_t qos,
                        bool retain);
/* Base64 (RFC 4648, padded) through OpenSSL, for JSON carrying bytes (the
 * admin API, session hand-over). decode: false if malformed; *out is the
 * caller's to free. encode: NUL-terminated, NULL without memory. */
bool brk_b64_decode(const char *s, uint8_t **out, uint32_t *len);
char *brk_b64_encode(const uint8_t *p, uint32_t n);
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

#endif
