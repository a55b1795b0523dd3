/*
 * store.h - sluice's local state in LevelDB.
 *
 * What it is for: keeping sessions, subscriptions, retained messages, queued
 * and in-flight deliveries, bridge spool and dead letters across restarts.
 * This is the only code in sluice that calls LevelDB; the database sits
 * behind the opaque store_t and typed records (docs/STORAGE.md has the key
 * layout and the value encodings).
 *
 * Ownership: store_open() returns a store_t the caller owns until
 * store_close(). A store_batch_t belongs to whoever built it until
 * store_submit() accepts it (returns STORE_OK); from then on the store owns
 * and frees it. Every mqtt_str_t handed *into* a put function is copied into
 * the batch at once. Every record handed *out* (scan callbacks, store_get_*)
 * is a view valid only during the callback, or until store_free() of the
 * buffer store_get_* returned.
 *
 * Threads: one store thread, started by store_open(), owns every write. Any
 * thread may build batches (a batch itself is not shared: one thread at a
 * time) and call store_submit(), which never waits for the disk: it queues
 * the batch or returns STORE_ERR_BUSY. The store thread group-commits the
 * queue and then calls each batch's done callback ON THE STORE THREAD: the
 * callee must hand off quickly (post to its worker's inbox) and must not call
 * store_close() or wait on another submit from there. Reads (store_get_*,
 * store_scan_*, store_queue_scan, store_last_*) may be called from any
 * thread at any time between open and close; they see committed writes only.
 * store_open(), store_close() and store_repair() are for one thread, once.
 *
 * Message bodies: an m/ body is stored once and referenced by q/ (queued)
 * and o/ (in-flight) records. The store counts references itself, in memory
 * on the store thread, built at open by counting q/ and o/ records: each
 * store_batch_put_queue() and store_batch_put_inflight() takes a reference,
 * each store_batch_del_queue() / store_batch_del_inflight() and each q/ or
 * o/ record removed by store_delete_client_state() drops one. When a body's
 * count reaches zero its m/ record is deleted in the same LevelDB write. So:
 * put a body in the same batch as its first reference (a body without
 * references when its batch is written is deleted), drop each reference
 * once (not again after store_delete_client_state() removed it), and never
 * delete m/ yourself. docs/STORAGE.md has the details.
 *
 * Libraries never log: errors come back as store_err_t, and store_open() /
 * store_repair() also fill a caller buffer with a message for the log.
 */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt.h"

typedef struct store store_t;
typedef struct store_batch store_batch_t;

/* On calls whose failure loses data if ignored: the compiler makes callers
 * look at the result (batch puts, store_submit). */
#define STORE_MUST_CHECK __attribute__((warn_unused_result))

typedef enum store_err {
    STORE_OK = 0,
    STORE_ERR_IO = -1,         /* LevelDB I/O error other than a full disk */
    STORE_ERR_CORRUPT = -2,    /* database unreadable: run `sluice --repair` */
    STORE_ERR_NOSPACE = -3,    /* disk full: store_is_degraded() is now true */
    STORE_ERR_BUSY = -4,       /* submit queue full: push back and retry */
    STORE_ERR_NOMEM = -5,      /* allocation failed */
    STORE_ERR_NOT_FOUND = -6,  /* store_get_*: no such record */
    STORE_ERR_INVALID = -7,    /* bad argument (e.g. a NUL in a client id) */
    STORE_ERR_BAD_RECORD = -8, /* a stored value does not decode */
    STORE_ERR_VERSION = -9,    /* database written by a newer format */
    STORE_ERR_LOCKED = -10,    /* another process has the database open */
    STORE_ERR_CLOSED = -11,    /* submit while store_close() is running */
} store_err_t;

const char *store_strerror(int err);

/* On-disk format version kept in the meta record. */
#define STORE_FORMAT_VERSION 1

typedef enum store_sync {
    STORE_SYNC_ALWAYS = 0, /* fsync every group commit before the callbacks */
    STORE_SYNC_BATCH = 1,  /* write at once, fsync every flush_ms */
    STORE_SYNC_NONE = 2,   /* no store at all: the broker does not open one */
} store_sync_t;

