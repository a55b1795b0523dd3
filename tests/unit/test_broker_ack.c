/*
 * test_broker_ack.c - the ordered acknowledgement ring of a connection
 * (conn.c: brk_conn_ack / brk_conn_ack_done). PUBACK/PUBREC must leave in
 * PUBLISH order (MQTT 4.6) even when the store or Kafka completes them out
 * of order, and a failed completion refuses instead of acknowledging.
 */
#include <string.h>

#include "test_broker.h"

/* The PUBACK/PUBREC packet ids c has written, in order (3.1.1 form). */
static int written_pids(brk_conn_t *c, uint8_t type, uint16_t *pids, int max)
{
    uint32_t len;
    const uint8_t *p = fx_out(c, &len);
    int n = 0;
    for (uint32_t off = 0; off + 4 <= len && n < max; off += 2u + p[off + 1]) {
        CU_ASSERT_EQUAL(p[off], type << 4);
        pids[n++] = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
    }
    return n;
}

static void test_ack_without_waits_goes_at_once(void)
{
    fx_t fx;
    fx_open(&fx);
    brk_conn_t *c = fx_conn(&fx, MQTT_V311);
    brk_conn_ack(c, MQTT_PUBACK, 7, 0, 0);
    uint32_t len;
    const uint8_t *p = fx_out(c, &len);
    CU_ASSERT_EQUAL_FATAL(len, 4);
    CU_ASSERT_EQUAL(memcmp(p, "\x40\x02\x00\x07", 4), 0);
    CU_ASSERT_EQUAL(c->ack_len, 0);
    fx_conn_close(c);
    fx_close(&fx);
}

static void test_acks_leave_in_publish_order_when_completions_arrive_out_of_order(void)
{
    fx_t fx;
    fx_open(&fx);
    brk_conn_t *c = fx_conn(&fx, MQTT_V311);
    uint64_t s1 = brk_conn_ack(c, MQTT_PUBACK, 1, 0, 1);
    uint64_t s2 = brk_conn_ack(c, MQTT_PUBACK, 2, 0, 1);
    brk_conn_ack(c, MQTT_PUBACK, 3, 0, 0); /* needs nothing, but comes after 1 and 2 */
    uint64_t s4 = brk_conn_ack(c, MQTT_PUBACK, 4, 0, 2);
    uint16_t pids[8];
    CU_ASSERT_EQUAL(written_pids(c, MQTT_PUBACK, pids, 8), 0);
    brk_conn_ack_done(c, s2, 0);
    CU_ASSERT_EQUAL(written_pids(c, MQTT_PUBACK, pids, 8), 0);
    brk_conn_ack_done(c, s4, 0); /* one of its two */
    brk_conn_ack_done(c, s1, 0);
    CU_ASSERT_EQUAL_FATAL(written_pids(c, MQTT_PUBACK, pids, 8), 3);
    CU_ASSERT_TRUE(pids[0] == 1 && pids[1] == 2 && pids[2] == 3);
    brk_conn_ack_done(c, s4, 0);
    CU_ASSERT_EQUAL_FATAL(written_pids(c, MQTT_PUBACK, pids, 8), 4);
    CU_ASSERT_EQUAL(pids[3], 4);
    CU_ASSERT_EQUAL(c->ack_len, 0);
    fx_conn_close(c);
    fx_close(&fx);
}

static void test_ack_ring_grows_and_wraps_in_order(void)
{
    enum { N = 100 };
    fx_t fx;
    fx_open(&fx);
    brk_conn_t *c = fx_conn(&fx, MQTT_V311);
    uint64_t seq[N];
    uint16_t pids[N];
    for (int round = 0; round < 3; round++) { /* rounds wrap the ring */
        fx_out_clear(c);
        for (int i = 0; i < N; i++)
            seq[i] = brk_conn_ack(c, MQTT_PUBREC, (uint16_t)(i + 1), 0, 1);
        for (int i = N - 1; i >= 0; i--) /* completions in reverse */
            brk_conn_ack_done(c, seq[i], 0);
        CU_ASSERT_EQUAL_FATAL(written_pids(c, MQTT_PUBREC, pids, N), N);
        int in_order = 0;
        for (int i = 0; i < N; i++)
            in_order += pids[i] == i + 1;
        CU_ASSERT_EQUAL(in_order, N);
    }
    fx_conn_close(c);
    fx_close(&fx);
}

