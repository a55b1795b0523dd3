/*
 * test_broker_session.c - session queues and in-flight windows
 * (session.c, reached through route.c): offline queueing, the max_queued
 * bound, the in-flight limit, acknowledgements freeing their slot.
 */
#include <string.h>

#include "test_broker.h"

static brk_session_t *session(fx_t *fx, const char *id, uint32_t expiry)
{
    brk_session_t *s = brk_session_new(fx->b, id, (uint16_t)strlen(id));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    s->expiry = expiry;
    return s;
}

static void deliver(brk_session_t *s, fx_t *fx, brk_msg_t *m, uint8_t qos, int times)
{
    for (int i = 0; i < times; i++)
        brk_session_deliver(s, fx->w, m, qos, false, NULL, 0, NULL);
}

/* PUBLISH packet ids c has written (3.1.1 frames), in order. */
static int published_pids(brk_conn_t *c, uint16_t *pids, int max)
{
    uint32_t len;
    const uint8_t *p = fx_out(c, &len);
    int n = 0;
    for (uint32_t off = 0; off + 2 <= len && n < max; off += 2u + p[off + 1]) {
        CU_ASSERT_EQUAL_FATAL(p[off] >> 4, MQTT_PUBLISH);
        CU_ASSERT_FATAL(p[off + 1] < 128); /* small frames only in these tests */
        uint32_t tl = (uint32_t)(p[off + 2] << 8 | p[off + 3]);
        pids[n++] = (uint16_t)(p[off + 4 + tl] << 8 | p[off + 5 + tl]);
    }
    return n;
}

static void test_offline_session_queues_qos1_and_qos2_but_not_qos0(void)
{
    fx_t fx;
    fx_open(&fx);
    brk_session_t *s = session(&fx, "persistent", 3600);
    brk_session_t *clean = session(&fx, "clean", 0);
    brk_msg_t *m = fx_msg("t", "x", 2);
    for (uint8_t qos = 0; qos <= 2; qos++) {
        deliver(s, &fx, m, qos, 1);
        deliver(clean, &fx, m, qos, 1);
    }
    CU_ASSERT_EQUAL(s->q_len, 2);
    CU_ASSERT_EQUAL(s->q[s->q_head].qos, 1);
    CU_ASSERT_EQUAL(clean->q_len, 0); /* ends at disconnect: nothing to keep */
    CU_ASSERT_EQUAL(atomic_load(&m->refs), 3);
    CU_ASSERT_EQUAL(fx_inbox_run(&fx), 0); /* offline: nobody to wake */
    brk_session_unref(s);
    brk_session_unref(clean);
    CU_ASSERT_EQUAL(atomic_load(&m->refs), 1);
    brk_msg_unref(&m);
    fx_close(&fx);
}

static void test_route_queues_for_offline_subscriber_at_granted_qos(void)
{
    fx_t fx;
    fx_open(&fx);
    brk_session_t *a = session(&fx, "a", 3600), *b = session(&fx, "b", 3600);
    CU_ASSERT_EQUAL(brk_subs_add(fx.b->subs, "d/+/t", 5, a, 1, 0), 1);
    CU_ASSERT_EQUAL(brk_subs_add(fx.b->subs, "d/#", 3, b, 2, 0), 1);
    brk_session_subrec_put(a, "d/+/t", 5, 1, 0); /* as SUBSCRIBE does: clear finds them */
    brk_session_subrec_put(b, "d/#", 3, 2, 0);
    brk_msg_t *m = fx_msg("d/7/t", "21.5", 2);
    CU_ASSERT_EQUAL(brk_route(fx.b, fx.w, m), 2);
    CU_ASSERT_EQUAL_FATAL(a->q_len, 1);
    CU_ASSERT_EQUAL_FATAL(b->q_len, 1);
    CU_ASSERT_EQUAL(a->q[a->q_head].qos, 1); /* min(message, subscription) */
    CU_ASSERT_EQUAL(b->q[b->q_head].qos, 2);
    CU_ASSERT_PTR_EQUAL(a->q[a->q_head].msg, m);
    brk_msg_t *other = fx_msg("e/7/t", "x", 1);
    CU_ASSERT_EQUAL(brk_route(fx.b, fx.w, other), 0);
    brk_session_clear(a);
    brk_session_clear(b);
    CU_ASSERT_EQUAL(brk_subs_count(fx.b->subs), 0);
    brk_session_unref(a);
    brk_session_unref(b);
    brk_msg_unref(&m);
    brk_msg_unref(&other);
    fx_close(&fx);
}

