/*
 * store.c - opening, closing and repairing the database, errors, and the
 * read side (gets and scans), which any thread may use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store_int.h"

const char *store_strerror(int err)
{
    switch (err) {
    case STORE_OK:
        return "ok";
    case STORE_ERR_IO:
        return "I/O error";
    case STORE_ERR_CORRUPT:
        return "database corrupt or unreadable";
    case STORE_ERR_NOSPACE:
        return "no space left on device";
    case STORE_ERR_BUSY:
        return "store queue full";
    case STORE_ERR_NOMEM:
        return "out of memory";
    case STORE_ERR_NOT_FOUND:
        return "record not found";
    case STORE_ERR_INVALID:
        return "invalid argument";
    case STORE_ERR_BAD_RECORD:
        return "stored record does not decode";
    case STORE_ERR_VERSION:
        return "database format newer than this build";
    case STORE_ERR_LOCKED:
        return "database in use by another process";
    case STORE_ERR_CLOSED:
        return "store is closing";
    }
    return "unknown store error";
}

int store_err_from_leveldb(const char *msg)
{
    if (!msg) return STORE_OK;
    if (strstr(msg, "No space left") || strstr(msg, strerror(ENOSPC))) return STORE_ERR_NOSPACE;
    if (strstr(msg, "Corruption")) return STORE_ERR_CORRUPT;
    if (strstr(msg, "LOCK") && (strstr(msg, "temporarily unavailable") || strstr(msg, "held")))
        return STORE_ERR_LOCKED;
    return STORE_ERR_IO;
}

uint64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void store_opts_default(store_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->sync = STORE_SYNC_ALWAYS;
    o->flush_ms = 100;
    o->queue_max = 4096;
    o->write_buffer_size = 4u << 20;
    o->cache_size = 8u << 20;
    o->compact_after_deletes = 10000;
}

static void fill_opts(store_opts_t *o, const store_opts_t *in)
{
    store_opts_t d;
    store_opts_default(&d);
    *o = in ? *in : d;
    if (!o->flush_ms) o->flush_ms = d.flush_ms;
    if (!o->queue_max) o->queue_max = d.queue_max;
    if (!o->write_buffer_size) o->write_buffer_size = d.write_buffer_size;
    if (!o->cache_size) o->cache_size = d.cache_size;
    if (!o->compact_after_deletes) o->compact_after_deletes = d.compact_after_deletes;
}

static void errmsg(char *buf, size_t len, const char *fmt, const char *path, const char *detail)
{
    if (buf && len) snprintf(buf, len, fmt, path, detail ? detail : "");
}

int store_db_open(store_t *st, char **err)
{
    *err = NULL;
    st->db = leveldb_open(st->dbopts, st->path, err);
    if (*err) {
        st->db = NULL;
        return store_err_from_leveldb(*err);
    }
    return STORE_OK;
}

/* The meta record: written into an empty database, checked otherwise. */
static int check_meta(store_t *st, const char **why)
{
    char *err = NULL;
    size_t vl;
    char *v = leveldb_get(st->db, st->ropts, STORE_META_KEY, strlen(STORE_META_KEY), &vl, &err);
    if (err) {
        *why = "meta record unreadable";
        leveldb_free(err);
        return STORE_ERR_CORRUPT;
    }
    if (v) {
        sread_t r = {(const uint8_t *)v, vl, 0, false};
        uint32_t version = store_read_u32(&r);
        bool bad = r.bad;
        leveldb_free(v);
        *why = bad ? "meta record malformed" : "format version newer than this build";
        if (bad) return STORE_ERR_CORRUPT;
        return version > STORE_FORMAT_VERSION ? STORE_ERR_VERSION : STORE_OK;
    }
    /* New database, or one whose meta record a repair could not save:
     * version 1 is the only format so far, so (re)write it. */
    sbuf_t b;
    store_buf_init(&b);
    store_buf_u32(&b, STORE_FORMAT_VERSION);
    leveldb_put(st->db, st->wsync, STORE_META_KEY, strlen(STORE_META_KEY), (const char *)b.p, b.len,
                &err);
    store_buf_free(&b);
    if (err) {
        int rc = store_err_from_leveldb(err);
        *why = "cannot write meta record";
        leveldb_free(err);
        return rc;
    }
    return STORE_OK;
}

