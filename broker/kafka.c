/*
 * kafka.c - the broker's side of the Kafka bridge: the bridge is one router
 * sink (sink.h), offered everything routed (client PUBLISHes, wills, the
 * admin API's) before local matching, so that a full spool can refuse a
 * client's PUBLISH outright; and a producer of messages routed like any
 * other (the inject hook, on a bridge thread), whose origin BRK_ORIGIN_KAFKA
 * keeps them out of the sink (no loop back to Kafka). bridge/ never sees a
 * connection; this file never sees librdkafka.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "brk.h"
#include "sink.h"
#include "store.h"

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
    brk_msg_t *m = brk_msg_copy((const uint8_t *)bm->topic, bm->topic_len, bm->payload,
                                bm->payload_len, bm->props, bm->props_len, bm->qos, bm->retain);
    if (!m) return -1;
    brk_origin_t o = {.kind = BRK_ORIGIN_KAFKA, .client_id = ""};
    brk_route_from(b, NULL, m, &o);
    brk_msg_unref(&m);
    /* with "always", the offset is committed only once durable */
    return b->sync_always ? brk_persist_wait(b) : 0;
}

void brk_kafka_msg(const brk_msg_t *m, const brk_origin_t *o, bridge_msg_t *out)
{
    *out = (bridge_msg_t){.topic = m->topic,
                          .topic_len = m->topic_len,
                          .payload = m->payload,
                          .payload_len = m->payload_len,
                          .qos = m->qos,
                          .retain = m->retain,
                          .clientid = o->client_id ? o->client_id : "",
                          .username = o->username,
                          .props = m->props,
                          .props_len = m->props_len};
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

/*
 * The sink. A client's QoS 1/2 PUBLISH matched by an ack "kafka" rule
 * holds its ack until Kafka (or the spool) has it; a full spool refuses
 * such a PUBLISH (the caller says 0x97 or pauses). Anything without a
 * publisher to tell (QoS 0, wills, the API) is never refused: it still
 * reaches local subscribers, and the bridge counts what it dropped.
 */
static int sink_offer(void *ctx, brk_worker_t *w, const brk_msg_t *m, brk_origin_t *o)
{
    brk_t *b = ctx;
    /* what came from Kafka does not go back (loop prevention); after
     * brk_kafka_free nothing is offered any more */
    if (o->kind == BRK_ORIGIN_KAFKA || !b->bridge) return BRK_SINK_PASS;
    /* another node's message went through its own rules already */
    if (o->kind == BRK_ORIGIN_CLUSTER) return BRK_SINK_PASS;
    bridge_msg_t bm;
    brk_kafka_msg(m, o, &bm);
    brk_conn_t *c = m->qos ? o->conn : NULL;
    brk_pending_t *pd = NULL;
    if (c && !(pd = brk_pending_new(c, o->ack_seq))) return BRK_SINK_REFUSE;
    int rc = bridge_offer(b->bridge, &bm, pd ? brk_pending_complete : NULL, pd);
    if (rc != BRIDGE_PENDING) brk_pending_drop(pd);
    switch (rc) {
    case BRIDGE_PENDING:
        /* its completion comes through our inbox, so after this returns */
        brk_conn_ack_hold(c, o->ack_seq);
        return BRK_SINK_HELD;
    case BRIDGE_FULL:
        if (w && o->kind != BRK_ORIGIN_API) brk_count(&w->st.dropped, 1);
        return c || o->kind == BRK_ORIGIN_API ? BRK_SINK_REFUSE : BRK_SINK_PASS;
    case BRIDGE_ERR:
        brk_log(b, BRK_LOG_ERROR, "SLUICE-KAFKA-OFFER", "%s: bridge refused a message on %s",
                o->client_id && *o->client_id ? o->client_id : "-", m->topic);
        return c || o->kind == BRK_ORIGIN_API ? BRK_SINK_REFUSE : BRK_SINK_PASS;
    case BRIDGE_DONE:
        return BRK_SINK_TAKEN;
    default:
        return BRK_SINK_PASS;
    }
}

int brk_kafka_start(brk_t *b, char *err, size_t errlen)
{
    if (!b->cfg->kafka.bootstrap) return 0; /* main refused rules without Kafka */
    bridge_hooks_t hooks = {
        .inject = inject, .event = on_event, .ctx = b, .incarnation = b->incarnation};
    bridge_t *br = NULL;
    if (bridge_new(b->cfg, b->store, &hooks, &br, err, errlen) != 0) return -1;
    b->bridge = br;
    /* before bridge_start: its consumers route from then on */
    brk_sink_t sink = {.name = "kafka", .offer = sink_offer, .ctx = b};
    if (brk_sink_add(b, &sink) != 0) {
        snprintf(err, errlen, "kafka: no room for another router sink");
        return -1;
    }
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