typedef struct store_opts {
    store_sync_t sync;
    uint32_t flush_ms;              /* STORE_SYNC_BATCH period; default 100 */
    uint32_t queue_max;             /* batches waiting to commit; default 4096 */
    size_t write_buffer_size;       /* LevelDB memtable; default 4 MiB */
    size_t cache_size;              /* LevelDB block cache; default 8 MiB */
    uint32_t compact_after_deletes; /* deletes between range compactions; 10000 */
} store_opts_t;

/* Fill *o with the defaults above (sync = STORE_SYNC_ALWAYS). */
void store_opts_default(store_opts_t *o);

/*
 * Open (creating if missing) the database in directory `path`, rebuild the
 * message reference counts, delete bodies nobody references, and start the
 * store thread. On failure *out is untouched and errbuf (if not NULL) holds a
 * one-line message naming the path; a damaged database gives
 * STORE_ERR_CORRUPT and a message suggesting `sluice --repair`.
 */
int store_open(const char *path, const store_opts_t *opts, store_t **out, char *errbuf,
               size_t errlen);

/* Commit everything already submitted (callbacks are called), stop the store
 * thread, close the database, free st. Submits racing with close get
 * STORE_ERR_CLOSED. NULL is a no-op. */
void store_close(store_t *st);

/* Run LevelDB's repair on a closed database (what `sluice --repair` does).
 * Records in damaged files may be lost. Holds the database lock meanwhile:
 * STORE_ERR_LOCKED if another process has the database open. */
int store_repair(const char *path, char *errbuf, size_t errlen);

/* The pid of the process that has the database in `path` open (holds the
 * lock store_open() takes), 0 if none, -1 if it cannot be told. Meant for
 * offline tools: a process that has the database open itself sees 0. */
long store_lock_owner(const char *path);

/* True after a write failed for lack of disk space, until a later write
 * succeeds. The broker should refuse new QoS 1/2 publishes meanwhile.
 * Any thread. */
bool store_is_degraded(const store_t *st);

/* Counters for monitoring and benchmarks; any thread, approximate. */
typedef struct store_stats {
    uint64_t commits;       /* LevelDB writes done by group commits */
    uint64_t batches;       /* batches committed */
    uint64_t syncs;         /* synced writes (fsync) */
    uint64_t compactions;   /* range compactions run */
    uint64_t live_messages; /* m/ bodies with references */
    /* A sequence for waiting on the store: the k-th batch store_submit()
     * accepted is batch number k. `submitted` is the last number handed out;
     * `committed` the last one the store thread has finished, in order, so
     * every batch numbered <= committed has had its LevelDB write (fsynced
     * with STORE_SYNC_ALWAYS; in the OS, so safe from a kill -9 though not yet
     * from a power cut, with STORE_SYNC_BATCH) or its failure reported to its
     * done callback. It advances before those callbacks run. */
    uint64_t submitted;
    uint64_t committed;
} store_stats_t;
void store_get_stats(const store_t *st, store_stats_t *out);

/* ---- records ---------------------------------------------------------- */

/* s/<client>: a session, written at connect and at disconnect. */
typedef struct store_session {
    mqtt_str_t client_id;
    uint8_t version;          /* MQTT_V31, MQTT_V311 or MQTT_V5 */
    uint32_t expiry_interval; /* seconds; 0xFFFFFFFF never expires */
    int64_t disconnect_time;  /* unix seconds; 0 while connected */
    bool has_will;
    uint8_t will_qos;
    bool will_retain;
    uint32_t will_delay; /* seconds */
    mqtt_str_t will_topic;
    mqtt_str_t will_payload;
    mqtt_str_t will_props; /* encoded MQTT 5 will properties, opaque here */
} store_session_t;

/* u/<client>\0<filter>: one subscription. */
typedef struct store_sub {
    mqtt_str_t client_id;
    mqtt_str_t filter;
    uint8_t options; /* the SUBSCRIBE options byte (MQTT_SUBOPT_*) */
    uint32_t sub_id; /* subscription identifier, 0 = none */
} store_sub_t;

