/*
 * bridge_spool.c - the spool (k/<seq> in the store, or a list in memory
 * when there is no store) and the dead-letter path; all of it runs on the
 * poll thread except the *_locked entry points and the store's done
 * callback.
 *
 * Order: spool keys are the records' publish sequence numbers, so a record
 * that comes back late from librdkafka still lands in its place. The drain
 * only reads records below the oldest one not yet written, and only when
 * librdkafka holds no direct record, so it never overtakes one.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"

#define DRAIN_BATCH 512
#define DRAIN_RETRY_MS 500

void bridge_spool_put_locked(struct bridge *br, rec_t *r)
{
    r->next = NULL;
    *br->puts_tail = r;
    br->puts_tail = &r->next;
    atomic_fetch_add(&br->s.spool_depth, 1);
    atomic_fetch_add(&br->s.spool_bytes, r->len);
}

void bridge_dead_put_locked(struct bridge *br, rec_t *r, int err)
{
    r->err = err;
    atomic_store(&br->h.last_dead_err, err); /* for the dead-letter log line */
    r->next = NULL;
    *br->dead_tail = r;
    br->dead_tail = &r->next;
}

static void list_free(rec_t *r)
{
    while (r) {
        rec_t *n = r->next;
        free(r);
        r = n;
    }
}

void bridge_spool_mem_free(struct bridge *br)
{
    list_free(br->mem);
    br->mem = NULL;
}

static void mem_insert(struct bridge *br, rec_t *r)
{
    rec_t **pp = &br->mem;
    while (*pp && (*pp)->seq < r->seq)
        pp = &(*pp)->next;
    r->next = *pp;
    *pp = r;
}

/* Remove spool record seq from the memory spool; returns its size. */
static uint32_t mem_remove(struct bridge *br, uint64_t seq)
{
    for (rec_t **pp = &br->mem; *pp; pp = &(*pp)->next) {
        if ((*pp)->seq != seq) continue;
        rec_t *r = *pp;
        *pp = r->next;
        uint32_t len = r->len;
        free(r);
        return len;
    }
    return 0;
}

