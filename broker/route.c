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

uint32_t brk_route(brk_t *b, brk_worker_t *w, brk_msg_t *m)
{
    brk_origin_t o = {.kind = BRK_ORIGIN_BROKER, .client_id = ""};
    return brk_route_from(b, w, m, &o);
}

uint32_t brk_route_from(brk_t *b, brk_worker_t *w, brk_msg_t *m, brk_origin_t *o)
{
    /* sinks first: a sink that cannot take the message (Kafka spool full)
     * refuses it before any subscriber or the retained map got it */
    brk_sinks_offer(b, w, m, o);
    if (o->refused) return 0;
    if (m->retain) {
        /* one order for memory and disk, or a restart could bring back
         * the older of two racing retained messages */
        pthread_mutex_lock(&b->retain_order);
        brk_retain_set(b->retain, m);
        brk_persist_retained(b, m);
        if (w && b->store) w->route_writes++;
        pthread_mutex_unlock(&b->retain_order);
    }
    brk_matches_t local = {0};
    brk_matches_t *mt = w ? &w->matches : &local;
    brk_subs_rdlock(b->subs);
    brk_subs_match(b->subs, m->topic, m->topic_len, m->origin, mt);
    if (mt->n > 1) brk_persist_pin(b, m);
    for (uint32_t i = 0; i < mt->n; i++) {
        const brk_match_t *x = &mt->v[i];
        if (b->acl_on && brk_acl_session(x->s, m->topic, m->topic_len, BRK_ACL_RECEIVE)) continue;
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
