/*
 * kafka.c - the broker's side of the Kafka bridge: the bridge is one more
 * consumer of what clients publish (brk_kafka_offer, before local routing
 * so that a full spool can refuse the PUBLISH outright), and a producer of
 * messages routed like any other (the inject hook, on a bridge thread).
 * bridge/ never sees a connection; this file never sees librdkafka.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "brk.h"
#include "store.h"

static void inject_done(void *arg, int err)
{
    brk_waiter_t *wt = arg;
    pthread_mutex_lock(&wt->lock);
    wt->err = err;
    wt->done = true;
    pthread_cond_signal(&wt->cond);
    pthread_mutex_unlock(&wt->lock);
}

/* Kafka -> MQTT. Returns once the message is with every matching local
 * subscriber (and, with sync "always", durable for offline ones), so the
 * bridge may commit the offset. */
static int inject(void *ctx, const bridge_msg_t *bm)
{
    brk_t *b = ctx;
    if (!bm->topic_len || !mqtt_topic_valid((const uint8_t *)bm->topic, bm->topic_len)) {
        brk_log(b, BRK_LOG_WARN, "SLUICE-KAFKA-BAD-TOPIC", "from_kafka: record skipped: bad topic");
        return 0; /* not routable, ever: committing it loses nothing routable */
    }
    brk_msg_t *m = brk_msg_new((const uint8_t *)bm->topic, bm->topic_len, bm->payload,
                               bm->payload_len, bm->props_len, bm->qos, bm->retain);
    if (!m) return -1;
    if (bm->props_len) memcpy((uint8_t *)m->props, bm->props, bm->props_len);
    brk_route(b, NULL, m);
    brk_msg_unref(&m);
    if (!b->sync_always) return 0;
    brk_waiter_t wt = {.done = false};
    pthread_mutex_init(&wt.lock, NULL);
    pthread_cond_init(&wt.cond, NULL);
    int rc = 0;
    if (brk_persist_barrier(b, inject_done, &wt)) {
        pthread_mutex_lock(&wt.lock);
        while (!wt.done)
            pthread_cond_wait(&wt.cond, &wt.lock);
        pthread_mutex_unlock(&wt.lock);
        rc = wt.err ? -1 : 0;
    }
    pthread_mutex_destroy(&wt.lock);
    pthread_cond_destroy(&wt.cond);
    return rc;
}

/* The bridge's state changes, logged once each with a stable id (bridge
 * poll thread). docs/KAFKA.md "Health" lists them. */
static void on_event(void *ctx, int ev, const char *detail)
{
    static const struct {
        int level;
        const char *id;
    } ids[] = {
        [BRIDGE_EV_KAFKA_DOWN] = {BRK_LOG_ERROR, "SLUICE-KAFKA-DOWN"},
        [BRIDGE_EV_KAFKA_UP] = {BRK_LOG_INFO, "SLUICE-KAFKA-UP"},
        [BRIDGE_EV_SPOOLING] = {BRK_LOG_WARN, "SLUICE-KAFKA-SPOOLING"},
        [BRIDGE_EV_DRAINED] = {BRK_LOG_INFO, "SLUICE-KAFKA-DRAINED"},
        [BRIDGE_EV_SPOOL_HIGH] = {BRK_LOG_ERROR, "SLUICE-KAFKA-SPOOL-HIGH"},
        [BRIDGE_EV_SPOOL_OK] = {BRK_LOG_INFO, "SLUICE-KAFKA-SPOOL-OK"},
        [BRIDGE_EV_DEAD_LETTER] = {BRK_LOG_ERROR, "SLUICE-KAFKA-DLQ"},
    };
    if (ev <= 0 || (size_t)ev >= sizeof(ids) / sizeof(ids[0]) || !ids[ev].id) return;
    brk_log(ctx, ids[ev].level, ids[ev].id, "%s", detail);
}

int brk_kafka_start(brk_t *b, char *err, size_t errlen)
{
    if (!b->cfg->kafka.bootstrap) return 0; /* main refused rules without Kafka */
    bridge_hooks_t hooks = {.inject = inject, .event = on_event, .ctx = b};
    bridge_t *br = NULL;
    if (bridge_new(b->cfg, b->store, &hooks, &br, err, errlen) != 0) return -1;
    b->bridge = br;
    if (bridge_start(br) != 0) {
        snprintf(err, errlen, "kafka: the bridge did not start");
        return -1;
    }
    return 0;
}

void brk_kafka_stop(brk_t *b)
{
    if (b->bridge) bridge_stop(b->bridge);
}

void brk_kafka_free(brk_t *b)
{
    bridge_free(b->bridge);
    b->bridge = NULL;
}

int brk_kafka_offer(brk_conn_t *c, const mqtt_publish_t *p, const brk_msg_t *m, uint64_t ack_seq)
{
    brk_t *b = c->w->b;
    if (!b->bridge) return BRK_KAFKA_NONE;
    bridge_msg_t bm = {.topic = m->topic,
                       .topic_len = m->topic_len,
                       .payload = m->payload,
                       .payload_len = m->payload_len,
                       .qos = p->qos,
                       .retain = p->retain,
                       .clientid = c->session ? c->session->client_id : "",
                       .username = c->username,
                       .props = m->props,
                       .props_len = m->props_len};
    brk_pending_t *pd = NULL;
    if (p->qos) {
        if (!(pd = calloc(1, sizeof(*pd)))) return BRK_KAFKA_FULL;
        pd->c = c;
        pd->seq = ack_seq;
        atomic_fetch_add(&c->refs, 1);
    }
    int rc = bridge_offer(b->bridge, &bm, pd ? brk_pending_complete : NULL, pd);
    if (rc != BRIDGE_PENDING && pd) {
        brk_conn_unref(c);
        free(pd);
    }
    switch (rc) {
    case BRIDGE_PENDING:
        return BRK_KAFKA_PENDING;
    case BRIDGE_FULL:
        brk_count(&c->w->st.dropped, 1);
        return BRK_KAFKA_FULL;
    case BRIDGE_ERR:
        brk_log(b, BRK_LOG_ERROR, "SLUICE-KAFKA-OFFER", "%s: bridge refused a message on %s",
                c->peer, m->topic);
        return BRK_KAFKA_FULL;
    default:
        return BRK_KAFKA_NONE;
    }
}

void brk_kafka_stats(brk_t *b, void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
    if (!b->bridge) return;
    bridge_stats_t st;
    bridge_get_stats(b->bridge, &st);
    fn(arg, "produced", st.produced);
    fn(arg, "acknowledged", st.acked);
    fn(arg, "failed", st.failed);
    fn(arg, "spooled", st.spooled);
    fn(arg, "spool/depth", st.spool_depth);
    fn(arg, "spool/bytes", st.spool_bytes);
    fn(arg, "dead_lettered", st.dead_lettered);
    fn(arg, "consumed", st.consumed);
    fn(arg, "delivered", st.delivered);
    fn(arg, "consumer_lag", st.consumer_lag);
    fn(arg, "dropped", st.dropped);
    fn(arg, "producer_renewals", st.producer_renewals);
    fn(arg, "headers_skipped", st.headers_skipped);
    fn(arg, "unreachable_ms", st.kafka_down_ms);
}