/* r/<topic>: a retained message. */
typedef struct store_retained {
    mqtt_str_t topic;
    mqtt_str_t payload;
    mqtt_str_t props; /* encoded MQTT 5 properties, opaque here */
    mqtt_str_t origin_client;
    uint8_t qos;
    int64_t expiry_time; /* absolute unix seconds; 0 = never */
} store_retained_t;

/* m/<id>: a message body shared by queues and in-flight records. */
typedef struct store_msg {
    uint64_t id; /* >= 1, unique among bodies alive; after a restart continue
                  * from store_last_msg_id() + 1 */
    mqtt_str_t topic;
    mqtt_str_t payload;
    mqtt_str_t props; /* encoded MQTT 5 properties, opaque here */
    uint8_t qos;
    bool retain;
    int64_t expiry_time; /* absolute unix seconds; 0 = never */
} store_msg_t;

/* q/<client>\0<seq>: a message waiting in a client's queue. */
typedef struct store_qref {
    mqtt_str_t client_id;
    uint64_t seq; /* per client, from 1, increasing; store_queue_last_seq() */
    uint64_t msg_id;
    uint8_t qos; /* granted QoS of this delivery */
} store_qref_t;

/* o/<client>\0<pid>: an outbound QoS 1/2 delivery awaiting its ack. */
typedef enum store_out_state {
    STORE_OUT_PUBLISH_SENT = 1, /* waiting for PUBACK / PUBREC */
    STORE_OUT_PUBREL_SENT = 2,  /* waiting for PUBCOMP */
} store_out_state_t;

typedef struct store_inflight {
    mqtt_str_t client_id;
    uint16_t packet_id;
    uint64_t msg_id;
    uint8_t qos;
    uint8_t state; /* store_out_state_t */
    bool dup;
} store_inflight_t;

/* i/<client>\0<pid>: an inbound QoS 2 packet id awaiting PUBREL. */
typedef struct store_inbound {
    mqtt_str_t client_id;
    uint16_t packet_id;
} store_inbound_t;

/* k/<seq> bridge spool and d/<seq> dead letters: opaque bytes. Sequence
 * numbers start at 1, so that after_seq = 0 in a scan means "from the start". */
typedef struct store_blob {
    uint64_t seq;
    mqtt_str_t data;
} store_blob_t;

/* ---- write batches ---------------------------------------------------- */

/* A batch is applied atomically, in the order its operations were added.
 * Put/del functions return STORE_OK, STORE_ERR_INVALID (a client id, filter
 * or topic containing NUL, empty, or over 65535 bytes) or STORE_ERR_NOMEM;
 * on error the batch is unchanged. */
store_batch_t *store_batch_new(void);
/* The same from st's spares (batches it committed, emptied, their buffers
 * kept), or a new one: the hot path allocates nothing. Any thread; the
 * batch is the caller's as store_batch_new's is. */
store_batch_t *store_batch_get(store_t *st);
/* Free a batch that was never accepted by store_submit(). NULL is a no-op. */
void store_batch_free(store_batch_t *b);
/* Number of operations added so far. */
uint32_t store_batch_count(const store_batch_t *b);
/* Where a batch ends now, and a return there: the operations added after
 * the mark are dropped (a step of several operations that failed half-way
 * in a batch shared by several steps). */
typedef struct store_batch_mark {
    size_t len, ndeltas, nranges;
    uint32_t ops;
} store_batch_mark_t;
store_batch_mark_t store_batch_mark(const store_batch_t *b);
void store_batch_rewind(store_batch_t *b, store_batch_mark_t m);

STORE_MUST_CHECK int store_batch_put_session(store_batch_t *b, const store_session_t *s);
STORE_MUST_CHECK int store_batch_del_session(store_batch_t *b, const char *client, size_t len);

STORE_MUST_CHECK int store_batch_put_sub(store_batch_t *b, const store_sub_t *s);
STORE_MUST_CHECK int store_batch_del_sub(store_batch_t *b, const char *client, size_t clen,
                                         const char *filter, size_t flen);

