/*
 * subs.c - the subscription index: a trie of topic levels.
 *
 * Each node holds the subscriptions whose filter ends there, plus shared
 * subscription groups ($share/<group>/<filter>). Children are kept in a
 * small open-addressing hash table keyed by level, with '+' and '#' in
 * their own slots, so a match walks the topic once and allocates nothing
 * (the match vector is the caller's and is reused; only a topic deeper
 * than MATCH_STACK levels grows the matcher's explicit stack on the heap).
 * Nothing here recurses: a filter may be as deep as its 65,535 bytes allow.
 *
 * Locking: an rwlock that prefers writers, so a busy router cannot starve
 * SUBSCRIBE. Matching runs under the read lock (the caller takes it with
 * brk_subs_rdlock so that delivery can happen before it is released).
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt_hash.h"
#include "session.h"
#include "subs_int.h"
#include "grow.h"

brk_subs_t *brk_subs_new(void)
{
    brk_subs_t *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&t->lock, &a);
    pthread_rwlockattr_destroy(&a);
    return t;
}

/* A node's own allocations (its children are gone already). */
static void node_release(node_t *n, bool self)
{
    for (uint32_t i = 0; i < n->n_groups; i++) {
        free(n->groups[i].name);
        free(n->groups[i].m);
        brk_share_unref(&n->groups[i].id);
    }
    free(n->groups);
    free(n->kids);
    free(n->subs);
    free(n->level);
    if (self) free(n);
}

/* Detach one child of n (any), NULL when none is left. The table is being
 * freed, so shrinking cap_kids from the end keeps this linear overall. */
static node_t *kid_take(node_t *n)
{
    node_t *k = NULL;
    if (n->plus) {
        k = n->plus;
        n->plus = NULL;
    } else if (n->hash_kid) {
        k = n->hash_kid;
        n->hash_kid = NULL;
    } else {
        while (n->cap_kids && !n->kids[n->cap_kids - 1])
            n->cap_kids--;
        if (n->cap_kids) k = n->kids[--n->cap_kids];
    }
    return k;
}

/* Free the subtree under top, without recursion: a trie is as deep as the
 * deepest filter ever stored, which the stack must not have to follow. */
static void node_free(node_t *top, bool self)
{
    node_t *n = top;
    while (n) {
        node_t *k = kid_take(n);
        if (k) {
            n = k;
            continue;
        }
        node_t *up = n == top ? NULL : n->parent;
        node_release(n, n != top || self);
        n = up;
    }
}

void brk_subs_free(brk_subs_t *t)
{
    if (!t) return;
    node_free(&t->root, false);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

void brk_subs_rdlock(brk_subs_t *t)
{
    pthread_rwlock_rdlock(&t->lock);
}
void brk_subs_unlock(brk_subs_t *t)
{
    pthread_rwlock_unlock(&t->lock);
}
uint64_t brk_subs_count(brk_subs_t *t)
{
    pthread_rwlock_rdlock(&t->lock);
    uint64_t n = t->count;
    pthread_rwlock_unlock(&t->lock);
    return n;
}

static node_t *kid_find(const node_t *n, const char *lvl, uint16_t len, uint32_t h)
{
    if (!n->cap_kids) return NULL;
    uint32_t mask = n->cap_kids - 1;
    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        node_t *k = n->kids[i];
        if (!k) return NULL;
        if (k->hash == h && k->len == len && memcmp(k->level, lvl, len) == 0) return k;
    }
}

static void kid_put(node_t **kids, uint32_t cap, node_t *k)
{
    uint32_t mask = cap - 1;
    uint32_t i = k->hash & mask;
    while (kids[i])
        i = (i + 1) & mask;
    kids[i] = k;
}

static int kids_resize(node_t *n, uint32_t cap)
{
    node_t **kids = calloc(cap, sizeof(*kids));
    if (!kids) return -1;
    for (uint32_t i = 0; i < n->cap_kids; i++)
        if (n->kids[i]) kid_put(kids, cap, n->kids[i]);
    free(n->kids);
    n->kids = kids;
    n->cap_kids = cap;
    return 0;
}

