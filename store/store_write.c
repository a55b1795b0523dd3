/*
 * store_write.c - the write side: the submit queue, the store thread and its
 * group commit, message reference counting, periodic compaction, and the
 * recovery from a full disk.
 *
 * Everything below store_submit() runs on the store thread, which alone
 * writes to the database and alone touches st->refs.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- reference map: open addressing, linear probing, id 0 = empty ---- */

static size_t ref_slot(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

void store_refmap_free(store_refmap_t *m)
{
    free(m->ids);
    free(m->counts);
    memset(m, 0, sizeof(*m));
}

uint32_t store_refmap_get(const store_refmap_t *m, uint64_t id)
{
    if (!m->cap) return 0;
    for (size_t i = ref_slot(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->ids[i] == id) return m->counts[i];
        if (m->ids[i] == 0) return 0;
    }
}

static bool ref_grow(store_refmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *ids = calloc(cap, sizeof(*ids));
    uint32_t *counts = calloc(cap, sizeof(*counts));
    if (!ids || !counts) {
        free(ids);
        free(counts);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->ids[i]) continue;
        size_t j = ref_slot(m->ids[i], cap);
        while (ids[j])
            j = (j + 1) & (cap - 1);
        ids[j] = m->ids[i];
        counts[j] = m->counts[i];
    }
    free(m->ids);
    free(m->counts);
    m->ids = ids;
    m->counts = counts;
    m->cap = cap;
    return true;
}

bool store_refmap_set(store_refmap_t *m, uint64_t id, uint32_t count)
{
    if (count && (m->n + 1) * 4 > m->cap * 3 && !ref_grow(m)) return false;
    if (!m->cap) return true;
    size_t i = ref_slot(id, m->cap);
    while (m->ids[i] && m->ids[i] != id)
        i = (i + 1) & (m->cap - 1);
    if (count) {
        if (!m->ids[i]) m->n++;
        m->ids[i] = id;
        m->counts[i] = count;
        return true;
    }
    if (!m->ids[i]) return true;
    /* Backward-shift delete keeps probe chains whole without tombstones. */
    m->n--;
    size_t hole = i;
    for (size_t j = (i + 1) & (m->cap - 1); m->ids[j]; j = (j + 1) & (m->cap - 1)) {
        size_t home = ref_slot(m->ids[j], m->cap);
        bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->ids[hole] = m->ids[j];
            m->counts[hole] = m->counts[j];
            hole = j;
        }
    }
    m->ids[hole] = 0;
    m->counts[hole] = 0;
    return true;
}

/* ---- rebuilding references at open ---- */

typedef struct idvec {
    uint64_t *v;
    size_t n, cap;
} idvec_t;

static bool idvec_push(idvec_t *a, uint64_t id)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        uint64_t *v = realloc(a->v, cap * sizeof(*v));
        if (!v) return false;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Read the whole database once: this is also where a damaged table shows,
 * so that store_open() fails rather than a later scan. Count references from
 * q/ and o/ records; bodies with none are deleted (a crash cannot leave
 * them, since a body and its references change in one write, but an older
 * build or a repair could).
 */
int store_rebuild_refs(store_t *st)
{
    int rc = STORE_OK;
    idvec_t refs = {0}, bodies = {0};
    leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)leveldb_iter_value(it, &vl);
        bool ok = true;
        if (kl == 10 && k[0] == SK_MSG && k[1] == '/') {
            ok = idvec_push(&bodies, store_be64(k + 2));
        } else if (kl > 2 && k[0] == SK_QUEUE && k[1] == '/') {
            store_qref_t q;
            if (!store_dec_qref(k, kl, v, vl, &q)) {
                rc = STORE_ERR_BAD_RECORD;
                break;
            }
            ok = idvec_push(&refs, q.msg_id);
        } else if (kl > 2 && k[0] == SK_OUT && k[1] == '/') {
            store_inflight_t o;
            if (!store_dec_inflight(k, kl, v, vl, &o)) {
                rc = STORE_ERR_BAD_RECORD;
                break;
            }
            ok = idvec_push(&refs, o.msg_id);
        }
        if (!ok) {
            rc = STORE_ERR_NOMEM;
            break;
        }
    }
    rc = store_iter_end(it, rc);
    if (rc != STORE_OK) goto out;

    if (refs.n) qsort(refs.v, refs.n, sizeof(uint64_t), cmp_u64);
    leveldb_writebatch_t *wb = leveldb_writebatch_create();
    size_t r = 0, orphans = 0;
    for (size_t i = 0; i < bodies.n && rc == STORE_OK; i++) {
        uint64_t id = bodies.v[i];
        while (r < refs.n && refs.v[r] < id)
            r++; /* references to a missing body: store_get_msg() says so */
        uint32_t n = 0;
        while (r < refs.n && refs.v[r] == id) {
            n++;
            r++;
        }
        if (n == 0) {
            store_buf_t k;
            store_buf_init(&k);
            store_key_num(&k, SK_MSG, id);
            leveldb_writebatch_delete(wb, (const char *)k.p, k.len);
            store_buf_free(&k);
            orphans++;
        } else if (!store_refmap_set(&st->refs, id, n)) {
            rc = STORE_ERR_NOMEM;
        }
    }
    if (rc == STORE_OK && orphans) {
        char *err = NULL;
        leveldb_write(st->db, st->wsync, wb, &err);
        if (err) {
            rc = store_err_from_leveldb(err);
            leveldb_free(err);
        }
    }
    leveldb_writebatch_destroy(wb);
    atomic_store(&st->n_live, st->refs.n);