static void test_max_queued_drops_are_counted(void)
{
    fx_t fx;
    fx_open(&fx);
    fx.cfg->mqtt.max_queued = 3;
    brk_session_t *s = session(&fx, "slow", 3600);
    brk_msg_t *m = fx_msg("t", "x", 1);
    uint64_t dropped0 = brk_read(&fx.w->st.dropped);
    deliver(s, &fx, m, 1, 5);
    CU_ASSERT_EQUAL(s->q_len, 3);
    CU_ASSERT_EQUAL(brk_read(&s->dropped), 2);
    CU_ASSERT_EQUAL(brk_read(&fx.w->st.dropped) - dropped0, 2);
    CU_ASSERT_EQUAL(atomic_load(&m->refs), 1 + 3); /* a dropped one holds nothing */
    brk_session_unref(s);
    brk_msg_unref(&m);
    fx_close(&fx);
}

typedef struct online {
    fx_t fx;
    brk_session_t *s;
    brk_conn_t *c;
    brk_msg_t *m;
} online_t;

static void online_open(online_t *o, uint16_t max_inflight, uint16_t receive_max)
{
    fx_open(&o->fx);
    o->fx.cfg->mqtt.max_inflight = max_inflight;
    o->s = session(&o->fx, "dev", 3600);
    o->c = fx_conn(&o->fx, MQTT_V311);
    o->c->receive_max = receive_max;
    fx_attach(o->s, o->c);
    o->m = fx_msg("t", "x", 2);
}

static void online_close(online_t *o)
{
    fx_conn_close(o->c); /* the session stays, offline */
    CU_ASSERT_PTR_NULL(o->s->conn);
    brk_session_unref(o->s);
    CU_ASSERT_EQUAL(atomic_load(&o->m->refs), 1);
    brk_msg_unref(&o->m);
    fx_close(&o->fx);
}

static void test_inflight_limit_keeps_the_rest_queued(void)
{
    online_t o;
    online_open(&o, 2, 0);
    deliver(o.s, &o.fx, o.m, 1, 5);
    CU_ASSERT_EQUAL(o.s->q_len, 5);
    CU_ASSERT_EQUAL(fx_inbox_run(&o.fx), 1); /* one wake-up for five deliveries */
    CU_ASSERT_EQUAL(o.s->inf_len, 2);
    CU_ASSERT_EQUAL(o.s->q_len, 3);
    uint16_t pids[8];
    CU_ASSERT_EQUAL_FATAL(published_pids(o.c, pids, 8), 2);
    CU_ASSERT_TRUE(pids[0] == 1 && pids[1] == 2);
    online_close(&o);
}

static void test_client_receive_maximum_narrows_the_window(void)
{
    online_t o;
    online_open(&o, 32, 1);
    deliver(o.s, &o.fx, o.m, 2, 3);
    fx_inbox_run(&o.fx);
    CU_ASSERT_EQUAL(o.s->inf_len, 1);
    CU_ASSERT_EQUAL(o.s->q_len, 2);
    online_close(&o);
}

