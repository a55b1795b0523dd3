/*
 * handle_publish.c - inbound PUBLISH: resolve the topic alias, check what
 * the specification and the config forbid, build the one immutable message,
 * route it, acknowledge. QoS 2 is exactly-once: a packet id already
 * awaiting PUBREL is acknowledged again but never routed twice.
 */
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "brk.h"
#include "store.h"

static int fail(brk_conn_t *c, uint8_t reason)
{
    brk_count(&c->w->st.bad_packets, 1);
    brk_conn_close(c, reason);
    return -1;
}

/* MQTT 5 topic alias (MQTT-3.3.2-7..-12): set or resolve. */
static int resolve_alias(brk_conn_t *c, mqtt_publish_t *p)
{
    if (!(p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS))) {
        return p->topic.len ? 0 : fail(c, MQTT_RC_PROTOCOL_ERROR);
    }
    uint16_t a = p->props.topic_alias;
    if (a == 0 || a > c->alias_max_in || !c->aliases_in)
        return fail(c, MQTT_RC_TOPIC_ALIAS_INVALID);
    mqtt_str_t *slot = &c->aliases_in[a];
    if (p->topic.len) {
        uint8_t *copy = malloc(p->topic.len);
        if (!copy) return fail(c, MQTT_RC_UNSPECIFIED);
        memcpy(copy, p->topic.p, p->topic.len);
        free((void *)slot->p);
        *slot = (mqtt_str_t){copy, p->topic.len};
        return 0;
    }
    if (!slot->p) return fail(c, MQTT_RC_PROTOCOL_ERROR);
    p->topic = *slot;
    return 0;
}

/*
 * Acknowledge in PUBLISH order once everything the PUBLISH set going is
 * safe: Kafka's acknowledgement (when a rule said ack "kafka": `kafka`
 * completions) and, with persistence.sync "always", a store barrier
 * submitted after every write the routing made.
 */
static void ack(brk_conn_t *c, mqtt_type_t type, uint16_t pid, uint8_t reason, bool durable,
                bool kafka, brk_flow_t *flow)
{
    brk_t *b = c->w->b;
    /* "always": every QoS 1/2 ack waits for the fsync. "batch": an ack
     * whose PUBLISH wrote to the store waits for that write (no fsync),
     * which is what keeps publishers from outrunning the store thread */
    bool barrier = durable && reason < 0x80 && b->store && (b->sync_always || c->w->route_writes);
    uint64_t seq =
        brk_conn_ack(c, (uint8_t)type, pid, reason, (uint8_t)(barrier + kafka + (flow != NULL)));
    if (flow) brk_flow_attach(flow, c, seq); /* a subscriber's queue is over its mark */
    if (!barrier) return;
    brk_pending_t *pd = calloc(1, sizeof(*pd));
    if (pd) {
        pd->c = c;
        pd->seq = seq;
        atomic_fetch_add(&c->refs, 1);
        if (brk_persist_barrier(b, brk_pending_complete, pd)) return;
        brk_conn_unref(c);
        free(pd);
    }
    brk_conn_ack_done(c, seq, -1); /* could not make it durable: refuse */
}

/*
 * MQTT 5 Receive Maximum (MQTT-3.3.4-9): the client may have at most
 * mqtt.receive_maximum QoS 1/2 PUBLISHes it has not had the ack for: the
 * PUBACKs still queued (they may wait for Kafka or the store) plus the
 * QoS 2 ids awaiting PUBREL. A QoS 2 retransmission of an id already held
 * does not add one.
 */
static bool over_receive_max(brk_conn_t *c, const mqtt_publish_t *p)
{
    brk_session_t *s = c->session;
    bool again = false;
    pthread_mutex_lock(&s->lock);
    uint32_t n = s->in2_len + c->acks_puback;
    for (uint32_t i = 0; p->qos == 2 && i < s->in2_len && !again; i++)
        again = s->in2[i] == p->packet_id;
    pthread_mutex_unlock(&s->lock);
    return !again && n >= c->w->b->cfg->mqtt.receive_maximum;
}

/* Topics of the broker's own $SYS tree, which clients do not write into. */
static bool is_sys(const mqtt_str_t *t)
{
    return t->len >= 4 && memcmp(t->p, "$SYS", 4) == 0 && (t->len == 4 || t->p[4] == '/');
}

