/*
 * route.c - the path of one message: sinks (sink.h), retained update,
 * match, deliver.
 *
 * The subscription read lock is held while delivering, so a session found
 * by the match cannot be destroyed under us (destruction removes its
 * subscriptions under the write lock first).
 */
#include <stdlib.h>

#include "acl.h"
#include "brk.h"
#include "sink.h"

/* Pin the body of a QoS 1/2 fan-out only if at least two of the matched
 * sessions will write it to the store (persistent, granted QoS > 0): with
 * fewer, the pin is a second copy of every body, not a saving (clean
 * sessions write nothing at all). */
static bool pin_pays(brk_t *b, const brk_msg_t *m, const brk_matches_t *mt)
{
    if (!b->store || !m->qos || mt->n < 2) return false;
    uint32_t writers = 0;
    for (uint32_t i = 0; i < mt->n && writers < 2; i++) {
        brk_session_t *s = mt->v[i].s;
        if (!mt->v[i].qos) continue;
        pthread_mutex_lock(&s->lock); /* expiry changes at DISCONNECT */
        writers += brk_persist_on(s) && !s->ended;
        pthread_mutex_unlock(&s->lock);
    }
    return writers >= 2;
}

void brk_route_retain(brk_t *b, brk_worker_t *w, brk_msg_t *m)
{
    /* one order for memory and disk, or a restart could bring back the
     * older of two racing retained messages */
    pthread_mutex_lock(&b->retain_order);
    int rc = brk_retain_set(b->retain, m);
    if (rc == BRK_RETAIN_OK) {
        brk_persist_retained(b, m);
        if (w && b->store) w->route_writes++;
    }
    pthread_mutex_unlock(&b->retain_order);
    if (rc != BRK_RETAIN_OK) /* delivered live, not kept */
        brk_limit_hit(b,
                      rc == BRK_RETAIN_FULL_COUNT ? BRK_LIMIT_RETAINED : BRK_LIMIT_RETAINED_BYTES);
}

uint32_t brk_route(brk_t *b, brk_worker_t *w, brk_msg_t *m)
{
    brk_origin_t o = {.kind = BRK_ORIGIN_BROKER, .client_id = ""};
    return brk_route_from(b, w, m, &o);
}

/* Retained state and local subscribers (the sinks took m). */
static uint32_t route_local(brk_t *b, brk_worker_t *w, brk_msg_t *m, const brk_origin_t *o)
{
    /* a cluster node's retained message arrives by <prefix>.retained, in
     * that topic's order (cluster.c), not by its live copy */
    if (m->retain && o->kind != BRK_ORIGIN_CLUSTER) brk_route_retain(b, w, m);
    brk_matches_t local = {0};
    brk_matches_t *mt = w ? &w->matches : &local;
    brk_subs_rdlock(b->subs);
    brk_subs_match(b->subs, m->topic, m->topic_len, m->origin, mt);
    if (pin_pays(b, m, mt)) brk_persist_pin(b, m);
    for (uint32_t i = 0; i < mt->n; i++) {
        const brk_match_t *x = &mt->v[i];
        if (b->acl_on && brk_acl_session(x->s, m->topic, m->topic_len, BRK_ACL_RECEIVE)) continue;
        /* a group another cluster node was picked to deliver to */
        if (x->share && o->share_skip_len && brk_origin_skips(o, x->share->filter, x->share->len))
            continue;
        if (o->shares_only && !x->share) continue; /* a re-send for groups (cluster_share.c) */
        uint8_t qos = m->qos < x->qos ? m->qos : x->qos;
        /* live deliveries carry retain=0 unless retain-as-published (MQTT-3.3.1-9) */
        brk_session_deliver(x->s, w, m, qos, x->rap && m->retain, x->sub_ids, x->n_sub_ids,
                            x->share);
    }
    uint32_t n = mt->n;
    brk_subs_unlock(b->subs);
    brk_persist_unpin(b, m);
    brk_matches_free(&local);
    return n;
}

/* Count this route in the current epoch's half (cluster only). */
static _Atomic uint64_t *gate_enter(brk_t *b)
{
    for (;;) {
        uint32_t e = atomic_load(&b->route_epoch) & 1;
        atomic_fetch_add(&b->routing[e], 1);
        if ((atomic_load(&b->route_epoch) & 1) == e) return &b->routing[e];
        atomic_fetch_sub(&b->routing[e], 1); /* flipped meanwhile: the other half */
    }
}

uint32_t brk_route_flip(brk_t *b)
{
    return atomic_fetch_add(&b->route_epoch, 1) & 1;
}

bool brk_route_quiet(brk_t *b, uint32_t half)
{
    return atomic_load(&b->routing[half & 1]) == 0;
}

uint32_t brk_route_from(brk_t *b, brk_worker_t *w, brk_msg_t *m, brk_origin_t *o)
{
    /* a session moving to another node waits for the routes that decided
     * before it where their messages go (cluster_session.c) */
    _Atomic uint64_t *gate = b->cluster ? gate_enter(b) : NULL;
    /* sinks first: a sink that cannot take the message (Kafka spool full)
     * refuses it before any subscriber or the retained map got it */
    brk_sinks_offer(b, w, m, o);
    uint32_t n = o->refused ? 0 : route_local(b, w, m, o);
    free(o->share_skip);
    o->share_skip = NULL;
    o->share_skip_len = 0;
    if (gate) atomic_fetch_sub(gate, 1);
    return n;
}
