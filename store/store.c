/*
 * store.c - opening and closing the database, errors, options and stats.
 * The read side (gets and scans) is store_read.c.
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

int store_iter_end(leveldb_iterator_t *it, int rc)
{
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    leveldb_iter_destroy(it);
    if (!err) return rc;
    rc = store_err_from_leveldb(err);
    leveldb_free(err);
    return rc;
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
    store_buf_t b;
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
    store_spares_free(st);
    pthread_mutex_destroy(&st->spare_mu);
    pthread_rwlock_destroy(&st->dblock);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->mu);
    free(st->path);
    free(st);
}

/* LevelDB's options, cache, filter and read/write options for st. */
static void leveldb_handles(store_t *st)
{
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
    pthread_mutex_init(&st->spare_mu, NULL);
    pthread_cond_init(&st->cond, NULL);
    pthread_rwlock_init(&st->dblock, NULL);
    fill_opts(&st->opts, opts);
    st->path = strdup(path);
    if (!st->path) goto oom_free;

    leveldb_handles(st);
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