static void test_qos1_ack_frees_its_slot_and_sends_the_next(void)
{
    online_t o;
    online_open(&o, 2, 0);
    deliver(o.s, &o.fx, o.m, 1, 3);
    fx_inbox_run(&o.fx);
    fx_out_clear(o.c);
    CU_ASSERT_EQUAL(atomic_load(&o.m->refs), 1 + 3);
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 99, MQTT_PUBACK), BRK_ACK_UNKNOWN); /* unknown id */
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 1, MQTT_PUBCOMP), BRK_ACK_WRONG);   /* wrong kind */
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 1, MQTT_PUBACK), BRK_ACK_OK);
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 1, MQTT_PUBACK), BRK_ACK_UNKNOWN); /* only once */
    CU_ASSERT_EQUAL(o.s->inf_len, 2);
    CU_ASSERT_EQUAL(o.s->q_len, 0);
    uint16_t pids[4];
    CU_ASSERT_EQUAL_FATAL(published_pids(o.c, pids, 4), 1);
    CU_ASSERT_EQUAL(pids[0], 3);
    CU_ASSERT_EQUAL(atomic_load(&o.m->refs), 1 + 2);
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 2, MQTT_PUBACK), BRK_ACK_OK);
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 3, MQTT_PUBACK), BRK_ACK_OK);
    CU_ASSERT_EQUAL(o.s->inf_len, 0);
    CU_ASSERT_EQUAL(atomic_load(&o.m->refs), 1);
    online_close(&o);
}

static void test_qos2_pubrec_releases_message_and_pubcomp_frees_slot(void)
{
    online_t o;
    online_open(&o, 1, 0);
    deliver(o.s, &o.fx, o.m, 2, 2);
    fx_inbox_run(&o.fx);
    CU_ASSERT_EQUAL(o.s->inf_len, 1);
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 1, MQTT_PUBACK),
                    BRK_ACK_WRONG); /* wrong kind for QoS 2 */
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 1, MQTT_PUBCOMP), BRK_ACK_WRONG); /* before PUBREC */
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 1, MQTT_PUBREC), BRK_ACK_OK);
    CU_ASSERT_EQUAL(atomic_load(&o.m->refs), 1 + 1); /* the receiver owns the first */
    CU_ASSERT_EQUAL(o.s->inf_len, 1);                /* id held until PUBCOMP */
    CU_ASSERT_EQUAL(o.s->q_len, 1);
    CU_ASSERT_EQUAL(brk_session_ack(o.s, o.c, 1, MQTT_PUBCOMP), BRK_ACK_OK);
    CU_ASSERT_EQUAL(o.s->inf_len, 1); /* the second went out */
    CU_ASSERT_EQUAL(o.s->q_len, 0);
    CU_ASSERT_EQUAL(o.s->inf[0].pid, 2);
    online_close(&o);
}

static void test_ack_from_a_replaced_connection_is_ignored(void)
{
    online_t o;
    online_open(&o, 4, 0);
    deliver(o.s, &o.fx, o.m, 1, 1);
    fx_inbox_run(&o.fx);
    brk_conn_t *old = fx_conn(&o.fx, MQTT_V311);
    CU_ASSERT_EQUAL(brk_session_ack(o.s, old, 1, MQTT_PUBACK), BRK_ACK_UNKNOWN);
    CU_ASSERT_EQUAL(o.s->inf_len, 1);
    fx_conn_close(old);
    online_close(&o);
}

void add_session_tests(void)
{
    CU_pSuite s = CU_add_suite("broker_session", NULL, NULL);
    CU_add_test(s, "offline_session_queues_qos1_and_qos2_but_not_qos0",
                test_offline_session_queues_qos1_and_qos2_but_not_qos0);
    CU_add_test(s, "route_queues_for_offline_subscriber_at_granted_qos",
                test_route_queues_for_offline_subscriber_at_granted_qos);
    CU_add_test(s, "max_queued_drops_are_counted", test_max_queued_drops_are_counted);
    CU_add_test(s, "inflight_limit_keeps_the_rest_queued",
                test_inflight_limit_keeps_the_rest_queued);
    CU_add_test(s, "client_receive_maximum_narrows_the_window",
                test_client_receive_maximum_narrows_the_window);
    CU_add_test(s, "qos1_ack_frees_its_slot_and_sends_the_next",
                test_qos1_ack_frees_its_slot_and_sends_the_next);
    CU_add_test(s, "qos2_pubrec_releases_message_and_pubcomp_frees_slot",
                test_qos2_pubrec_releases_message_and_pubcomp_frees_slot);
    CU_add_test(s, "ack_from_a_replaced_connection_is_ignored",
                test_ack_from_a_replaced_connection_is_ignored);
}
