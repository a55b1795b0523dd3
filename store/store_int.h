/*
 * store_int.h - what the store's own files share: key and value encoding,
 * the batch layout, the reference map and the store struct. Not on the
 * public include path (store/include/ is): nothing outside store/ includes
 * it but the fuzz targets, which name store/ on their own include path.
 */
#ifndef SLUICE_STORE_INT_H
#define SLUICE_STORE_INT_H

#include <leveldb/c.h>
#include <pthread.h>
#include <stdatomic.h>

#include "store.h"

/* Record kinds: the first key byte, followed by '/'. */
enum {
    SK_SESSION = 's',
    SK_SUB = 'u',
    SK_RETAINED = 'r',
    SK_MSG = 'm',
    SK_QUEUE = 'q',
    SK_OUT = 'o',
    SK_IN = 'i',
    SK_SPOOL = 'k',
    SK_DEAD = 'd',
};
#define STORE_META_KEY "!format"
#define STORE_NAME_MAX 65535u

/* ---- reader over a stored value ---- */
typedef struct sread {
    const uint8_t *p;
    size_t len, off;
    bool bad;
} sread_t;

/* A read past the end sets r->bad and returns 0. */
uint32_t store_read_u32(sread_t *r);
uint64_t store_be64(const uint8_t *p);
uint16_t store_be16(const uint8_t *p);

/* ---- keys ---- */
bool store_name_ok(const char *s, size_t len);
void store_key_name(store_buf_t *k, char kind, const char *name, size_t len);
/* kind/<client>\0 (the prefix of all that client's records of a kind) */
void store_key_client(store_buf_t *k, char kind, const char *client, size_t len);
void store_key_num(store_buf_t *k, char kind, uint64_t n);

/* ---- values ---- */
void store_enc_session(store_buf_t *v, const store_session_t *s);
void store_enc_sub(store_buf_t *v, const store_sub_t *s);
void store_enc_retained(store_buf_t *v, const store_retained_t *r);
void store_enc_msg(store_buf_t *v, const store_msg_t *m);
void store_enc_qref(store_buf_t *v, const store_qref_t *q);
void store_enc_inflight(store_buf_t *v, const store_inflight_t *o);

/* Decoders take the whole key and value; false if either is malformed. */
bool store_dec_session(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                       store_session_t *out);
bool store_dec_sub(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, store_sub_t *out);
bool store_dec_retained(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                        store_retained_t *out);
bool store_dec_msg(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, store_msg_t *out);
bool store_dec_qref(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, store_qref_t *out);
bool store_dec_inflight(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                        store_inflight_t *out);
bool store_dec_inbound(const uint8_t *k, size_t kl, store_inbound_t *out);
bool store_dec_blob(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, store_blob_t *out);

/* ---- batches ---- */
typedef struct store_delta {
    uint64_t id;
    int32_t delta; /* +1 reference, -1 reference, 0 body put */
} store_delta_t;

/* A batch's operations, in order, in one buffer: each is a header (del:
 * 1 byte, key and value lengths: 4 bytes each, native order) and then the
 * key and value bytes. Our own format rather than a LevelDB write batch, so
 * that the store thread can merge a group's operations by key
 * (store_group.c) before LevelDB sees them. */
#define STORE_OP_HDR 9

/* A range delete keeps batch order: it applies after the operations before
 * offset `at` of the batch's buffer and before those after it. */
typedef struct store_rangedel {
    size_t at;
    char *client;
    size_t len;
    unsigned what;
} store_rangedel_t;

struct store_batch {
    uint8_t *buf;
    size_t len, cap;
    uint32_t ops;
    store_delta_t *deltas;
    size_t ndeltas, capdeltas;
    store_rangedel_t *ranges;
    size_t nranges;
    /* set by store_submit */
    store_done_fn done;
    void *arg;
    struct store_batch *next;
    int result;
};

/* Empty a committed batch for reuse: false (nothing changed) if it is
 * worth freeing instead (buffers grown large). */
bool store_batch_reset(store_batch_t *b);
/* Keep the chain `list` (linked by next, each reset) as spares, up to a
 * bound; free the rest. Store thread. */
void store_spares_put(store_t *st, store_batch_t *list);
void store_spares_free(store_t *st);