static void wdone(void *arg, int err)
{
    wbatch_t *w = arg;
    struct bridge *br = w->br;
    pthread_mutex_lock(&br->mu);
    for (wbatch_t **pp = &br->writing; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    br->n_writing--;
    for (rec_t *r = w->recs; r; r = r->next) {
        if (!err) {
            BRIDGE_COUNT(br, r, spooled);
        } else {
            BRIDGE_COUNT(br, r, failed);
            atomic_fetch_sub(&br->s.spool_depth, 1);
            atomic_fetch_sub(&br->s.spool_bytes, r->len);
        }
        bridge_group_release_locked(br, r->grp, err ? -1 : 0);
    }
    for (rec_t *r = w->deads; r; r = r->next) {
        if (!err) {
            atomic_fetch_add(&br->s.dead_lettered, 1);
            if (r->spool_seq) {
                atomic_fetch_sub(&br->s.spool_depth, 1);
                atomic_fetch_sub(&br->s.spool_bytes, r->len);
            }
        } else if (!r->spool_seq) {
            BRIDGE_COUNT(br, r, failed);
        }
        /* A drained record whose quarantine write failed is still spooled. */
        bridge_group_release_locked(br, r->grp, err && !r->spool_seq ? -1 : 0);
    }
    pthread_mutex_unlock(&br->mu);
    list_free(w->recs);
    list_free(w->deads);
    free(w->dels);
    free(w);
}

/* Write puts, quarantined records and deletes in one store batch. */
static void store_write(struct bridge *br, rec_t *puts, rec_t *local, uint64_t *dels, size_t n_dels)
{
    store_batch_t *b = store_batch_new();
    wbatch_t *w = calloc(1, sizeof(*w));
    int rc = STORE_ERR_NOMEM;
    if (!b || !w) goto fail;
    w->br = br;
    w->min_seq = UINT64_MAX;
    for (rec_t *r = puts; r; r = r->next) {
        if ((rc = store_batch_put_spool(b, r->seq, r->blob, r->len))) goto fail;
        if (r->seq < w->min_seq) w->min_seq = r->seq;
    }
    for (rec_t *r = local; r; r = r->next) {
        store_buf_t d;
        store_buf_init(&d);
        bridge_dlq_encode(&d, r->err, r->blob, r->len);
        rc = d.oom ? STORE_ERR_NOMEM : store_batch_put_dead(b, br->next_dead_seq, d.p, d.len);
        store_buf_free(&d);
        if (rc) goto fail;
        br->next_dead_seq++;
        if (r->spool_seq && (rc = store_batch_del_spool(b, r->spool_seq))) goto fail;
    }
    for (size_t i = 0; i < n_dels; i++)
        if ((rc = store_batch_del_spool(b, dels[i]))) goto fail;
    w->recs = puts;
    w->deads = local;
    w->dels = dels;
    w->n_dels = n_dels;
    pthread_mutex_lock(&br->mu);
    w->next = br->writing;
    br->writing = w;
    br->n_writing++;
    pthread_mutex_unlock(&br->mu);
    rc = store_submit(br->st, b, wdone, w);
    if (rc == STORE_OK) return;
    pthread_mutex_lock(&br->mu);
    for (wbatch_t **pp = &br->writing; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    br->n_writing--;
    pthread_mutex_unlock(&br->mu);
fail:
    store_batch_free(b);
    free(w);
    pthread_mutex_lock(&br->mu);
    if (rc == STORE_ERR_BUSY || rc == STORE_ERR_NOMEM) { /* try again on the next step */
        for (rec_t *r = puts, *n; r; r = n) {
            n = r->next;
            *br->puts_tail = r;
            br->puts_tail = &r->next;
            r->next = NULL;
        }
        for (rec_t *r = local, *n; r; r = n) {
            n = r->next;
            bridge_dead_put_locked(br, r, r->err);
        }
        for (size_t i = 0; i < n_dels; i++) {
            if (br->n_dels == br->cap_dels) break; /* stays spooled: a duplicate, not a loss */
            br->dels[br->n_dels++] = dels[i];
        }
    } else {
        for (rec_t *r = puts; r; r = r->next) {
            BRIDGE_COUNT(br, r, failed);
            atomic_fetch_sub(&br->s.spool_depth, 1);
            atomic_fetch_sub(&br->s.spool_bytes, r->len);
            bridge_group_release_locked(br, r->grp, -1);
        }
        for (rec_t *r = local; r; r = r->next) {
            if (!r->spool_seq) BRIDGE_COUNT(br, r, failed);
            bridge_group_release_locked(br, r->grp, r->spool_seq ? 0 : -1);
        }
        list_free(puts);
        list_free(local);
    }
    pthread_mutex_unlock(&br->mu);
    free(dels);
}

static void mem_write(struct bridge *br, rec_t *puts, rec_t *local, uint64_t *dels, size_t n_dels)
{
    for (rec_t *r = puts, *n; r; r = n) {
        n = r->next;
        group_t *g = r->grp;
        r->grp = NULL;
        mem_insert(br, r);
        BRIDGE_COUNT(br, r, spooled);
        bridge_group_release(br, g, 0);
    }
    for (size_t i = 0; i < n_dels; i++)
        mem_remove(br, dels[i]);
    free(dels);
    /* No store: nowhere to quarantine. Counted as failed, reported < 0. */
    for (rec_t *r = local, *n; r; r = n) {
        n = r->next;
        BRIDGE_COUNT(br, r, failed);
        if (r->spool_seq && mem_remove(br, r->spool_seq)) {
            atomic_fetch_sub(&br->s.spool_depth, 1);
            atomic_fetch_sub(&br->s.spool_bytes, r->len);
        }
        bridge_group_release(br, r->grp, -1);
        free(r);
    }
}

typedef struct scan_ctx {
    struct bridge *br;
    uint64_t limit;
    rec_t *head, **tail;
    size_t n;
} scan_ctx_t;

static int scan_cb(void *arg, const store_blob_t *b)
{
    scan_ctx_t *c = arg;
    if (b->seq >= c->limit) return 1;
    rec_t *r = bridge_rec_new(b->data.p, b->data.len);
    if (!r) return 1;
    r->seq = r->spool_seq = b->seq;
    r->kind = REC_DRAIN;
    *c->tail = r;
    c->tail = &r->next;
    c->n++;
    return 0;
}

static void drain_step(struct bridge *br)
{
    pthread_mutex_lock(&br->mu);
    if (br->mode != MODE_SPOOL || atomic_load(&br->stopping) || br->direct_inflight ||
        br->drain_inflight)
        goto out;
    int64_t now = bridge_now_ms();
    if (br->drain_failed) {
        if (br->n_dels || br->writing) goto out; /* deletes first, then re-read */
        br->drain_cursor = br->drain_fail_min - 1;
        br->drain_failed = false;
        br->next_drain_ms = now + DRAIN_RETRY_MS;
        goto out;
    }
    if (now < br->next_drain_ms) goto out;
    uint64_t limit = UINT64_MAX;
    for (rec_t *r = br->puts; r; r = r->next)
        if (r->seq < limit) limit = r->seq;
    bool writing_recs = false;
    for (wbatch_t *w = br->writing; w; w = w->next) {
        if (w->min_seq < limit) limit = w->min_seq;
        if (w->recs) writing_recs = true;
    }
    uint64_t cursor = br->drain_cursor;
    pthread_mutex_unlock(&br->mu);

    scan_ctx_t c = {br, limit, NULL, &c.head, 0};
    if (br->st) {
        store_scan_spool(br->st, cursor, DRAIN_BATCH, scan_cb, &c);
    } else {
        for (rec_t *m = br->mem; m && c.n < DRAIN_BATCH; m = m->next) {
            if (m->seq <= cursor) continue;
            store_blob_t b = {m->seq, {m->blob, m->len}};
            if (scan_cb(&c, &b)) break;
        }
    }
    pthread_mutex_lock(&br->mu);
    if (c.n == 0) {
        if (!br->puts && !writing_recs && !br->dead && limit == UINT64_MAX)
            br->mode = MODE_DIRECT; /* drained: newer records go straight again */
        goto out;
    }
    for (rec_t *r = c.head, *n; r; r = n) {
        n = r->next;
        r->next = NULL;
        int e = bridge_produce(br, r, NULL);
        if (!e) {
            br->drain_inflight++;
            br->drain_cursor = r->seq;
        } else if (bridge_err_permanent(e)) {
            br->drain_cursor = r->seq;
            bridge_dead_put_locked(br, r, e);
        } else { /* queue full: the rest waits for the next step */
            r->next = n;
            list_free(r);
            break;
        }
    }
out:
    pthread_mutex_unlock(&br->mu);
}

void bridge_spool_step(struct bridge *br)
{
    pthread_mutex_lock(&br->mu);
    rec_t *puts = br->puts, *dead = br->dead;
    br->puts = br->dead = NULL;
    br->puts_tail = &br->puts;
    br->dead_tail = &br->dead;
    uint64_t *dels = br->dels;
    size_t n_dels = br->n_dels;
    if (n_dels) {
        br->dels = NULL;
        br->n_dels = br->cap_dels = 0;
    }
    bool stopping = atomic_load(&br->stopping);
    pthread_mutex_unlock(&br->mu);
    if (!n_dels) dels = NULL;

    const char *dlt = br->cfg->bridge.dead_letter_topic;
    rec_t *local = NULL, **ltail = &local;
    for (rec_t *r = dead, *n; r; r = n) {
        n = r->next;
        r->next = NULL;
        if (dlt && !r->dlt_tried && !stopping) {
            r->dlt_tried = true;
            int kind = r->kind;
            r->kind = REC_DLT;
            pthread_mutex_lock(&br->mu);
            int e = bridge_produce(br, r, dlt);
            pthread_mutex_unlock(&br->mu);
            if (!e) continue;
            r->kind = kind;
        }
        *ltail = r;
        ltail = &r->next;
    }
    if (puts || local || n_dels) {
        if (br->st)
            store_write(br, puts, local, dels, n_dels);
        else
            mem_write(br, puts, local, dels, n_dels);
    }
    drain_step(br);
}

static int load_cb(void *arg, const store_blob_t *b)
{
    struct bridge *br = arg;
    atomic_fetch_add(&br->s.spool_depth, 1);
    atomic_fetch_add(&br->s.spool_bytes, b->data.len);
    return 0;
}

int bridge_spool_load(struct bridge *br)
{
    if (!br->st) return 0;
    uint64_t last = 0, dead = 0;
    if (store_last_spool_seq(br->st, &last) || store_last_dead_seq(br->st, &dead)) return -1;
    br->next_seq = last + 1;
    br->next_dead_seq = dead + 1;
    if (store_scan_spool(br->st, 0, 0, load_cb, br) < 0) return -1;
    if (atomic_load(&br->s.spool_depth)) br->mode = MODE_SPOOL;
    return 0;
}