static node_t *child_get(node_t *n, const char *lvl, uint16_t len, bool create)
{
    node_t **slot = NULL;
    if (len == 1 && lvl[0] == '+')
        slot = &n->plus;
    else if (len == 1 && lvl[0] == '#')
        slot = &n->hash_kid;
    uint32_t h = mqtt_fnv1a(lvl, len);
    node_t *k = slot ? *slot : kid_find(n, lvl, len, h);
    if (k || !create) return k;
    k = calloc(1, sizeof(*k));
    if (!k || !(k->level = malloc(len ? len : 1))) {
        free(k);
        return NULL;
    }
    memcpy(k->level, lvl, len);
    k->len = len;
    k->hash = h;
    k->parent = n;
    if (slot) {
        *slot = k;
        return k;
    }
    if ((n->n_kids + 1) * 2 > n->cap_kids && kids_resize(n, n->cap_kids ? n->cap_kids * 2 : 4)) {
        node_free(k, true);
        return NULL;
    }
    kid_put(n->kids, n->cap_kids, k);
    n->n_kids++;
    return k;
}

static bool node_empty(const node_t *n)
{
    return !n->n_subs && !n->n_groups && !n->n_kids && !n->plus && !n->hash_kid;
}

/* Remove empty nodes from the leaf up (write lock held). */
static void prune(brk_subs_t *t, node_t *n)
{
    while (n != &t->root && node_empty(n)) {
        node_t *p = n->parent;
        if (p->plus == n)
            p->plus = NULL;
        else if (p->hash_kid == n)
            p->hash_kid = NULL;
        else {
            for (uint32_t i = 0; i < p->cap_kids; i++)
                if (p->kids[i] == n) p->kids[i] = NULL;
            p->n_kids--;
            /* re-insert to keep probe chains intact */
            node_t **old = p->kids;
            uint32_t cap = p->cap_kids;
            p->kids = calloc(cap, sizeof(*old));
            if (!p->kids) { /* keep the old table: holes only cost a probe */
                p->kids = old;
            } else {
                for (uint32_t i = 0; i < cap; i++)
                    if (old[i]) kid_put(p->kids, cap, old[i]);
                free(old);
            }
        }
        node_free(n, true);
        n = p;
    }
}

/* Walk (creating) the levels of filter; returns the node or NULL. */
static node_t *walk(brk_subs_t *t, const char *f, uint16_t len, bool create)
{
    node_t *n = &t->root;
    const char *p = f, *end = f + len;
    for (;;) {
        const char *s = memchr(p, '/', (size_t)(end - p));
        uint16_t l = (uint16_t)((s ? s : end) - p);
        n = child_get(n, p, l, create);
        if (!n || !s) return n;
        p = s + 1;
    }
}

static int sub_upsert(brk_sub_t **v, uint32_t *n, uint32_t *cap, brk_session_t *s, uint8_t options,
                      uint32_t sub_id)
{
    for (uint32_t i = 0; i < *n; i++)
        if ((*v)[i].s == s) {
            (*v)[i].options = options;
            (*v)[i].sub_id = sub_id;
            return 0;
        }
    if (*n == *cap && brk_grow_vec(v, cap, sizeof(**v), 4)) return -1;
    (*v)[(*n)++] = (brk_sub_t){.s = s, .options = options, .sub_id = sub_id};
    return 1;
}

static bool sub_remove(brk_sub_t *v, uint32_t *n, brk_session_t *s)
{
    for (uint32_t i = 0; i < *n; i++)
        if (v[i].s == s) {
            /* keep order: shared groups rotate over members in order */
            memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
            (*n)--;
            return true;
        }
    return false;
}

brk_share_t *brk_share_ref(brk_share_t *sh)
{
    if (sh) atomic_fetch_add_explicit(&sh->refs, 1, memory_order_relaxed);
    return sh;
}

void brk_share_unref(brk_share_t **shp)
{
    brk_share_t *sh = *shp;
    *shp = NULL;
    if (sh && atomic_fetch_sub_explicit(&sh->refs, 1, memory_order_acq_rel) == 1) free(sh);
}