out:
    free(refs.v);
    free(bodies.v);
    return rc;
}

/* ---- submit ---- */

int store_submit(store_t *st, store_batch_t *b, store_done_fn done, void *arg)
{
    if (!st || !b) return STORE_ERR_INVALID;
    pthread_mutex_lock(&st->mu);
    if (st->stopping) {
        pthread_mutex_unlock(&st->mu);
        return STORE_ERR_CLOSED;
    }
    if (st->queued >= st->opts.queue_max) {
        pthread_mutex_unlock(&st->mu);
        return STORE_ERR_BUSY;
    }
    b->done = done;
    b->arg = arg;
    b->next = NULL;
    b->result = STORE_OK;
    if (st->tail)
        st->tail->next = b;
    else
        st->head = b;
    st->tail = b;
    atomic_fetch_add(&st->n_submitted, 1);
    /* The thread only sleeps on an empty queue, so only then wake it. */
    if (st->queued++ == 0) pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->mu);
    return STORE_OK;
}

/* ---- group commit ---- */

/* One more reference change, for a range delete's q/ and o/ records. */
static bool group_delta(store_group_t *g, uint64_t id, int32_t d)
{
    if (g->ndeltas == g->capdeltas) {
        size_t cap = g->capdeltas ? g->capdeltas * 2 : 256;
        store_delta_t *v = realloc(g->deltas, cap * sizeof(*v));
        if (!v) return false;
        g->deltas = v;
        g->capdeltas = cap;
    }
    g->deltas[g->ndeltas].id = id;
    g->deltas[g->ndeltas].delta = d;
    g->ndeltas++;
    return true;
}

