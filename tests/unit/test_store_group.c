/*
 * test_store_group.c - one group commit merges its batches by key
 * (store_group.c): what the database holds after the group is what the
 * batches, applied one by one, would have left. The store thread is held in
 * a done callback while the batches queue, so that they form one group.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "test_store.h"

static void submit(store_t *st, store_batch_t *b)
{
    CU_ASSERT_EQUAL(store_submit(st, b, NULL, NULL), STORE_OK);
}

static void put_body(store_batch_t *b, uint64_t id)
{
    store_msg_t m = {.id = id, .topic = ts_str("t"), .payload = ts_str("body"), .qos = 1};
    CU_ASSERT_EQUAL(store_batch_put_msg(b, &m), STORE_OK);
}

static void put_q(store_batch_t *b, const char *client, uint64_t seq, uint64_t msg)
{
    store_qref_t q = {ts_str(client), seq, msg, 1};
    CU_ASSERT_EQUAL(store_batch_put_queue(b, &q), STORE_OK);
}

static bool body_exists(store_t *st, uint64_t id)
{
    store_msg_t m;
    void *mem = NULL;
    if (store_get_msg(st, id, &m, &mem) != STORE_OK) return false;
    store_free(mem);
    return true;
}

static int count_qref(void *arg, const store_qref_t *q)
{
    (void)q;
    ++*(int *)arg;
    return 0;
}

static int count_inflight(void *arg, const store_inflight_t *o)
{
    (void)o;
    ++*(int *)arg;
    return 0;
}

static int count_q(store_t *st, const char *client)
{
    int n = 0;
    store_queue_scan(st, client, strlen(client), 0, 0, count_qref, &n);
    return n;
}

static int count_o(store_t *st)
{
    int n = 0;
    store_scan_inflight(st, count_inflight, &n);
    return n;
}

typedef struct seen_sub {
    int n;
    uint8_t options;
    uint32_t sub_id;
} seen_sub_t;

static int see_sub(void *arg, const store_sub_t *s)
{
    seen_sub_t *seen = arg;
    seen->n++;
    seen->options = s->options;
    seen->sub_id = s->sub_id;
    return 0;
}

/* the message life of one QoS 1 delivery between two commits */
static void deliver_and_ack(store_t *st, const char *client, uint64_t seq, uint64_t id,
                            uint16_t pid)
{
    store_batch_t *b = store_batch_new();
    put_body(b, id);
    put_q(b, client, seq, id);
    submit(st, b);
    b = store_batch_new();
    store_inflight_t o = {ts_str(client), pid, id, 1, STORE_OUT_PUBLISH_SENT, false};
    CU_ASSERT_EQUAL(store_batch_put_inflight(b, &o), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_del_queue(b, client, strlen(client), seq, id), STORE_OK);
    submit(st, b);
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_del_inflight(b, client, strlen(client), pid, id), STORE_OK);
    submit(st, b);
}

static void test_message_queued_sent_and_acked_in_one_group_leaves_nothing(void)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    ts_gate_t g = TS_GATE_INIT;
    ts_gate_hold(st, &g);
    for (uint64_t i = 1; i <= 50; i++)
        deliver_and_ack(st, "c", i, 100 + i, (uint16_t)i);
    /* and one still queued when the group is written */
    store_batch_t *b = store_batch_new();
    put_body(b, 500);
    put_q(b, "c", 51, 500);
    submit(st, b);
    ts_gate_open(&g);
    CU_ASSERT_EQUAL(ts_commit(st, store_batch_new()), STORE_OK);
    store_stats_t s;
    store_get_stats(st, &s);
    CU_ASSERT_EQUAL(s.live_messages, 1);
    store_close(st);
    st = ts_open(dir, STORE_SYNC_ALWAYS); /* what the disk holds */
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT(!body_exists(st, 101));
    CU_ASSERT(!body_exists(st, 150));
    CU_ASSERT(body_exists(st, 500));
    CU_ASSERT_EQUAL(count_q(st, "c"), 1);
    CU_ASSERT_EQUAL(count_o(st), 0);
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