static void store_free_handles(store_t *st)
{
    if (st->db) leveldb_close(st->db);
    if (st->dbopts) leveldb_options_destroy(st->dbopts);
    if (st->cache) leveldb_cache_destroy(st->cache);
    if (st->filter) leveldb_filterpolicy_destroy(st->filter);
    if (st->ropts) leveldb_readoptions_destroy(st->ropts);
    if (st->wsync) leveldb_writeoptions_destroy(st->wsync);
    if (st->wnosync) leveldb_writeoptions_destroy(st->wnosync);
    store_refmap_free(&st->refs);
    pthread_rwlock_destroy(&st->dblock);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->mu);
    free(st->path);
    free(st);
}

int store_open(const char *path, const store_opts_t *opts, store_t **out, char *errbuf,
               size_t errlen)
{
    int rc = STORE_ERR_NOMEM;
    char *err = NULL;
    const char *why = NULL;
    if (!path || !*path || !out) {
        errmsg(errbuf, errlen, "store: no database path given%s%s", "", NULL);
        return STORE_ERR_INVALID;
    }
    store_t *st = calloc(1, sizeof(*st));
    if (!st) goto oom;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cond, NULL);
    pthread_rwlock_init(&st->dblock, NULL);
    fill_opts(&st->opts, opts);
    st->path = strdup(path);
    if (!st->path) goto oom_free;

    st->cache = leveldb_cache_create_lru(st->opts.cache_size);
    st->filter = leveldb_filterpolicy_create_bloom(10);
    st->dbopts = leveldb_options_create();
    leveldb_options_set_create_if_missing(st->dbopts, 1);
    leveldb_options_set_paranoid_checks(st->dbopts, 0);
    leveldb_options_set_write_buffer_size(st->dbopts, st->opts.write_buffer_size);
    leveldb_options_set_cache(st->dbopts, st->cache);
    leveldb_options_set_filter_policy(st->dbopts, st->filter);
    st->ropts = leveldb_readoptions_create();
    leveldb_readoptions_set_verify_checksums(st->ropts, 1);
    st->wsync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(st->wsync, 1);
    st->wnosync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(st->wnosync, 0);

    /* A database that exists but will not open is damaged (a missing
     * manifest, a garbage CURRENT): say so, rather than "I/O error". */
    char cur[4096];
    struct stat sb;
    snprintf(cur, sizeof(cur), "%s/CURRENT", path);
    bool existed = stat(cur, &sb) == 0;

    rc = store_db_open(st, &err);
    if (rc != STORE_OK) {
        if (existed && rc == STORE_ERR_IO && !strstr(err, "Permission denied"))
            rc = STORE_ERR_CORRUPT;
        if (rc == STORE_ERR_CORRUPT)
            errmsg(errbuf, errlen,
                   "store: database at %s is corrupt or unreadable (%s); "
                   "run `sluice --repair` to salvage it",
                   path, err);
        else
            errmsg(errbuf, errlen, "store: cannot open database at %s: %s", path, err);
        leveldb_free(err);
        goto fail;
    }
    rc = check_meta(st, &why);
    if (rc == STORE_OK) {
        rc = store_rebuild_refs(st);
        why = "records unreadable";
    }
    if (rc != STORE_OK) {
        if (rc == STORE_ERR_CORRUPT || rc == STORE_ERR_BAD_RECORD) {
            rc = STORE_ERR_CORRUPT;
            errmsg(errbuf, errlen,
                   "store: database at %s is corrupt or unreadable (%s); "
                   "run `sluice --repair` to salvage it",
                   path, why);
        } else {
            errmsg(errbuf, errlen, "store: cannot open database at %s: %s", path,
                   store_strerror(rc));
        }
        goto fail;
    }
    st->last_sync_ms = store_now_ms();
    if (pthread_create(&st->thread, NULL, store_thread_main, st) != 0) {
        rc = STORE_ERR_NOMEM;
        errmsg(errbuf, errlen, "store: cannot start the store thread for %s%s", path, NULL);
        goto fail;
    }
    st->thread_started = true;
    *out = st;
    return STORE_OK;

oom_free:
    store_free_handles(st);
oom:
    errmsg(errbuf, errlen, "store: out of memory opening %s%s", path, NULL);
    return STORE_ERR_NOMEM;