static int cmp_delta(const void *a, const void *b)
{
    const store_delta_t *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The store is degraded after a full disk; a success clears it. */
static void note_result(store_t *st, int rc)
{
    if (rc == STORE_ERR_NOSPACE) {
        atomic_store(&st->degraded, true);
        /* LevelDB keeps a failed log sync as a sticky error: only a fresh
         * handle can write again once space is back. */
        st->need_reopen = true;
    } else if (rc == STORE_OK) {
        atomic_store(&st->degraded, false);
    }
}

/* Close and reopen the database, at most every 500 ms. */
static int try_reopen(store_t *st)
{
    uint64_t now = store_now_ms();
    if (st->last_reopen_ms && now - st->last_reopen_ms < 500) return STORE_ERR_NOSPACE;
    st->last_reopen_ms = now;
    pthread_rwlock_wrlock(&st->dblock);
    if (st->db) leveldb_close(st->db);
    st->db = NULL;
    char *err = NULL;
    int rc = store_db_open(st, &err);
    pthread_rwlock_unlock(&st->dblock);
    if (err) leveldb_free(err);
    if (rc == STORE_OK) st->need_reopen = false;
    return rc;
}

static int db_write(store_t *st, leveldb_writebatch_t *wb, bool sync)
{
    if (st->need_reopen) {
        int rc = try_reopen(st);
        if (rc != STORE_OK) return rc;
    }
    char *err = NULL;
    leveldb_write(st->db, sync ? st->wsync : st->wnosync, wb, &err);
    if (err) {
        int rc = store_err_from_leveldb(err);
        leveldb_free(err);
        return rc == STORE_OK ? STORE_ERR_IO : rc;
    }
    atomic_fetch_add(&st->n_commits, 1);
    if (sync) {
        atomic_fetch_add(&st->n_syncs, 1);
        st->last_sync_ms = store_now_ms();
        st->dirty = false;
    } else {
        st->dirty = true;
    }
    return STORE_OK;
}

/* Write what the group holds, with the m/ deletes its reference changes
 * call for; set the result of batches [first, stop). */
static void group_flush(store_t *st, store_group_t *g, store_batch_t *first, store_batch_t *stop)
{
    int rc = STORE_OK;
    if (first == stop) return;
    if (g->ndeltas) qsort(g->deltas, g->ndeltas, sizeof(*g->deltas), cmp_delta);
    /* Compact the deltas in place to (id, new count) pairs; counts go to
     * the map only once the write succeeds. */
    size_t out = 0;
    for (size_t i = 0; i < g->ndeltas;) {
        uint64_t id = g->deltas[i].id;
        int64_t n = store_refmap_get(&st->refs, id);
        for (; i < g->ndeltas && g->deltas[i].id == id; i++)
            n += g->deltas[i].delta;
        if (n <= 0) {
            uint8_t k[10] = {SK_MSG, '/'};
            for (int j = 0; j < 8; j++)
                k[2 + j] = (uint8_t)(id >> (56 - 8 * j));
            store_group_del_body(g, k, sizeof(k));
            n = 0;
        }
        g->deltas[out].id = id;
        g->deltas[out].delta = (int32_t)(n > INT32_MAX ? INT32_MAX : n);
        out++;
    }
    store_group_emit(g);
    rc = db_write(st, g->wb, st->opts.sync == STORE_SYNC_ALWAYS);
    note_result(st, rc);
    if (rc == STORE_OK) {
        for (size_t i = 0; i < out; i++)
            (void)store_refmap_set(&st->refs, g->deltas[i].id, (uint32_t)g->deltas[i].delta);
        atomic_store(&st->n_live, st->refs.n);
        st->deletes_since_compact += g->deletes;
        st->deleted_kinds |= g->delkinds;
    }
    for (store_batch_t *b = first; b != stop; b = b->next)
        if (b->result == STORE_OK) b->result = rc;
    store_group_clear(g);
}

/* Delete every key under kind/<client>\0 into g's wb; q/ and o/ drop refs. */
static int expand_kind(store_t *st, char kind, const store_rangedel_t *r, store_group_t *g)
{
    int rc = STORE_OK;
    store_buf_t p;
    store_buf_init(&p);
    store_key_client(&p, kind, r->client, r->len);
    if (p.oom) {
        store_buf_free(&p);
        return STORE_ERR_NOMEM;
    }
    leveldb_iterator_t *it = leveldb_create_iterator(st->db, st->ropts);
    for (leveldb_iter_seek(it, (const char *)p.p, p.len); leveldb_iter_valid(it);
         leveldb_iter_next(it)) {
        size_t kl, vl;
        const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &kl);
        if (kl < p.len || memcmp(k, p.p, p.len) != 0) break;
        const uint8_t *v = (const uint8_t *)leveldb_iter_value(it, &vl);
        uint64_t msg_id = 0;
        store_qref_t q;
        store_inflight_t o;
        if (kind == SK_QUEUE && store_dec_qref(k, kl, v, vl, &q))
            msg_id = q.msg_id;
        else if (kind == SK_OUT && store_dec_inflight(k, kl, v, vl, &o))
            msg_id = o.msg_id;
        if (msg_id && !group_delta(g, msg_id, -1)) {
            rc = STORE_ERR_NOMEM;
            break;
        }
        store_group_raw(g, true, k, kl, NULL, 0);
    }
    rc = store_iter_end(it, rc);
    store_buf_free(&p);
    return rc;
}

static int expand_range(store_t *st, const store_rangedel_t *r, store_group_t *g)
{
    static const struct {
        unsigned flag;
        char kind;
    } kinds[] = {{STORE_CLIENT_SUBS, SK_SUB},
                 {STORE_CLIENT_QUEUE, SK_QUEUE},
                 {STORE_CLIENT_INFLIGHT, SK_OUT},
                 {STORE_CLIENT_INBOUND, SK_IN}};
    if (r->what & STORE_CLIENT_SESSION) {
        store_buf_t k;
        store_buf_init(&k);
        store_key_name(&k, SK_SESSION, r->client, r->len);
        if (k.oom) return STORE_ERR_NOMEM;
        store_group_raw(g, true, k.p, k.len, NULL, 0);
        store_buf_free(&k);
    }
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!(r->what & kinds[i].flag)) continue;
        int rc = expand_kind(st, kinds[i].kind, r, g);
        if (rc != STORE_OK) return rc;
    }
    return STORE_OK;
}

/* A batch with range deletes is a write of its own: the ranges are read
 * from the database, which must hold everything before them, and nothing
 * is merged around them. */