static share_group_t *group_get(node_t *n, const mqtt_str_t *g, bool create, const char *filter,
                                uint16_t flen)
{
    for (uint32_t i = 0; i < n->n_groups; i++)
        if (n->groups[i].len == g->len && memcmp(n->groups[i].name, g->p, g->len) == 0)
            return &n->groups[i];
    if (!create) return NULL;
    share_group_t *ng = realloc(n->groups, (n->n_groups + 1) * sizeof(*ng));
    if (!ng) return NULL;
    n->groups = ng;
    share_group_t *gr = &ng[n->n_groups];
    memset(gr, 0, sizeof(*gr));
    if (!(gr->name = malloc(g->len ? g->len : 1))) return NULL;
    if (!(gr->id = malloc(sizeof(*gr->id) + flen))) {
        free(gr->name);
        return NULL;
    }
    atomic_init(&gr->id->refs, 1);
    gr->id->len = flen;
    memcpy(gr->id->filter, filter, flen);
    memcpy(gr->name, g->p, g->len);
    gr->len = (uint16_t)g->len;
    n->n_groups++;
    return gr;
}

int brk_subs_add(brk_subs_t *t, const char *filter, uint16_t len, brk_session_t *s, uint8_t options,
                 uint32_t sub_id)
{
    mqtt_str_t group, rest;
    bool shared = mqtt_share_split((const uint8_t *)filter, len, &group, &rest);
    int rc = -1;
    pthread_rwlock_wrlock(&t->lock);
    /* lock order subs -> session: an ended session stays out of the index
     * (brk_session_end marks it before it removes its subscriptions) */
    pthread_mutex_lock(&s->lock);
    bool ended = s->ended;
    pthread_mutex_unlock(&s->lock);
    if (ended) {
        pthread_rwlock_unlock(&t->lock);
        return BRK_SUBS_ENDED;
    }
    node_t *n = shared ? walk(t, (const char *)rest.p, (uint16_t)rest.len, true)
                       : walk(t, filter, len, true);
    if (!n) goto out;
    uint32_t before = 0; /* the filter's (or the group's) subscribers */
    if (shared) {
        share_group_t *g = group_get(n, &group, true, filter, len);
        before = g ? g->n : 0;
        rc = g ? sub_upsert(&g->m, &g->n, &g->cap, s, options, sub_id) : -1;
    } else {
        before = n->n_subs;
        rc = sub_upsert(&n->subs, &n->n_subs, &n->cap_subs, s, options, sub_id);
    }
    if (rc == 1) t->count++;
    if (rc == 1 && !before && t->watch) t->watch(t->watch_ctx, filter, len, true);
    if (rc < 0) prune(t, n);
out:
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

bool brk_subs_has(brk_subs_t *t, const char *filter, uint16_t len)
{
    mqtt_str_t group, rest;
    if (mqtt_share_split((const uint8_t *)filter, len, &group, &rest)) {
        node_t *n = walk(t, (const char *)rest.p, (uint16_t)rest.len, false);
        return n && group_get(n, &group, false, NULL, 0);
    }
    node_t *n = walk(t, filter, len, false);
    return n && n->n_subs;
}

bool brk_subs_remove(brk_subs_t *t, const char *filter, uint16_t len, brk_session_t *s)
{
    mqtt_str_t group, rest;
    bool shared = mqtt_share_split((const uint8_t *)filter, len, &group, &rest);
    bool found = false, last = false;
    pthread_rwlock_wrlock(&t->lock);
    node_t *n = shared ? walk(t, (const char *)rest.p, (uint16_t)rest.len, false)
                       : walk(t, filter, len, false);
    if (n && shared) {
        share_group_t *g = group_get(n, &group, false, NULL, 0);
        if (g && (found = sub_remove(g->m, &g->n, s)) && (last = g->n == 0)) {
            free(g->name);
            free(g->m);
            brk_share_unref(&g->id);
            *g = n->groups[--n->n_groups];
        }
    } else if (n) {
        last = (found = sub_remove(n->subs, &n->n_subs, s)) && !n->n_subs;
    }
    if (found) t->count--;
    if (last && t->watch) t->watch(t->watch_ctx, filter, len, false);
    if (n) prune(t, n);
    pthread_rwlock_unlock(&t->lock);
    return found;
}

static int push(brk_matches_t *out, const brk_sub_t *sub)
{
    if (out->n == out->cap && brk_grow_vec(&out->v, &out->cap, sizeof(*out->v), 64)) return -1;
    brk_match_t *m = &out->v[out->n++];
    m->s = sub->s;
    m->share = NULL;
    m->qos = MQTT_SUBOPT_QOS(sub->options);
    m->rap = (sub->options & MQTT_SUBOPT_RAP) != 0;
    m->n_sub_ids = sub->sub_id ? 1 : 0;
    m->one = sub->sub_id;
    m->sub_ids = NULL; /* set once v stops moving (brk_subs_match) */
    return 0;
}

typedef struct match_ctx {
    const void *origin;
    brk_matches_t *out;
    node_t **shared; /* nodes with groups, handled after merging */
    uint32_t n_shared, cap_shared;
} match_ctx_t;

static void collect(match_ctx_t *mc, node_t *n)
{
    if (n->n_subs) {
        mc->out->nodes++;
        for (uint32_t i = 0; i < n->n_subs; i++) {
            const brk_sub_t *sub = &n->subs[i];
            if ((sub->options & MQTT_SUBOPT_NO_LOCAL) && sub->s == mc->origin) continue;
            push(mc->out, sub);
        }
    }
    if (n->n_groups && mc->n_shared < mc->cap_shared) mc->shared[mc->n_shared++] = n;
}

/* One pending step of a match: node n against the topic from p on. */
typedef struct frame {
    node_t *n;
    const char *p;
    bool first;
} frame_t;

#define MATCH_STACK 256

typedef struct match_stack {
    frame_t *v;
    uint32_t n, cap;
    frame_t local[MATCH_STACK];
} match_stack_t;

static void stack_push(match_stack_t *st, node_t *n, const char *p, bool first)
{
    if (st->n == st->cap) {
        /* each level adds at most one pending frame, so this happens only
         * for filters deeper than MATCH_STACK levels (restored from an older
         * store, or a raised mqtt.max_topic_levels); without memory the rest
         * of the match is skipped rather than overflow anything */
        uint32_t nc = st->cap * 2;
        frame_t *nv = malloc(nc * sizeof(*nv));
        if (!nv) return;
        memcpy(nv, st->v, st->n * sizeof(*nv));
        if (st->v != st->local) free(st->v);
        st->v = nv;
        st->cap = nc;
    }
    st->v[st->n++] = (frame_t){n, p, first};
}

/* The last level of the topic reached node k: k itself and its "#". */
static void collect_leaf(match_ctx_t *mc, node_t *k)
{
    collect(mc, k);
    if (k->hash_kid) collect(mc, k->hash_kid);
}

/* Iterative depth-first match with an explicit stack (recursion, one frame
 * per level, once overflowed the worker's stack on a 65,536-level topic). */
static void match_topic(match_ctx_t *mc, node_t *root, const char *topic, const char *end)
{
    match_stack_t st = {.cap = MATCH_STACK};
    st.v = st.local;
    stack_push(&st, root, topic, true);
    while (st.n) {
        frame_t f = st.v[--st.n];
        node_t *n = f.n;
        /* '#' also matches the parent level ("a/#" matches "a"); wildcards
         * at the first level never match a topic starting with '$'. */
        bool dollar = f.first && f.p < end && *f.p == '$';
        if (n->hash_kid && !dollar) collect(mc, n->hash_kid);
        const char *s = memchr(f.p, '/', (size_t)(end - f.p));
        uint16_t l = (uint16_t)((s ? s : end) - f.p);
        node_t *k = kid_find(n, f.p, l, mqtt_fnv1a(f.p, l));
        if (k) {
            if (s)
                stack_push(&st, k, s + 1, false);
            else
                collect_leaf(mc, k);
        }
        if (n->plus && !dollar) {
            if (s)
                stack_push(&st, n->plus, s + 1, false);
            else
                collect_leaf(mc, n->plus);
        }
    }
    if (st.v != st.local) free(st.v);
}

static int cmp_session(const void *a, const void *b)
{
    const brk_match_t *x = a, *y = b;
    return x->s < y->s ? -1 : x->s > y->s;
}

static bool ids_push(brk_matches_t *out, uint32_t id)
{
    if (out->n_ids == out->cap_ids) {
        uint32_t nc = out->cap_ids ? out->cap_ids * 2 : 64;
        uint32_t *n = realloc(out->ids, nc * sizeof(*n));
        if (!n) return false;
        out->ids = n;
        out->cap_ids = nc;
    }
    out->ids[out->n_ids++] = id;
    return true;
}

/* Overlapping subscriptions of one session: one delivery, the highest
 * QoS, every subscription identifier (MQTT-3.3.4-2, -3.3.4-3). A merged
 * delivery with several ids gets a run of out->ids: at most one per
 * subscription of the session, since each matched subscription is one
 * entry. */
static void merge(brk_matches_t *out)
{
    qsort(out->v, out->n, sizeof(*out->v), cmp_session);
    uint32_t w = 0;
    for (uint32_t r = 0; r < out->n;) {
        brk_match_t *d = &out->v[w++];
        *d = out->v[r];
        uint32_t end = r + 1;
        while (end < out->n && out->v[end].s == d->s)
            end++;
        if (end - r > 1) {
            uint32_t off = out->n_ids, n = 0;
            for (uint32_t i = r; i < end; i++) {
                const brk_match_t *x = &out->v[i];
                if (x->qos > d->qos) d->qos = x->qos;
                d->rap |= x->rap;
                /* without memory the delivery carries the ids kept so far */
                if (x->n_sub_ids && ids_push(out, x->one)) n++;
            }
            d->n_sub_ids = n;
            d->ids_off = off;
            if (n == 1) d->one = out->ids[off];
        }
        r = end;
    }
    out->n = w;
}

int brk_subs_match(brk_subs_t *t, const char *topic, uint16_t len, const void *origin,
                   brk_matches_t *out)
{
    node_t *shared[64]; /* nodes with shared groups that match one topic */
    match_ctx_t mc = {.origin = origin, .out = out, .shared = shared, .cap_shared = 64};
    out->n = 0;
    out->nodes = 0;
    out->n_ids = 0;
    match_topic(&mc, &t->root, topic, topic + len);
    if (out->nodes > 1 && out->n > 1) merge(out);
    /* one member of each shared group, round robin */
    for (uint32_t i = 0; i < mc.n_shared; i++) {
        node_t *n = shared[i];
        for (uint32_t g = 0; g < n->n_groups; g++) {
            share_group_t *gr = &n->groups[g];
            if (!gr->n) continue;
            uint32_t k = atomic_fetch_add_explicit(&gr->rr, 1, memory_order_relaxed) % gr->n;
            if (push(out, &gr->m[k]) == 0) out->v[out->n - 1].share = gr->id;
        }
    }
    for (uint32_t i = 0; i < out->n; i++) {
        brk_match_t *x = &out->v[i];
        x->sub_ids = x->n_sub_ids > 1 ? out->ids + x->ids_off : &x->one;
    }
    return (int)out->n;
}

void brk_matches_free(brk_matches_t *m)
{
    free(m->v);
    free(m->ids);
    *m = (brk_matches_t){0};
}

bool brk_share_redispatch(brk_subs_t *t, brk_share_t *sh, brk_msg_t *m, uint8_t qos)
{
    mqtt_str_t group, rest;
    bool given = false;
    if (!mqtt_share_split((const uint8_t *)sh->filter, sh->len, &group, &rest)) return false;
    pthread_rwlock_rdlock(&t->lock);
    node_t *n = walk(t, (const char *)rest.p, (uint16_t)rest.len, false);
    share_group_t *g = n ? group_get(n, &group, false, NULL, 0) : NULL;
    if (g && g->n) {
        uint32_t k = atomic_fetch_add_explicit(&g->rr, 1, memory_order_relaxed) % g->n;
        uint8_t sq = MQTT_SUBOPT_QOS(g->m[k].options);
        brk_session_deliver(g->m[k].s, NULL, m, qos < sq ? qos : sq, false, &g->m[k].sub_id,
                            g->m[k].sub_id ? 1 : 0, g->id);
        given = true;
    }
    pthread_rwlock_unlock(&t->lock);
    return given;
}