STORE_MUST_CHECK int store_batch_put_retained(store_batch_t *b, const store_retained_t *r);
STORE_MUST_CHECK int store_batch_del_retained(store_batch_t *b, const char *topic, size_t len);

/* Body only; its lifetime follows its references (see the top of this file). */
STORE_MUST_CHECK int store_batch_put_msg(store_batch_t *b, const store_msg_t *m);

/* Takes a reference on q->msg_id. */
STORE_MUST_CHECK int store_batch_put_queue(store_batch_t *b, const store_qref_t *q);
/* Drops the reference the record held: pass the msg_id it was put with. */
STORE_MUST_CHECK int store_batch_del_queue(store_batch_t *b, const char *client, size_t len,
                                           uint64_t seq, uint64_t msg_id);

/* New in-flight record: takes a reference on o->msg_id. */
STORE_MUST_CHECK int store_batch_put_inflight(store_batch_t *b, const store_inflight_t *o);
/* Rewrite an existing in-flight record (state or dup changed, same msg_id):
 * references unchanged. */
STORE_MUST_CHECK int store_batch_update_inflight(store_batch_t *b, const store_inflight_t *o);
/* Drops the reference the record held: pass its msg_id. */
STORE_MUST_CHECK int store_batch_del_inflight(store_batch_t *b, const char *client, size_t len,
                                              uint16_t packet_id, uint64_t msg_id);

STORE_MUST_CHECK int store_batch_put_inbound(store_batch_t *b, const char *client, size_t len,
                                             uint16_t packet_id);
STORE_MUST_CHECK int store_batch_del_inbound(store_batch_t *b, const char *client, size_t len,
                                             uint16_t packet_id);

STORE_MUST_CHECK int store_batch_put_spool(store_batch_t *b, uint64_t seq, const void *data,
                                           size_t len);
STORE_MUST_CHECK int store_batch_del_spool(store_batch_t *b, uint64_t seq);
STORE_MUST_CHECK int store_batch_put_dead(store_batch_t *b, uint64_t seq, const void *data,
                                          size_t len);
STORE_MUST_CHECK int store_batch_del_dead(store_batch_t *b, uint64_t seq);

/* What store_delete_client_state() removes. */
enum {
    STORE_CLIENT_SESSION = 1 << 0,  /* s/ */
    STORE_CLIENT_SUBS = 1 << 1,     /* u/ */
    STORE_CLIENT_QUEUE = 1 << 2,    /* q/ (drops message references) */
    STORE_CLIENT_INFLIGHT = 1 << 3, /* o/ (drops message references) */
    STORE_CLIENT_INBOUND = 1 << 4,  /* i/ */
    STORE_CLIENT_ALL = 0x1f,
};

/*
 * Add to b a range delete of the client's records of the kinds in `what`.
 * The range is expanded by the store thread when b is committed, with an
 * iterator over the database as it is at that point (every batch submitted
 * before b already written), so records put by earlier batches still in the
 * queue are deleted too. Exactly this client: "ab" never touches "abc".
 */
STORE_MUST_CHECK int store_delete_client_state(store_batch_t *b, const char *client, size_t len,
                                               unsigned what);

/* ---- submitting ------------------------------------------------------- */

typedef void (*store_done_fn)(void *arg, int err);

/*
 * Queue b for the store thread; never blocks on disk I/O. STORE_OK: the
 * store now owns b, and will call done(arg, err) exactly once on the store
 * thread after b is written (err STORE_OK), or failed (STORE_ERR_NOSPACE,
 * STORE_ERR_IO ...). With STORE_SYNC_ALWAYS the write was fsynced before
 * done runs; with STORE_SYNC_BATCH it is durable within flush_ms. done may
 * be NULL. STORE_ERR_BUSY / STORE_ERR_CLOSED: not queued, caller keeps b.
 */
STORE_MUST_CHECK int store_submit(store_t *st, store_batch_t *b, store_done_fn done, void *arg);