static void test_last_operation_on_a_key_wins_in_one_group(void)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    store_batch_t *b = store_batch_new();
    store_sub_t keep = {ts_str("c"), ts_str("gone"), 1, 0};
    CU_ASSERT_EQUAL(store_batch_put_sub(b, &keep), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK); /* on disk before the group */
    ts_gate_t g = TS_GATE_INIT;
    ts_gate_hold(st, &g);
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_del_sub(b, "c", 1, "gone", 4), STORE_OK);
    store_sub_t one = {ts_str("c"), ts_str("t"), 1, 0}, two = {ts_str("c"), ts_str("t"), 2, 7};
    CU_ASSERT_EQUAL(store_batch_put_sub(b, &one), STORE_OK);
    submit(st, b);
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_del_sub(b, "c", 1, "t", 1), STORE_OK);
    submit(st, b);
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_put_sub(b, &two), STORE_OK);
    submit(st, b);
    ts_gate_open(&g);
    CU_ASSERT_EQUAL(ts_commit(st, store_batch_new()), STORE_OK);
    store_close(st);
    st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    seen_sub_t seen = {0, 0, 0};
    store_scan_subs(st, see_sub, &seen);
    CU_ASSERT_EQUAL(seen.n, 1); /* "gone" deleted, "t" put last */
    CU_ASSERT_EQUAL(seen.options, 2);
    CU_ASSERT_EQUAL(seen.sub_id, 7);
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

static void test_body_on_disk_before_the_group_is_deleted_with_its_last_reference(void)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    store_batch_t *b = store_batch_new();
    put_body(b, 9);
    put_q(b, "a", 1, 9);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    ts_gate_t g = TS_GATE_INIT;
    ts_gate_hold(st, &g);
    /* put again (another session's copy) and both references dropped */
    b = store_batch_new();
    put_body(b, 9);
    put_q(b, "b", 1, 9);
    submit(st, b);
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_del_queue(b, "a", 1, 1, 9), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_del_queue(b, "b", 1, 1, 9), STORE_OK);
    submit(st, b);
    ts_gate_open(&g);
    CU_ASSERT_EQUAL(ts_commit(st, store_batch_new()), STORE_OK);
    store_close(st);
    st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT(!body_exists(st, 9));
    CU_ASSERT_EQUAL(count_q(st, "a") + count_q(st, "b"), 0);
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

static void test_range_delete_in_a_group_sees_the_batches_before_it(void)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    ts_gate_t g = TS_GATE_INIT;
    ts_gate_hold(st, &g);
    store_batch_t *b = store_batch_new();
    put_body(b, 3);
    put_q(b, "c", 1, 3);
    submit(st, b);
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_delete_client_state(b, "c", 1, STORE_CLIENT_ALL), STORE_OK);
    submit(st, b);
    b = store_batch_new();
    put_body(b, 4);
    put_q(b, "c", 1, 4); /* a new session's first seq, after the delete */
    submit(st, b);
    ts_gate_open(&g);
    CU_ASSERT_EQUAL(ts_commit(st, store_batch_new()), STORE_OK);
    store_close(st);
    st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT(!body_exists(st, 3));
    CU_ASSERT(body_exists(st, 4));
    CU_ASSERT_EQUAL(count_q(st, "c"), 1);
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

static void test_rewind_to_a_mark_drops_what_came_after(void)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    store_batch_t *b = store_batch_new();
    store_sub_t kept = {ts_str("c"), ts_str("kept"), 1, 0};
    CU_ASSERT_EQUAL(store_batch_put_sub(b, &kept), STORE_OK);
    store_batch_mark_t m = store_batch_mark(b);
    store_sub_t dropped = {ts_str("c"), ts_str("dropped"), 1, 0};
    CU_ASSERT_EQUAL(store_batch_put_sub(b, &dropped), STORE_OK);
    put_body(b, 8);
    put_q(b, "c", 1, 8);
    CU_ASSERT_EQUAL(store_delete_client_state(b, "x", 1, STORE_CLIENT_ALL), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_count(b), 5);
    store_batch_rewind(b, m);
    CU_ASSERT_EQUAL(store_batch_count(b), 1);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    store_stats_t s;
    store_get_stats(st, &s);
    CU_ASSERT_EQUAL(s.live_messages, 0); /* the rewound reference counts nothing */
    seen_sub_t seen = {0, 0, 0};
    store_scan_subs(st, see_sub, &seen);
    CU_ASSERT_EQUAL(seen.n, 1);
    CU_ASSERT(!body_exists(st, 8));
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

void ts_register_group_suite(void)
{
    CU_pSuite s = CU_add_suite("store_group", NULL, NULL);
    CU_add_test(s, "message_queued_sent_and_acked_in_one_group_leaves_nothing",
                test_message_queued_sent_and_acked_in_one_group_leaves_nothing);
    CU_add_test(s, "last_operation_on_a_key_wins_in_one_group",
                test_last_operation_on_a_key_wins_in_one_group);
    CU_add_test(s, "body_on_disk_before_the_group_is_deleted_with_its_last_reference",
                test_body_on_disk_before_the_group_is_deleted_with_its_last_reference);
    CU_add_test(s, "range_delete_in_a_group_sees_the_batches_before_it",
                test_range_delete_in_a_group_sees_the_batches_before_it);
    CU_add_test(s, "rewind_to_a_mark_drops_what_came_after",
                test_rewind_to_a_mark_drops_what_came_after);
}
