/*
 * store_read.c - the read side: point gets of messages, sessions and
 * retained messages, the scans recovery and the bridge use (sessions,
 * subscriptions, retained, in-flight, inbound QoS 2, a client's queue, the
 * spool and dead letters), and the last sequence numbers. Any thread may
 * call these; they read through LevelDB under the database's read lock.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

typedef int (*rec_fn)(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);

/* Call fn for up to max (0 = all) records from key `from` on that start
 * with `prefix`. Returns records visited (>= 0), fn's non-zero value, or a
 * store_err_t. */
static int scan_range(store_t *st, const store_buf_t *from, const store_buf_t *prefix, uint32_t max,
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
    rc = store_iter_end(it, rc);
    pthread_rwlock_unlock(&st->dblock);
    return rc != 0 ? rc : (int)n;
}

static int scan_kind(store_t *st, char kind, rec_fn fn, void *ctx)
{
    store_buf_t p;
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
static int scan_after(store_t *st, store_buf_t *prefix, uint64_t after, uint32_t max, rec_fn fn,
                      void *cb, void *arg)
{
    struct scan_ctx sc = {cb, arg, 0};
    if (after == UINT64_MAX) return 0;
    store_buf_t from;
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
    store_buf_t p;
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
    store_buf_t p;
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
static int get_rec(store_t *st, store_buf_t *k, dec_fn dec, void *out, void **mem)
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
    store_buf_t k;
    store_buf_init(&k);
    store_key_num(&k, SK_MSG, id);
    int rc = get_rec(st, &k, dec_msg, out, mem);
    store_buf_free(&k);
    return rc;
}

int store_get_session(store_t *st, const char *client, size_t len, store_session_t *out, void **mem)
{
    if (!store_name_ok(client, len)) return STORE_ERR_INVALID;
    store_buf_t k;
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
    store_buf_t k;
    store_buf_init(&k);
    store_key_name(&k, SK_RETAINED, topic, len);
    int rc = get_rec(st, &k, dec_retained, out, mem);
    store_buf_free(&k);
    return rc;
}

/* ---- highest numbers in use ---- */

/* The last key starting with prefix: its trailing 8 bytes, big-endian. */
static int last_num(store_t *st, store_buf_t *prefix, uint64_t *out)
{
    if (prefix->oom) return STORE_ERR_NOMEM;
    store_buf_t end;
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
    rc = store_iter_end(it, rc);
    pthread_rwlock_unlock(&st->dblock);
    store_buf_free(&end);
    if (rc == STORE_OK) *out = v;
    return rc;
}

static int last_kind(store_t *st, char kind, uint64_t *out)
{
    store_buf_t p;
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
    store_buf_t p;
    store_buf_init(&p);
    store_key_client(&p, SK_QUEUE, client, len);
    int rc = last_num(st, &p, out);
    store_buf_free(&p);
    return rc;
}