fail:
    store_free_handles(st);
    return rc;
}

void store_close(store_t *st)
{
    if (!st) return;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->mu);
    if (st->thread_started) pthread_join(st->thread, NULL);
    store_free_handles(st);
}

bool store_is_degraded(const store_t *st)
{
    return atomic_load(&st->degraded);
}

void store_get_stats(const store_t *st, store_stats_t *out)
{
    out->commits = atomic_load(&st->n_commits);
    out->batches = atomic_load(&st->n_batches);
    out->syncs = atomic_load(&st->n_syncs);
    out->compactions = atomic_load(&st->n_compactions);
    out->live_messages = atomic_load(&st->n_live);
    /* committed first: a reader never sees it ahead of submitted */
    out->committed = atomic_load(&st->n_batches);
    out->submitted = atomic_load(&st->n_submitted);
}

void store_free(void *mem)
{
    free(mem);
}

/* ---- reads ---- */

typedef int (*rec_fn)(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);

/* Call fn for up to max (0 = all) records from key `from` on that start
 * with `prefix`. Returns records visited (>= 0), fn's non-zero value, or a
 * store_err_t. */
static int scan_range(store_t *st, const sbuf_t *from, const sbuf_t *prefix, uint32_t max,
                      rec_fn fn, void *ctx)
{
    int rc = 0;
    uint32_t n = 0;
    pthread_rwlock_rdlock(&st->dblock);
    if (!st->db) {
        pthread_rwlock_unlock(&st->dblock);
        return STORE_ERR_IO;
    }
    leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
    for (leveldb_iter_seek(it, (const char *)from->p, from->len); leveldb_iter_valid(it);
         leveldb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &kl);
        if (kl < prefix->len || memcmp(k, prefix->p, prefix->len) != 0) break;
        if (max && n == max) break;
        const uint8_t *v = (const uint8_t *)leveldb_iter_value(it, &vl);
        n++;
        rc = fn(ctx, k, kl, v, vl);
        if (rc != 0) break;
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    if (err) {
        rc = store_err_from_leveldb(err);
        leveldb_free(err);
    }
    leveldb_iter_destroy(it);
    pthread_rwlock_unlock(&st->dblock);
    return rc != 0 ? rc : (int)n;
}

static int scan_kind(store_t *st, char kind, rec_fn fn, void *ctx)
{
    sbuf_t p;
    store_buf_init(&p);
    store_buf_u8(&p, (uint8_t)kind);
    store_buf_u8(&p, '/');
    int rc = scan_range(st, &p, &p, 0, fn, ctx);
    store_buf_free(&p);
    return rc < 0 ? rc : STORE_OK;
}

struct scan_ctx {
    void *cb;
    void *arg;
    int stopped; /* the user's non-zero return, kept apart from counts */
};

#define SCAN_FN(name, type, dec)                                                                   \
    static int name(void *c, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)             \
    {                                                                                              \
        struct scan_ctx *sc = c;                                                                   \
        type rec;                                                                                  \
        if (!dec) return STORE_ERR_BAD_RECORD;                                                     \
        int r = ((int (*)(void *, const type *))sc->cb)(sc->arg, &rec);                            \
        if (r != 0) sc->stopped = r;                                                               \
        return r;                                                                                  \
    }

SCAN_FN(scan_session, store_session_t, store_dec_session(k, kl, v, vl, &rec))
SCAN_FN(scan_sub, store_sub_t, store_dec_sub(k, kl, v, vl, &rec))
SCAN_FN(scan_retained, store_retained_t, store_dec_retained(k, kl, v, vl, &rec))
SCAN_FN(scan_inflight, store_inflight_t, store_dec_inflight(k, kl, v, vl, &rec))
SCAN_FN(scan_inbound, store_inbound_t, store_dec_inbound(k, kl, &rec))
SCAN_FN(scan_blob, store_blob_t, store_dec_blob(k, kl, v, vl, &rec))
SCAN_FN(scan_qref, store_qref_t, store_dec_qref(k, kl, v, vl, &rec))

static int scan_all(store_t *st, char kind, rec_fn fn, void *cb, void *arg)
{
    struct scan_ctx sc = {cb, arg, 0};
    int rc = scan_kind(st, kind, fn, &sc);
    return sc.stopped ? sc.stopped : rc;
}