static void test_unknown_or_repeated_completion_is_ignored(void)
{
    fx_t fx;
    fx_open(&fx);
    brk_conn_t *c = fx_conn(&fx, MQTT_V311);
    uint64_t s1 = brk_conn_ack(c, MQTT_PUBACK, 1, 0, 1);
    brk_conn_ack_done(c, s1 + 5, 0); /* never issued */
    uint16_t pids[4];
    CU_ASSERT_EQUAL(written_pids(c, MQTT_PUBACK, pids, 4), 0);
    brk_conn_ack_done(c, s1, 0);
    brk_conn_ack_done(c, s1, 0); /* already sent */
    CU_ASSERT_EQUAL(written_pids(c, MQTT_PUBACK, pids, 4), 1);
    fx_conn_close(c);
    fx_close(&fx);
}

static void test_failed_completion_refuses_with_quota_exceeded_v5(void)
{
    fx_t fx;
    fx_open(&fx);
    brk_conn_t *c = fx_conn(&fx, MQTT_V5);
    uint64_t s1 = brk_conn_ack(c, MQTT_PUBACK, 1, 0, 2);
    uint64_t s2 = brk_conn_ack(c, MQTT_PUBACK, 2, 0, 1);
    brk_conn_ack_done(c, s1, -1); /* e.g. the store failed */
    brk_conn_ack_done(c, s2, 0);
    uint32_t len;
    fx_out(c, &len);
    CU_ASSERT_EQUAL(len, 0); /* still waits for its second completion */
    brk_conn_ack_done(c, s1, 0);
    const uint8_t *p = fx_out(c, &len);
    CU_ASSERT_FATAL(len >= 5);
    CU_ASSERT_EQUAL(p[0], 0x40);
    CU_ASSERT_EQUAL(p[2] << 8 | p[3], 1);
    CU_ASSERT_EQUAL(p[4], MQTT_RC_QUOTA_EXCEEDED);
    uint32_t off = 2u + p[1];
    CU_ASSERT_FATAL(len >= off + 4);
    CU_ASSERT_EQUAL(p[off], 0x40);
    CU_ASSERT_EQUAL(p[off + 2] << 8 | p[off + 3], 2);
    CU_ASSERT(p[off + 1] == 2 || p[off + 4] == 0); /* success */
    CU_ASSERT_FALSE(c->state >= BRK_CONN_CLOSING);
    fx_conn_close(c);
    fx_close(&fx);
}

static void test_failed_completion_closes_v311_without_acknowledging(void)
{
    fx_t fx;
    fx_open(&fx);
    brk_conn_t *c = fx_conn(&fx, MQTT_V311);
    uint64_t s1 = brk_conn_ack(c, MQTT_PUBACK, 1, 0, 1);
    brk_conn_ack(c, MQTT_PUBACK, 2, 0, 0);
    brk_conn_ack_done(c, s1, -1);
    uint16_t pids[4];
    CU_ASSERT_EQUAL(written_pids(c, MQTT_PUBACK, pids, 4), 0); /* 3.1.1 cannot say no */
    CU_ASSERT_TRUE(c->state >= BRK_CONN_CLOSING);
    fx_conn_close(c);
    fx_close(&fx);
}

void add_ack_tests(void)
{
    CU_pSuite s = CU_add_suite("broker_ack_ring", NULL, NULL);
    CU_add_test(s, "ack_without_waits_goes_at_once", test_ack_without_waits_goes_at_once);
    CU_add_test(s, "acks_leave_in_publish_order_when_completions_arrive_out_of_order",
                test_acks_leave_in_publish_order_when_completions_arrive_out_of_order);
    CU_add_test(s, "ack_ring_grows_and_wraps_in_order", test_ack_ring_grows_and_wraps_in_order);
    CU_add_test(s, "unknown_or_repeated_completion_is_ignored",
                test_unknown_or_repeated_completion_is_ignored);
    CU_add_test(s, "failed_completion_refuses_with_quota_exceeded_v5",
                test_failed_completion_refuses_with_quota_exceeded_v5);
    CU_add_test(s, "failed_completion_closes_v311_without_acknowledging",
                test_failed_completion_closes_v311_without_acknowledging);
}
