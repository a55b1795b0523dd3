/*
 * retain.c - retained messages: topic -> message, one per topic.
 *
 * A chained hash map under a mutex. A subscribe with an exact filter is a
 * lookup; a wildcard filter scans every retained topic with the codec's
 * matcher (retained sets are small next to traffic, and the scan happens on
 * SUBSCRIBE, never on PUBLISH). Matched messages are handed out with a
 * reference so the callee may deliver them after the lock is released.
 *
 * mqtt.max_retained / max_retained_bytes bound the map: a retained message
 * for a new topic, or one that grows it past the byte limit, is not stored
 * (brk_retain_set says so; deleting and shrinking always work). The
 * broker's own $SYS tree is exempt: it is small and fixed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_hash.h"
#include "retain.h"
#include "grow.h"

typedef struct entry {
    struct entry *next;
    uint32_t hash;
    brk_msg_t *m;
} entry_t;

struct brk_retain {
    pthread_mutex_t lock;
    entry_t **b;
    uint32_t cap, n;
    uint32_t n_lim;     /* entries that count against the limits (not $SYS) */
    uint64_t bytes;     /* their topic + payload + properties */
    uint32_t max_n;     /* 0 = no limit */
    uint64_t max_bytes; /* 0 = no limit */
};

static bool is_sys(const brk_msg_t *m)
{
    return m->topic_len >= 4 && !memcmp(m->topic, "$SYS", 4);
}

/* What m counts against max_retained_bytes ($SYS: nothing). */
static uint64_t msg_bytes(const brk_msg_t *m)
{
    return is_sys(m) ? 0 : (uint64_t)m->topic_len + m->payload_len + m->props_len;
}

void brk_retain_limit(brk_retain_t *r, uint32_t max_n, uint64_t max_bytes)
{
    pthread_mutex_lock(&r->lock);
    r->max_n = max_n;
    r->max_bytes = max_bytes;
    pthread_mutex_unlock(&r->lock);
}

brk_retain_t *brk_retain_new(void)
{
    brk_retain_t *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->cap = 256;
    if (!(r->b = calloc(r->cap, sizeof(*r->b)))) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void brk_retain_free(brk_retain_t *r)
{
    if (!r) return;
    for (uint32_t i = 0; i < r->cap; i++)
        for (entry_t *e = r->b[i], *nx; e; e = nx) {
            nx = e->next;
            brk_msg_unref(&e->m);
            free(e);
        }
    free(r->b);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static void grow(brk_retain_t *r)
{
    uint32_t cap = r->cap * 2;
    entry_t **b = calloc(cap, sizeof(*b));
    if (!b) return; /* longer chains, still correct */
    for (uint32_t i = 0; i < r->cap; i++)
        for (entry_t *e = r->b[i], *nx; e; e = nx) {
            nx = e->next;
            e->next = b[e->hash & (cap - 1)];
            b[e->hash & (cap - 1)] = e;
        }
    free(r->b);
    r->b = b;
    r->cap = cap;
}

/* The entry of m's topic (lock held): *pp points at it, or at the end of
 * its chain. */
static entry_t **find(brk_retain_t *r, const brk_msg_t *m, uint32_t h)
{
    entry_t **pp = &r->b[h & (r->cap - 1)];
    for (; *pp; pp = &(*pp)->next) {
        entry_t *e = *pp;
        if (e->hash == h && e->m->topic_len == m->topic_len &&
            memcmp(e->m->topic, m->topic, m->topic_len) == 0)
            break;
    }
    return pp;
}

/* Would storing m (replacing old, or NULL) stay within the limits? */
static int fits(const brk_retain_t *r, const brk_msg_t *m, const brk_msg_t *old)
{
    if (!m->payload_len || is_sys(m)) return BRK_RETAIN_OK;
    if (!old && r->max_n && r->n_lim >= r->max_n) return BRK_RETAIN_FULL_COUNT;
    uint64_t after = r->bytes + msg_bytes(m) - (old ? msg_bytes(old) : 0);
    if (r->max_bytes && after > r->max_bytes && (!old || msg_bytes(m) > msg_bytes(old)))
        return BRK_RETAIN_FULL_BYTES;
    return BRK_RETAIN_OK;
}

int brk_retain_fits(brk_retain_t *r, const brk_msg_t *m)
{
    uint32_t h = mqtt_fnv1a(m->topic, m->topic_len);
    pthread_mutex_lock(&r->lock);
    entry_t **pp = find(r, m, h);
    int rc = fits(r, m, *pp ? (*pp)->m : NULL);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int brk_retain_set(brk_retain_t *r, brk_msg_t *m)
{
    uint32_t h = mqtt_fnv1a(m->topic, m->topic_len);
    pthread_mutex_lock(&r->lock);
    entry_t **pp = find(r, m, h);
    int rc = fits(r, m, *pp ? (*pp)->m : NULL);
    if (rc != BRK_RETAIN_OK) goto out;
    if (*pp) {
        entry_t *e = *pp;
        r->bytes -= msg_bytes(e->m);
        brk_msg_unref(&e->m);
        if (m->payload_len) {
            e->m = brk_msg_ref(m);
            r->bytes += msg_bytes(m);
        } else {
            *pp = e->next;
            free(e);
            r->n--;
            r->n_lim -= !is_sys(m);
        }
    } else if (m->payload_len) {
        entry_t *e = malloc(sizeof(*e));
        if (e) {
            e->hash = h;
            e->m = brk_msg_ref(m);
            e->next = r->b[h & (r->cap - 1)];
            r->b[h & (r->cap - 1)] = e;
            r->bytes += msg_bytes(m);
            r->n_lim += !is_sys(m);
            if (++r->n > r->cap) grow(r);
        }
    }
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void brk_retain_match(brk_retain_t *r, const char *filter, uint16_t len,
                      void (*fn)(void *arg, brk_msg_t *m), void *arg)
{
    brk_msg_t **hits = NULL;
    uint32_t n = 0, cap = 0;
    bool wild = memchr(filter, '+', len) || memchr(filter, '#', len);
    pthread_mutex_lock(&r->lock);
    uint32_t from = 0, to = r->cap;
    if (!wild) {
        from = mqtt_fnv1a(filter, len) & (r->cap - 1);
        to = from + 1;
    }
    for (uint32_t i = from; i < to; i++)
        for (entry_t *e = r->b[i]; e; e = e->next) {
            if (!mqtt_topic_match((const uint8_t *)filter, len, (const uint8_t *)e->m->topic,
                                  e->m->topic_len))
                continue;
            if (n == cap && brk_grow_vec(&hits, &cap, sizeof(*hits), 16)) goto done;
            hits[n++] = brk_msg_ref(e->m);
        }
done:
    pthread_mutex_unlock(&r->lock);
    for (uint32_t i = 0; i < n; i++)
        fn(arg, hits[i]);
    free(hits);
}

uint64_t brk_retain_count(brk_retain_t *r)
{
    pthread_mutex_lock(&r->lock);
    uint64_t n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}