int store_scan_sessions(store_t *st, store_session_cb cb, void *arg)
{
    return scan_all(st, SK_SESSION, scan_session, (void *)cb, arg);
}

int store_scan_subs(store_t *st, store_sub_cb cb, void *arg)
{
    return scan_all(st, SK_SUB, scan_sub, (void *)cb, arg);
}

int store_scan_retained(store_t *st, store_retained_cb cb, void *arg)
{
    return scan_all(st, SK_RETAINED, scan_retained, (void *)cb, arg);
}

int store_scan_inflight(store_t *st, store_inflight_cb cb, void *arg)
{
    return scan_all(st, SK_OUT, scan_inflight, (void *)cb, arg);
}

int store_scan_inbound_qos2(store_t *st, store_inbound_cb cb, void *arg)
{
    return scan_all(st, SK_IN, scan_inbound, (void *)cb, arg);
}

/* Scan prefix from the key prefix + be64(after + 1). */
static int scan_after(store_t *st, sbuf_t *prefix, uint64_t after, uint32_t max, rec_fn fn,
                      void *cb, void *arg)
{
    struct scan_ctx sc = {cb, arg, 0};
    if (after == UINT64_MAX) return 0;
    sbuf_t from;
    store_buf_init(&from);
    store_buf_raw(&from, prefix->p, prefix->len);
    store_buf_u64(&from, after + 1);
    int rc =
        (from.oom || prefix->oom) ? STORE_ERR_NOMEM : scan_range(st, &from, prefix, max, fn, &sc);
    store_buf_free(&from);
    return sc.stopped ? sc.stopped : rc;
}

static int scan_blobs(store_t *st, char kind, uint64_t after, uint32_t max, store_blob_cb cb,
                      void *arg)
{
    sbuf_t p;
    store_buf_init(&p);
    store_buf_u8(&p, (uint8_t)kind);
    store_buf_u8(&p, '/');
    int rc = scan_after(st, &p, after, max, scan_blob, (void *)cb, arg);
    store_buf_free(&p);
    return rc > 0 ? STORE_OK : rc;
}

int store_scan_spool(store_t *st, uint64_t after_seq, uint32_t max, store_blob_cb cb, void *arg)
{
    return scan_blobs(st, SK_SPOOL, after_seq, max, cb, arg);
}

int store_scan_dead(store_t *st, uint64_t after_seq, uint32_t max, store_blob_cb cb, void *arg)
{
    return scan_blobs(st, SK_DEAD, after_seq, max, cb, arg);
}

int store_queue_scan(store_t *st, const char *client, size_t len, uint64_t after_seq, uint32_t max,
                     store_qref_cb cb, void *arg)
{
    if (!store_name_ok(client, len)) return STORE_ERR_INVALID;
    sbuf_t p;
    store_buf_init(&p);
    store_key_client(&p, SK_QUEUE, client, len);
    int rc = scan_after(st, &p, after_seq, max, scan_qref, (void *)cb, arg);
    store_buf_free(&p);
    return rc;
}

/* ---- point reads ---- */

typedef bool (*dec_fn)(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *out);

/* Get key k; decode from one allocation holding key then value, so the
 * views in *out (client id, topic) live as long as *mem. */
static int get_rec(store_t *st, sbuf_t *k, dec_fn dec, void *out, void **mem)
{
    char *err = NULL;
    size_t vl = 0;
    if (k->oom) return STORE_ERR_NOMEM;
    pthread_rwlock_rdlock(&st->dblock);
    char *v = st->db ? leveldb_get(st->db, st->ropts, (const char *)k->p, k->len, &vl, &err) : NULL;
    bool nodb = !st->db;
    pthread_rwlock_unlock(&st->dblock);
    if (nodb) return STORE_ERR_IO;
    if (err) {
        int rc = store_err_from_leveldb(err);
        leveldb_free(err);
        return rc;
    }
    if (!v) return STORE_ERR_NOT_FOUND;
    uint8_t *m = malloc(k->len + vl + 1);
    if (!m) {
        leveldb_free(v);
        return STORE_ERR_NOMEM;
    }
    memcpy(m, k->p, k->len);
    memcpy(m + k->len, v, vl);
    leveldb_free(v);
    if (!dec(m, k->len, m + k->len, vl, out)) {
        free(m);
        return STORE_ERR_BAD_RECORD;
    }
    *mem = m;
    return STORE_OK;
}