static void add_ranges(store_t *st, store_group_t *g, store_batch_t **first, store_batch_t *b)
{
    group_flush(st, g, *first, b);
    *first = b;
    if (st->need_reopen && try_reopen(st) != STORE_OK) {
        b->result = STORE_ERR_NOSPACE;
        return;
    }
    int rc = STORE_OK;
    size_t at = 0;
    for (size_t i = 0; i < b->nranges && rc == STORE_OK; i++) {
        store_group_raw_ops(g, b, at, b->ranges[i].at);
        at = b->ranges[i].at;
        rc = expand_range(st, &b->ranges[i], g);
    }
    store_group_raw_ops(g, b, at, b->len);
    for (size_t i = 0; i < b->ndeltas && rc == STORE_OK; i++)
        if (!group_delta(g, b->deltas[i].id, b->deltas[i].delta)) rc = STORE_ERR_NOMEM;
    if (rc != STORE_OK) {
        /* Nothing else is in the group yet: drop this batch. */
        b->result = rc;
        store_group_clear(g);
        return;
    }
    group_flush(st, g, b, b->next);
    *first = b->next;
}

/* Add batch b to the group (*first: the group's first batch). */
static void group_add(store_t *st, store_group_t *g, store_batch_t **first, store_batch_t *b)
{
    if (b->nranges)
        add_ranges(st, g, first, b);
    else if (!store_group_add(g, &st->refs, b))
        b->result = STORE_ERR_NOMEM;
}

static void maybe_compact(store_t *st)
{
    if (st->deletes_since_compact < st->opts.compact_after_deletes || !st->db) return;
    for (unsigned bit = 0; bit < 26; bit++) {
        if (!(st->deleted_kinds & (1u << bit))) continue;
        char lo[2] = {(char)('a' + bit), '/'};
        char hi[2] = {(char)('a' + bit), '/' + 1};
        leveldb_compact_range(st->db, lo, 2, hi, 2);
        atomic_fetch_add(&st->n_compactions, 1);
    }
    st->deletes_since_compact = 0;
    st->deleted_kinds = 0;
}

static void commit_list(store_t *st, store_group_t *g, store_batch_t *list)
{
    store_batch_t *first = list, *b;
    uint64_t n = 0;
    for (b = list; b; b = b->next) {
        group_add(st, g, &first, b);
        n++;
    }
    group_flush(st, g, first, NULL);
    /* the committed sequence (store_stats_t): batches leave the queue in
     * submit order, so this count is also the number of the last one */
    atomic_fetch_add(&st->n_batches, n);
    store_batch_t *keep = NULL;
    for (b = list; b;) {
        store_batch_t *next = b->next;
        if (b->done) b->done(b->arg, b->result);
        if (store_batch_reset(b)) {
            b->next = keep;
            keep = b;
        } else {
            store_batch_free(b);
        }
        b = next;
    }
    store_spares_put(st, keep);
}

/* STORE_SYNC_BATCH: an empty synced write fsyncs the log up to here. */
static void sync_now(store_t *st)
{
    leveldb_writebatch_t *wb = leveldb_writebatch_create();
    int rc = db_write(st, wb, true);
    note_result(st, rc);
    leveldb_writebatch_destroy(wb);
    if (rc != STORE_OK) st->last_sync_ms = store_now_ms(); /* retry in flush_ms, not in a spin */
}

static void deadline_ts(uint64_t ms_from_now, struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)(ms_from_now / 1000);
    ts->tv_nsec += (long)(ms_from_now % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

void *store_thread_main(void *arg)
{
    store_t *st = arg;
    store_group_t g;
    store_group_init(&g);
    bool batch_mode = st->opts.sync == STORE_SYNC_BATCH;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->head && !st->stopping) {
            if (batch_mode && st->dirty) {
                uint64_t due = st->last_sync_ms + st->opts.flush_ms, now = store_now_ms();
                if (now >= due) {
                    pthread_mutex_unlock(&st->mu);
                    sync_now(st);
                    pthread_mutex_lock(&st->mu);
                    continue;
                }
                struct timespec ts;
                deadline_ts(due - now, &ts);
                pthread_cond_timedwait(&st->cond, &st->mu, &ts);
            } else {
                pthread_cond_wait(&st->cond, &st->mu);
            }
        }
        if (!st->head) break; /* stopping, and the queue is drained */
        store_batch_t *list = st->head;
        st->head = st->tail = NULL;
        st->queued = 0;
        pthread_mutex_unlock(&st->mu);

        commit_list(st, &g, list);
        if (batch_mode && st->dirty && store_now_ms() >= st->last_sync_ms + st->opts.flush_ms)
            sync_now(st);
        maybe_compact(st);
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    if (st->dirty) sync_now(st);
    store_group_fini(&g);
    return NULL;
}