/* ---- reading and recovery (any thread) -------------------------------- */

/* Scan callbacks return 0 to go on; any other value stops the scan, and the
 * scan returns that value. Scans return STORE_OK at the end, or a negative
 * store_err_t (STORE_ERR_BAD_RECORD: a value that does not decode). Records
 * arrive in key order (byte order of client id / topic, then number). */
typedef int (*store_session_cb)(void *arg, const store_session_t *s);
typedef int (*store_sub_cb)(void *arg, const store_sub_t *s);
typedef int (*store_retained_cb)(void *arg, const store_retained_t *r);
typedef int (*store_qref_cb)(void *arg, const store_qref_t *q);
typedef int (*store_inflight_cb)(void *arg, const store_inflight_t *o);
typedef int (*store_inbound_cb)(void *arg, const store_inbound_t *i);
typedef int (*store_blob_cb)(void *arg, const store_blob_t *blob);

int store_scan_sessions(store_t *st, store_session_cb cb, void *arg);
int store_scan_subs(store_t *st, store_sub_cb cb, void *arg);
int store_scan_retained(store_t *st, store_retained_cb cb, void *arg);
int store_scan_inflight(store_t *st, store_inflight_cb cb, void *arg);
int store_scan_inbound_qos2(store_t *st, store_inbound_cb cb, void *arg);
/* Spool and dead letters with seq > after_seq, at most max (0 = all). */
int store_scan_spool(store_t *st, uint64_t after_seq, uint32_t max, store_blob_cb cb, void *arg);
int store_scan_dead(store_t *st, uint64_t after_seq, uint32_t max, store_blob_cb cb, void *arg);

/*
 * Up to max (0 = all) of the client's queued references with seq >
 * after_seq, in seq order, without loading message bodies. Returns the
 * number delivered to cb (>= 0), the callback's non-zero value if it
 * stopped, or a negative store_err_t. Page on with after_seq = last seq.
 */
int store_queue_scan(store_t *st, const char *client, size_t len, uint64_t after_seq, uint32_t max,
                     store_qref_cb cb, void *arg);

/* Load one record. On STORE_OK *out's views point into *mem, which the
 * caller releases with store_free(); on error nothing is written. */
int store_get_msg(store_t *st, uint64_t id, store_msg_t *out, void **mem);
int store_get_session(store_t *st, const char *client, size_t len, store_session_t *out,
                      void **mem);
int store_get_retained(store_t *st, const char *topic, size_t len, store_retained_t *out,
                       void **mem);
void store_free(void *mem);

/* Highest number in use (0 if none), so counters continue after a restart. */
int store_last_msg_id(store_t *st, uint64_t *out);
int store_queue_last_seq(store_t *st, const char *client, size_t len, uint64_t *out);
int store_last_spool_seq(store_t *st, uint64_t *out);
int store_last_dead_seq(store_t *st, uint64_t *out);

/* ---- a growable byte buffer ----
 * Big-endian writers over a buffer that grows by doubling: the store's keys
 * and values, and what its users build for it (the bridge's records and
 * envelopes). The first 128 bytes live in the struct, so a small key costs
 * no allocation; store_buf_adopt starts it on the caller's heap block
 * instead (p can then be taken over: it stays a heap block when it grows).
 * A failed growth sets oom and every later write is a no-op. Not shared
 * between threads; init (or adopt) before use, free after. */
typedef struct store_buf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
    uint8_t inline_[128];
} store_buf_t;

void store_buf_init(store_buf_t *b);
void store_buf_adopt(store_buf_t *b, uint8_t *heap, size_t cap, size_t len);
void store_buf_free(store_buf_t *b);
void store_buf_raw(store_buf_t *b, const void *p, size_t n);
void store_buf_cstr(store_buf_t *b, const char *s); /* the bytes of s, no length */
void store_buf_u8(store_buf_t *b, uint8_t v);
void store_buf_u16(store_buf_t *b, uint16_t v);
void store_buf_u32(store_buf_t *b, uint32_t v);
void store_buf_u64(store_buf_t *b, uint64_t v);

#endif