/* ---- the group commit buffer (store_group.c; store thread only) ---- */
typedef struct store_gop store_gop_t;
typedef struct store_refmap store_refmap_t;

typedef struct store_group {
    leveldb_writebatch_t *wb; /* what the next write holds besides ops */
    store_delta_t *deltas;    /* reference changes of the batches merged */
    size_t ndeltas, capdeltas;
    store_gop_t *ops; /* the last operation on each key, in first-seen order */
    size_t nops, capops;
    uint32_t *slots; /* open addressing over ops: index + 1, 0 = empty */
    size_t nslots;
    uint32_t deletes, delkinds; /* of what wb holds */
} store_group_t;

void store_group_init(store_group_t *g);
void store_group_fini(store_group_t *g);
/* Merge b's operations and deltas into g: false (g unchanged) without
 * memory. refs decides which bodies were absent before the group. */
bool store_group_add(store_group_t *g, const store_refmap_t *refs, const store_batch_t *b);
/* Put or delete k straight into wb, in order (a batch with range deletes:
 * those are read from the database, so nothing is merged around them). */
void store_group_raw(store_group_t *g, bool del, const uint8_t *k, size_t klen, const uint8_t *v,
                     size_t vlen);
/* The raw operations of b between buffer offsets from and to. */
void store_group_raw_ops(store_group_t *g, const store_batch_t *b, size_t from, size_t to);
/* Delete body key k (its last reference went): dropped with the body's put
 * if the body was put in this group while absent before it. */
void store_group_del_body(store_group_t *g, const uint8_t *k, size_t klen);
/* Move the merged operations into wb, ready to write. */
void store_group_emit(store_group_t *g);
/* Empty everything (after the write, or to drop what was merged). */
void store_group_clear(store_group_t *g);

/* ---- message reference counts (store thread only, after open) ---- */
struct store_refmap {
    uint64_t *ids; /* 0 = empty slot */
    uint32_t *counts;
    size_t cap, n;
};

void store_refmap_free(store_refmap_t *m);
uint32_t store_refmap_get(const store_refmap_t *m, uint64_t id);
/* count 0 removes the entry. false on allocation failure. */
bool store_refmap_set(store_refmap_t *m, uint64_t id, uint32_t count);

/* ---- the store ---- */
struct store {
    char *path;
    store_opts_t opts;
    /* Readers hold dblock shared while they use db; the store thread takes
     * it exclusively only to reopen the database after a full disk. */
    pthread_rwlock_t dblock;
    leveldb_t *db; /* NULL while a reopen after a full disk keeps failing */
    bool need_reopen;
    uint64_t last_reopen_ms;
    uint64_t last_sync_ms;
    leveldb_options_t *dbopts;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *filter;
    leveldb_readoptions_t *ropts;
    leveldb_writeoptions_t *wsync, *wnosync;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    store_batch_t *head, *tail;
    uint32_t queued;
    bool stopping;
    /* committed batches kept for store_batch_get (store_batch_keep): the
     * store thread returns them, any thread takes them, under spare_mu */
    pthread_mutex_t spare_mu;
    store_batch_t *spares;
    uint32_t nspares;
    bool thread_started;

    /* store thread only */
    store_refmap_t refs;
    uint64_t deletes_since_compact;
    unsigned deleted_kinds; /* bitmask over SK_* letters - 'a' */
    bool dirty;             /* STORE_SYNC_BATCH: written since the last sync */

    atomic_bool degraded;
    atomic_uint_fast64_t n_commits, n_batches, n_syncs, n_compactions, n_live;
    atomic_uint_fast64_t n_submitted; /* under mu, with the queue: numbers batches in order */
};

/* Map a LevelDB error string to a store_err_t. */
int store_err_from_leveldb(const char *msg);
/* Destroy an iterator: its error if it had one, else rc. */
int store_iter_end(leveldb_iterator_t *it, int rc);
/* Open st->db with st->dbopts; on failure *err is LevelDB's message to free
 * with leveldb_free(). */
int store_db_open(store_t *st, char **err);
uint64_t store_now_ms(void);
/* store_write.c: recount references and drop orphan bodies (open time). */
int store_rebuild_refs(store_t *st);
void *store_thread_main(void *arg);

#endif
