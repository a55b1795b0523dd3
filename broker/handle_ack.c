/*
 * handle_ack.c - the QoS acknowledgements, DISCONNECT and AUTH.
 */
#include <stdlib.h>

#include "brk.h"

static void reply(brk_conn_t *c, mqtt_type_t type, uint16_t pid, uint8_t reason)
{
    mqtt_packet_t r = {.type = type, .u.ack = {.packet_id = pid, .reason = reason}};
    brk_conn_send_packet(c, &r);
}

/* An ack of the wrong kind for a packet id in flight (MQTT-4.3.2, 4.3.3):
 * the exchange cannot continue. Unknown ids stay tolerated (MQTT 5 4.3.3:
 * a PUBREL/PUBCOMP may legitimately cross a reconnect). */
static int wrong_ack(brk_conn_t *c)
{
    brk_count(&c->w->st.bad_packets, 1);
    brk_log(c->w->b, BRK_LOG_DEBUG, "SLUICE-WRONG-ACK", "%s: acknowledgement of the wrong kind",
            c->peer);
    brk_conn_close(c, MQTT_RC_PROTOCOL_ERROR);
    return -1;
}

int brk_handle_ack(brk_conn_t *c, mqtt_type_t type, mqtt_ack_t *p)
{
    brk_session_t *s = c->session;
    switch (type) {
    case MQTT_PUBACK:
    case MQTT_PUBCOMP:
        if (brk_session_ack(s, c, p->packet_id, (uint8_t)type) == BRK_ACK_WRONG)
            return wrong_ack(c);
        return 0;
    case MQTT_PUBREC: {
        int rc = brk_session_ack(s, c, p->packet_id, MQTT_PUBREC);
        if (rc == BRK_ACK_WRONG) return wrong_ack(c);
        bool known = rc == BRK_ACK_OK;
        if (p->reason >= 0x80) { /* the receiver refused it: the exchange ends here */
            brk_session_ack(s, c, p->packet_id, MQTT_PUBCOMP);
            return 0;
        }
        if (known && c->w->b->sync_always && brk_persist_on(s)) {
            /* PUBREL says "I will not send this again": only once the
             * state that says so is on disk (behind its update) */
            brk_pending_t *pd = calloc(1, sizeof(*pd));
            if (pd) {
                pd->c = c;
                pd->seq = brk_conn_ack(c, MQTT_PUBREL, p->packet_id, 0, 1);
                atomic_fetch_add(&c->refs, 1);
                if (brk_persist_barrier(c->w->b, brk_pending_complete, pd)) return 0;
                uint64_t seq = pd->seq;
                brk_conn_unref(c);
                free(pd);
                brk_conn_ack_done(c, seq, 0);
                return 0;
            }
        }
        reply(c, MQTT_PUBREL, p->packet_id, known ? 0 : MQTT_RC_PACKET_ID_NOT_FOUND);
        return 0;
    }
    case MQTT_PUBREL: {
        bool known = brk_session_in2_remove(s, p->packet_id);
        reply(c, MQTT_PUBCOMP, p->packet_id, known ? 0 : MQTT_RC_PACKET_ID_NOT_FOUND);
        return 0;
    }
    default:
        return 0;
    }
}

int brk_handle_disconnect(brk_conn_t *c, mqtt_reason_pkt_t *p)
{
    brk_session_t *s = c->session;
    if (c->version == MQTT_V5 && (p->props.present & MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY))) {
        pthread_mutex_lock(&s->lock);
        bool was_zero = s->expiry == 0;
        pthread_mutex_unlock(&s->lock);
        if (was_zero && p->props.session_expiry) { /* MQTT-3.14.2-2 */
            brk_conn_close(c, MQTT_RC_PROTOCOL_ERROR);
            return -1;
        }
        /* the operator's cap holds here as at CONNECT */
        uint32_t cap = c->w->b->cfg->mqtt.max_session_expiry;
        pthread_mutex_lock(&s->lock);
        s->expiry = p->props.session_expiry < cap ? p->props.session_expiry : cap;
        pthread_mutex_unlock(&s->lock);
    }
    /* 0x04: disconnect with will message; any other: no will */
    c->disconnected_cleanly = !(c->version == MQTT_V5 && p->reason == MQTT_RC_DISCONNECT_WITH_WILL);
    c->got_disconnect = true;
    brk_conn_close(c, 0);
    return -1;
}

int brk_handle_auth(brk_conn_t *c, mqtt_reason_pkt_t *p)
{
    (void)p;
    /* no authentication method is offered, so AUTH can only be a protocol
     * error here (MQTT-4.12.0-1); methods plug in at CONNECT */
    brk_conn_close(c, MQTT_RC_PROTOCOL_ERROR);
    return -1;
}
