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
#include "sink.h"
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

/* A topic over mqtt.max_topic_levels or max_topic_length: MQTT 5 QoS 1/2
 * get 0x90 in their acknowledgement and the connection stays; QoS 0 has no
 * acknowledgement, so DISCONNECT 0x90; 3.1.1 has no reason codes: close. */
static int topic_refused(brk_conn_t *c, const mqtt_publish_t *p, int lim)
{
    brk_limit_hit(c->w->b,
                  lim == BRK_TOPIC_TOO_DEEP ? BRK_LIMIT_TOPIC_LEVELS : BRK_LIMIT_TOPIC_LENGTH);
    if (c->version != MQTT_V5 || !p->qos) return fail(c, MQTT_RC_TOPIC_NAME_INVALID);
    brk_conn_ack(c, p->qos == 2 ? MQTT_PUBREC : MQTT_PUBACK, p->packet_id,
                 MQTT_RC_TOPIC_NAME_INVALID, 0);
    return 0;
}

/* A retained PUBLISH over mqtt.max_retained(_bytes): an MQTT 5 QoS 1/2
 * one is refused whole with 0x97 (nothing routed, so the code means what
 * it says); QoS 0 and 3.1.1 cannot be told, so those go to the current
 * subscribers without being kept (brk_route counts it). */
static uint8_t retained_refusal(brk_conn_t *c, const mqtt_publish_t *p, const brk_msg_t *m)
{
    if (!p->retain || !p->qos || c->version != MQTT_V5) return 0;
    int rc = brk_retain_fits(c->w->b->retain, m);
    if (rc == BRK_RETAIN_OK) return 0;
    brk_limit_hit(c->w->b,
                  rc == BRK_RETAIN_FULL_COUNT ? BRK_LIMIT_RETAINED : BRK_LIMIT_RETAINED_BYTES);
    return MQTT_RC_QUOTA_EXCEEDED;
}

/*
 * The ack was queued before routing with one wait, the routing's own, and
 * the sinks (Kafka, ack "kafka") added theirs while it routed. Now flow
 * control (a subscriber's queue over its mark) and the store: with
 * persistence.sync "always" every QoS 1/2 ack waits for a barrier submitted
 * after every write the routing made (the end of the worker's pass: one
 * barrier for all the pass's acks); with "batch" an ack whose PUBLISH
 * wrote to the store waits for that write (no fsync), which is what keeps
 * publishers from outrunning the store thread. Then our own wait goes, and
 * the ack leaves (in PUBLISH order) once the last of them completed.
 */
static void ack_complete(brk_conn_t *c, uint64_t seq, uint8_t reason, brk_flow_t *flow)
{
    brk_t *b = c->w->b;
    if (flow) {
        brk_conn_ack_hold(c, seq);
        brk_flow_attach(flow, c, seq);
    }
    if (reason < 0x80 && b->store && (b->sync_always || c->w->route_writes))
        brk_conn_ack_store(c, seq); /* one barrier for the pass, after all its writes */
    brk_conn_ack_done(c, seq, 0);
}

/*
 * A sink refused the PUBLISH (Kafka spool full), so nothing was routed.
 * The queued ack is the newest (nothing queued behind it while we routed):
 * it is taken back; 3.1.1 cannot say no, so the connection stops reading
 * and this PUBLISH is handled again later (BRK_PAUSE); v5 hears 0x97. If a
 * sink before the refusing one holds the ack, it stays and is refused in
 * order when that hold completes (0x97; 3.1.1: closed).
 */
static int refuse(brk_conn_t *c, const mqtt_publish_t *p, mqtt_type_t type, uint64_t seq,
                  const brk_origin_t *o)
{
    if (p->qos == 2) brk_session_in2_remove(c->session, p->packet_id);
    if (o->holds || !brk_conn_ack_withdraw(c, seq)) {
        brk_conn_ack_done(c, seq, -1);
        return 0;
    }
    if (c->version != MQTT_V5) return BRK_PAUSE;
    brk_conn_ack(c, type, p->packet_id, MQTT_RC_QUOTA_EXCEEDED, 0);
    return 0;
}

/* Build the one message and route it from this client: the ack's reason
 * (0, or 0x10 when nobody took it), or -1 (closed). o says whether a sink
 * refused it, *flow whether a subscriber's queue holds the ack. */
static int route(brk_conn_t *c, const mqtt_publish_t *p, uint64_t seq, brk_origin_t *o,
                 brk_flow_t **flow)
{
    brk_session_t *s = c->session;
    uint32_t plen = c->version == MQTT_V5 ? mqtt_props_forward_size(&p->props) : 0;
    brk_msg_t *m = brk_msg_new(p->topic.p, (uint16_t)p->topic.len, p->payload.p, p->payload.len,
                               plen, p->qos, p->retain);
    if (!m) return fail(c, MQTT_RC_UNSPECIFIED);
    if (plen) mqtt_props_forward_write(&p->props, (uint8_t *)m->props, plen);
    if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY))
        m->expire_at_ms = brk_now_ms() + (int64_t)p->props.message_expiry * 1000;
    m->origin = s;
    uint8_t refusal = retained_refusal(c, p, m);
    if (refusal) {
        brk_msg_unref(&m);
        *o = (brk_origin_t){.kind = BRK_ORIGIN_CLIENT};
        return refusal;
    }
    *o = (brk_origin_t){.kind = BRK_ORIGIN_CLIENT,
                        .client_id = s->client_id,
                        .username = c->username,
                        .conn = p->qos ? c : NULL,
                        .ack_seq = seq};
    c->w->route_writes = 0;
    if (p->qos) brk_flow_begin(c->w, c);
    uint32_t n = brk_route_from(c->w->b, c->w, m, o);
    *flow = brk_flow_end(c->w);
    brk_msg_unref(&m);
    if (o->refused) return 0;
    if (p->retain && !p->qos && c->w->route_writes) brk_store_hold(c); /* no ack waits for it */
    brk_count(&c->w->st.msgs_in, 1);
    /* a sink holding the ack (Kafka) counts as a taker */
    return !n && !o->holds && c->version == MQTT_V5 && p->qos ? MQTT_RC_NO_MATCHING_SUBSCRIBERS : 0;
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
    /* a retained QoS 0 PUBLISH writes with no ack to wait on (brk_store_hold) */
    if (p->retain && !p->qos && brk_store_busy(c)) return BRK_PAUSE;
    if (c->version == MQTT_V5 && resolve_alias(c, p) < 0) return -1;
    int lim = brk_topic_limits(b->cfg, p->topic.p, p->topic.len);
    if (lim != BRK_TOPIC_OK) return topic_refused(c, p, lim);
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
        brk_conn_ack(c, MQTT_PUBREC, p->packet_id, 0, 0);
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
    /* the ack is queued first, waiting for the routing: whoever else it
     * must wait for (sinks, flow control, the store) adds a wait to it */
    uint64_t seq = p->qos ? brk_conn_ack(c, ack_type, p->packet_id, reason, 1) : 0;
    brk_flow_t *flow = NULL;
    if (!reason && !sys && !denied) {
        brk_origin_t o;
        int r = route(c, p, seq, &o, &flow);
        if (r < 0) return -1;
        if (o.refused) return refuse(c, p, ack_type, seq, &o);
        reason = (uint8_t)r;
        if (reason) brk_conn_ack_reason(c, seq, reason);
    }
    if (reason >= 0x80 && p->qos == 2) brk_session_in2_remove(s, p->packet_id);
    if (p->qos) ack_complete(c, seq, reason, flow);
    return 0;
}