static bool dec_msg(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *out)
{
    return store_dec_msg(k, kl, v, vl, out);
}

static bool dec_session(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *out)
{
    return store_dec_session(k, kl, v, vl, out);
}

static bool dec_retained(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, void *out)
{
    return store_dec_retained(k, kl, v, vl, out);
}

int store_get_msg(store_t *st, uint64_t id, store_msg_t *out, void **mem)
{
    sbuf_t k;
    store_buf_init(&k);
    store_key_num(&k, SK_MSG, id);
    int rc = get_rec(st, &k, dec_msg, out, mem);
    store_buf_free(&k);
    return rc;
}

int store_get_session(store_t *st, const char *client, size_t len, store_session_t *out, void **mem)
{
    if (!store_name_ok(client, len)) return STORE_ERR_INVALID;
    sbuf_t k;
    store_buf_init(&k);
    store_key_name(&k, SK_SESSION, client, len);
    int rc = get_rec(st, &k, dec_session, out, mem);
    store_buf_free(&k);
    return rc;
}

int store_get_retained(store_t *st, const char *topic, size_t len, store_retained_t *out,
                       void **mem)
{
    if (!store_name_ok(topic, len)) return STORE_ERR_INVALID;
    sbuf_t k;
    store_buf_init(&k);
    store_key_name(&k, SK_RETAINED, topic, len);
    int rc = get_rec(st, &k, dec_retained, out, mem);
    store_buf_free(&k);
    return rc;
}

/* ---- highest numbers in use ---- */

/* The last key starting with prefix: its trailing 8 bytes, big-endian. */
static int last_num(store_t *st, sbuf_t *prefix, uint64_t *out)
{
    if (prefix->oom) return STORE_ERR_NOMEM;
    sbuf_t end;
    store_buf_init(&end);
    store_buf_raw(&end, prefix->p, prefix->len);
    end.p[end.len - 1]++; /* prefixes end in '/' or NUL: never 0xff */
    uint64_t v = 0;
    int rc = STORE_OK;
    pthread_rwlock_rdlock(&st->dblock);
    if (!st->db) {
        pthread_rwlock_unlock(&st->dblock);
        store_buf_free(&end);
        return STORE_ERR_IO;
    }
    leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
    leveldb_iter_seek(it, (const char *)end.p, end.len);
    if (leveldb_iter_valid(it))
        leveldb_iter_prev(it);
    else
        leveldb_iter_seek_to_last(it);
    if (leveldb_iter_valid(it)) {
        size_t kl;
        const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &kl);
        if (kl == prefix->len + 8 && memcmp(k, prefix->p, prefix->len) == 0)
            v = store_be64(k + prefix->len);
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    if (err) {
        rc = store_err_from_leveldb(err);
        leveldb_free(err);
    }
    leveldb_iter_destroy(it);
    pthread_rwlock_unlock(&st->dblock);
    store_buf_free(&end);
    if (rc == STORE_OK) *out = v;
    return rc;
}

static int last_kind(store_t *st, char kind, uint64_t *out)
{
    sbuf_t p;
    store_buf_init(&p);
    store_buf_u8(&p, (uint8_t)kind);
    store_buf_u8(&p, '/');
    int rc = last_num(st, &p, out);
    store_buf_free(&p);
    return rc;
}

int store_last_msg_id(store_t *st, uint64_t *out)
{
    return last_kind(st, SK_MSG, out);
}

int store_last_spool_seq(store_t *st, uint64_t *out)
{
    return last_kind(st, SK_SPOOL, out);
}

int store_last_dead_seq(store_t *st, uint64_t *out)
{
    return last_kind(st, SK_DEAD, out);
}

int store_queue_last_seq(store_t *st, const char *client, size_t len, uint64_t *out)
{
    if (!store_name_ok(client, len)) return STORE_ERR_INVALID;
    sbuf_t p;
    store_buf_init(&p);
    store_key_client(&p, SK_QUEUE, client, len);
    int rc = last_num(st, &p, out);
    store_buf_free(&p);
    return rc;
}