int brk_handle_publish(brk_conn_t *c, mqtt_publish_t *p)
{
    brk_t *b = c->w->b;
    brk_session_t *s = c->session;
    mqtt_type_t ack_type = p->qos == 2 ? MQTT_PUBREC : MQTT_PUBACK;
    if (c->version == MQTT_V5 && resolve_alias(c, p) < 0) return -1;
    if (p->retain && !b->cfg->mqtt.retain_available) return fail(c, MQTT_RC_RETAIN_NOT_SUPPORTED);
    if (c->version == MQTT_V5 && p->qos && over_receive_max(c, p)) {
        brk_log(b, BRK_LOG_DEBUG, "SLUICE-RECEIVE-MAX", "%s: more than %u unacknowledged PUBLISH",
                c->peer, (unsigned)b->cfg->mqtt.receive_maximum);
        return fail(c, MQTT_RC_RECEIVE_MAX_EXCEEDED);
    }
    if (p->qos && b->store && store_is_degraded(b->store)) {
        /* the disk is full: refuse what we could not keep (0x97), never ack it */
        if (c->version != MQTT_V5) return fail(c, 0);
        brk_conn_ack(c, ack_type, p->packet_id, MQTT_RC_QUOTA_EXCEEDED, 0);
        return 0;
    }
    /* not allowed: v5 hears 0x87; 3.1.1 cannot say no, so the PUBLISH is
     * acknowledged and dropped (as Mosquitto does) */
    int verdict =
        brk_acl_session(s, (const char *)p->topic.p, (uint16_t)p->topic.len, BRK_ACL_PUBLISH);
    if (verdict == BRK_ACL_WAIT) return BRK_PAUSE; /* the HTTP hook: this PUBLISH again later */
    bool denied = verdict != BRK_ACL_ALLOW;
    uint8_t reason = denied && c->version == MQTT_V5 ? MQTT_RC_NOT_AUTHORIZED : 0;
    if (!reason && c->version == MQTT_V5 &&
        (p->props.present & MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT)) &&
        p->props.payload_format == 1 && !mqtt_utf8_valid(p->payload.p, p->payload.len))
        reason = MQTT_RC_PAYLOAD_FORMAT_INVALID; /* MQTT-3.3.2-4 */

    if (p->qos == 2 && !brk_session_in2_add(s, p->packet_id)) {
        /* retransmission: already routed; answered after the first one */
        ack(c, MQTT_PUBREC, p->packet_id, 0, false, false, NULL);
        return 0;
    }
    /* $SYS is the broker's: a v5 client is told 0x87 (QoS 0: dropped and
     * counted); 3.1.1 has no refusal, so it is acknowledged and dropped, as
     * Mosquitto does */
    bool sys = is_sys(&p->topic);
    if (sys) {
        brk_count(&c->w->st.dropped, 1);
        if (c->version == MQTT_V5 && !reason) reason = MQTT_RC_NOT_AUTHORIZED;
    }
    bool kafka = false;
    brk_flow_t *flow = NULL;
    if (!reason && !sys && !denied) {
        uint32_t plen = c->version == MQTT_V5 ? brk_msg_props_size(&p->props) : 0;
        brk_msg_t *m = brk_msg_new(p->topic.p, (uint16_t)p->topic.len, p->payload.p, p->payload.len,
                                   plen, p->qos, p->retain);
        if (!m) return fail(c, MQTT_RC_UNSPECIFIED);
        if (plen) brk_msg_props_write(&p->props, (uint8_t *)m->props, plen);
        if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY))
            m->expire_at_ms = brk_now_ms() + (int64_t)p->props.message_expiry * 1000;
        m->origin = s;
        /* Kafka first: a full spool refuses the PUBLISH before anyone got it.
         * Our ack will be number ack_base + ack_len (nothing else queues one
         * on this connection meanwhile; completions arrive through our inbox). */
        c->w->route_writes = 0;
        int k = brk_kafka_offer(c, p, m, c->ack_base + c->ack_len);
        if (k == BRK_KAFKA_FULL && p->qos) {
            brk_msg_unref(&m);
            if (p->qos == 2) brk_session_in2_remove(s, p->packet_id);
            if (c->version != MQTT_V5) return BRK_PAUSE; /* 3.1.1: stop reading, retry */
            brk_conn_ack(c, ack_type, p->packet_id, MQTT_RC_QUOTA_EXCEEDED, 0);
            return 0;
        }
        kafka = k == BRK_KAFKA_PENDING;
        if (p->qos) brk_flow_begin(c->w, c);
        uint32_t n = brk_route(b, c->w, m);
        flow = brk_flow_end(c->w);
        brk_msg_unref(&m);
        if (!n && !kafka && c->version == MQTT_V5 && p->qos)
            reason = MQTT_RC_NO_MATCHING_SUBSCRIBERS;
        brk_count(&c->w->st.msgs_in, 1);
    }
    if (reason >= 0x80 && p->qos == 2) brk_session_in2_remove(s, p->packet_id);
    if (p->qos) ack(c, ack_type, p->packet_id, reason, true, kafka, flow);
    return 0;
}
