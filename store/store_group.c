/*
 * store_group.c - the store thread's group commit buffer: the operations of
 * every batch in a group, merged by key before they reach LevelDB.
 *
 * A group is one LevelDB write, applied atomically, so only the last
 * operation on each key changes what the database holds after it: a q/ or
 * o/ record put and deleted within one group costs LevelDB a delete instead
 * of a put and a delete. A message body put and deleted within one group (a
 * message queued, sent and acknowledged between two commits, the common case
 * under load) costs nothing: the body was absent before the group (its
 * reference count was 0, and a write that takes a count to 0 deletes the
 * body) and is absent after it. Fewer records also mean less for LevelDB's
 * memtable, log and compactions.
 *
 * Store thread only. Keys and values point into the batches' buffers, which
 * live until the group is written (commit_list frees them after).
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_hash.h"
#include "store_int.h"

struct store_gop {
    const uint8_t *k, *v;
    uint32_t klen, vlen;
    uint64_t hash;
    bool del;
    bool absent; /* the key was absent before the group: a last delete is dropped */
};

void store_group_init(store_group_t *g)
{
    memset(g, 0, sizeof(*g));
    g->wb = leveldb_writebatch_create(); /* LevelDB's new: aborts rather than NULL */
}

void store_group_fini(store_group_t *g)
{
    if (g->wb) leveldb_writebatch_destroy(g->wb);
    free(g->deltas);
    free(g->ops);
    free(g->slots);
    memset(g, 0, sizeof(*g));
}

/* Room for n more operations and deltas, the index at most half full. */
static bool reserve(store_group_t *g, size_t nops, size_t ndeltas)
{
    if (g->ndeltas + ndeltas > g->capdeltas) {
        size_t cap = g->capdeltas ? g->capdeltas : 256;
        while (cap < g->ndeltas + ndeltas)
            cap *= 2;
        store_delta_t *d = realloc(g->deltas, cap * sizeof(*d));
        if (!d) return false;
        g->deltas = d;
        g->capdeltas = cap;
    }
    if (g->nops + nops > g->capops) {
        size_t cap = g->capops ? g->capops : 256;
        while (cap < g->nops + nops)
            cap *= 2;
        store_gop_t *o = realloc(g->ops, cap * sizeof(*o));
        if (!o) return false;
        g->ops = o;
        g->capops = cap;
    }
    if ((g->nops + nops) * 2 <= g->nslots) return true;
    size_t n = g->nslots ? g->nslots : 1024;
    while ((g->nops + nops) * 2 > n)
        n *= 2;
    uint32_t *slots = calloc(n, sizeof(*slots));
    if (!slots) return false;
    for (size_t i = 0; i < g->nops; i++) {
        size_t j = (size_t)g->ops[i].hash & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(g->slots);
    g->slots = slots;
    g->nslots = n;
    return true;
}

/* The slot holding k, or the empty slot where it would go. */
static uint32_t *find(store_group_t *g, const uint8_t *k, size_t klen, uint64_t h)
{
    for (size_t j = (size_t)h & (g->nslots - 1);; j = (j + 1) & (g->nslots - 1)) {
        uint32_t *s = &g->slots[j];
        if (!*s) return s;
        const store_gop_t *o = &g->ops[*s - 1];
        if (o->hash == h && o->klen == klen && memcmp(o->k, k, klen) == 0) return s;
    }
}

/* A body (m/ + 8-byte id) whose count is 0 is not in the database. */
static bool body_absent(const store_refmap_t *refs, const uint8_t *k, size_t klen)
{
    return klen == 10 && k[0] == SK_MSG && k[1] == '/' &&
           store_refmap_get(refs, store_be64(k + 2)) == 0;
}

bool store_group_add(store_group_t *g, const store_refmap_t *refs, const store_batch_t *b)
{
    if (!reserve(g, b->ops, b->ndeltas)) return false;
    if (b->ndeltas) { /* (a barrier has none, and maybe no array yet) */
        memcpy(g->deltas + g->ndeltas, b->deltas, b->ndeltas * sizeof(*b->deltas));
        g->ndeltas += b->ndeltas;
    }
    for (size_t off = 0; off < b->len;) {
        const uint8_t *p = b->buf + off;
        uint32_t kl, vl;
        memcpy(&kl, p + 1, 4);
        memcpy(&vl, p + 5, 4);
        const uint8_t *k = p + STORE_OP_HDR;
        bool del = p[0] != 0;
        off += STORE_OP_HDR + kl + vl;
        uint64_t h = mqtt_fnv1a(k, kl);
        uint32_t *s = find(g, k, kl, h);
        if (*s) { /* the last operation wins; absent stays as the first found it */
            store_gop_t *o = &g->ops[*s - 1];
            o->k = k;
            o->v = k + kl;
            o->vlen = vl;
            o->del = del;
            continue;
        }
        g->ops[g->nops] = (store_gop_t){.k = k,
                                        .v = k + kl,
                                        .klen = kl,
                                        .vlen = vl,
                                        .hash = h,
                                        .del = del,
                                        .absent = !del && body_absent(refs, k, kl)};
        *s = (uint32_t)++g->nops;
    }
    return true;
}

static void wb_op(store_group_t *g, bool del, const uint8_t *k, size_t klen, const uint8_t *v,
                  size_t vlen)
{
    if (!del) {
        leveldb_writebatch_put(g->wb, (const char *)k, klen, (const char *)v, vlen);
        return;
    }
    leveldb_writebatch_delete(g->wb, (const char *)k, klen);
    g->deletes++;
    if (klen && k[0] >= 'a' && k[0] <= 'z') g->delkinds |= 1u << (k[0] - 'a');
}

void store_group_raw(store_group_t *g, bool del, const uint8_t *k, size_t klen, const uint8_t *v,
                     size_t vlen)
{
    wb_op(g, del, k, klen, v, vlen);
}

void store_group_raw_ops(store_group_t *g, const store_batch_t *b, size_t from, size_t to)
{
    while (from < to) {
        const uint8_t *p = b->buf + from;
        uint32_t kl, vl;
        memcpy(&kl, p + 1, 4);
        memcpy(&vl, p + 5, 4);
        wb_op(g, p[0] != 0, p + STORE_OP_HDR, kl, p + STORE_OP_HDR + kl, vl);
        from += STORE_OP_HDR + kl + vl;
    }
}

void store_group_del_body(store_group_t *g, const uint8_t *k, size_t klen)
{
    if (g->nslots) {
        uint32_t *s = find(g, k, klen, mqtt_fnv1a(k, klen));
        if (*s) {
            g->ops[*s - 1].del = true;
            return;
        }
    }
    wb_op(g, true, k, klen, NULL, 0);
}

void store_group_emit(store_group_t *g)
{
    for (size_t i = 0; i < g->nops; i++) {
        const store_gop_t *o = &g->ops[i];
        if (o->del && o->absent) continue; /* absent before, absent after */
        wb_op(g, o->del, o->k, o->klen, o->v, o->vlen);
    }
    g->nops = 0;
    if (g->nslots) memset(g->slots, 0, g->nslots * sizeof(*g->slots));
}

void store_group_clear(store_group_t *g)
{
    leveldb_writebatch_clear(g->wb);
    g->ndeltas = 0;
    g->nops = 0;
    if (g->nslots) memset(g->slots, 0, g->nslots * sizeof(*g->slots));
    g->deletes = g->delkinds = 0;
}
