/*
 * cluster_recent.c - the moment between another node's SUBACK and this
 * node reading that node's interest record (docs/CLUSTER.md, "Who wants
 * a message"): a local message that went to no other node is kept a
 * moment (RECENT_MS; at most RECENT_MAX and RECENT_BYTES a shard). When
 * an interest record brings a filter new to its node, the kept messages
 * published since the record was written (its Kafka timestamp, less
 * RECENT_SKEW_MS for the clocks) that match go to <prefix>.msgs at once,
 * and leave the ring (a later node's interest does not send them twice).
 *
 * Order: a route decides whether its message goes to msgs, and keeps it
 * if not, under its shard's lock; the reader holds every shard's lock
 * while it adds the filter to the remote index and sends the kept ones.
 * So a message routed after that is sent after them: the new subscriber
 * gets the publisher's messages in order.
 *
 * Threads: brk_recent_lock / _keep / _unlock on routing threads (a shard
 * per worker); brk_recent_interest on the reader thread.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "worker.h"

#define RECENT_SHARDS 8
#define RECENT_MS 1000
#define RECENT_MAX 4096
#define RECENT_BYTES (4u << 20)
#define RECENT_SKEW_MS 50

typedef struct recent_ent {
    int64_t at; /* wall ms it was routed */
    brk_msg_t *m;
} recent_ent_t;

struct recent_shard {
    pthread_mutex_t mu;
    recent_ent_t v[RECENT_MAX]; /* ring */
    uint32_t head, n;
    size_t bytes;
};

struct brk_recent {
    recent_shard_t s[RECENT_SHARDS];
};

brk_recent_t *brk_recent_new(void)
{
    brk_recent_t *r = calloc(1, sizeof(*r));
    for (int i = 0; r && i < RECENT_SHARDS; i++)
        pthread_mutex_init(&r->s[i].mu, NULL);
    return r;
}

static size_t msg_bytes(const brk_msg_t *m)
{
    return sizeof(*m) + m->topic_len + m->payload_len + m->props_len;
}

/* The oldest entry goes (lock held). */
static void drop_head(recent_shard_t *sh)
{
    recent_ent_t *e = &sh->v[sh->head];
    if (e->m) {
        sh->bytes -= msg_bytes(e->m);
        brk_msg_unref(&e->m);
    }
    sh->head = (sh->head + 1) % RECENT_MAX;
    sh->n--;
}

void brk_recent_free(brk_recent_t *r)
{
    for (int i = 0; r && i < RECENT_SHARDS; i++) {
        while (r->s[i].n)
            drop_head(&r->s[i]);
        pthread_mutex_destroy(&r->s[i].mu);
    }
    free(r);
}

recent_shard_t *brk_recent_lock(brk_recent_t *r, const brk_worker_t *w)
{
    recent_shard_t *sh = &r->s[w ? (unsigned)w->index % RECENT_SHARDS : 0];
    pthread_mutex_lock(&sh->mu);
    return sh;
}

void brk_recent_unlock(recent_shard_t *sh)
{
    pthread_mutex_unlock(&sh->mu);
}

void brk_recent_keep(recent_shard_t *sh, brk_msg_t *m)
{
    int64_t now = brk_wall_ms();
    size_t sz = msg_bytes(m);
    while (sh->n && (sh->n == RECENT_MAX || sh->bytes + sz > RECENT_BYTES ||
                     now - sh->v[sh->head].at > RECENT_MS))
        drop_head(sh);
    if (sz > RECENT_BYTES) return;
    sh->v[(sh->head + sh->n) % RECENT_MAX] = (recent_ent_t){now, brk_msg_ref(m)};
    sh->n++;
    sh->bytes += sz;
}

/* The kept messages of sh since `since` that match f go to msgs (lock
 * held). */
static uint32_t send_kept(brk_cluster_t *cl, recent_shard_t *sh, const char *f, uint16_t len,
                          int64_t since)
{
    uint32_t sent = 0;
    for (uint32_t i = 0; i < sh->n; i++) {
        recent_ent_t *e = &sh->v[(sh->head + i) % RECENT_MAX];
        if (!e->m || e->at < since ||
            !mqtt_topic_match((const uint8_t *)f, len, (const uint8_t *)e->m->topic,
                              e->m->topic_len))
            continue;
        uint32_t expiry_s = 0;
        if (e->m->expire_at_ms) {
            int64_t left = (e->m->expire_at_ms - brk_now_ms() + 999) / 1000;
            if (left <= 0) continue;
            expiry_s = (uint32_t)left;
        }
        if (brk_cluster_send_again(cl, e->m, expiry_s, NULL, 0) < 0) continue;
        sh->bytes -= msg_bytes(e->m);
        brk_msg_unref(&e->m); /* sent: not again for another node */
        sent++;
    }
    return sent;
}

void brk_recent_interest(brk_cluster_t *cl, const char *node, const char *f, uint16_t len,
                         int64_t at_ms,
                         bool (*add)(brk_cluster_t *, const char *, const char *, uint16_t))
{
    brk_recent_t *r = cl->recent;
    if (!r) {
        (void)add(cl, node, f, len);
        return;
    }
    for (int i = 0; i < RECENT_SHARDS; i++)
        pthread_mutex_lock(&r->s[i].mu);
    uint32_t sent = 0;
    if (add(cl, node, f, len) && at_ms > 0)
        for (int i = 0; i < RECENT_SHARDS; i++)
            sent += send_kept(cl, &r->s[i], f, len, at_ms - RECENT_SKEW_MS);
    for (int i = RECENT_SHARDS; i-- > 0;)
        pthread_mutex_unlock(&r->s[i].mu);
    if (sent) atomic_fetch_add(&cl->recent_sent, sent);
}
