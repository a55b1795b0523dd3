/*
 * test_store.c - store/ against a real LevelDB in a temporary directory:
 * record round trips, scans, client range deletes, lazy queue paging and
 * message reference counting. test_store_commit.c has the write path
 * (group commit, sync modes, recovery, corruption, full disk).
 */
#include <CUnit/Basic.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_store.h"

/* ---- helpers shared with test_store_commit.c and test_store_group.c ---- */

static void gate_block(void *arg, int err)
{
    ts_gate_t *g = arg;
    (void)err;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

void ts_gate_hold(store_t *st, ts_gate_t *g)
{
    store_batch_t *b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_put_spool(b, 1, "g", 1), STORE_OK);
    CU_ASSERT_EQUAL_FATAL(store_submit(st, b, gate_block, g), STORE_OK);
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cond, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

void ts_gate_open(ts_gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

mqtt_str_t ts_str(const char *s)
{
    mqtt_str_t m = {(const uint8_t *)s, (uint32_t)strlen(s)};
    return m;
}

static bool str_eq(mqtt_str_t m, const char *s)
{
    return m.len == strlen(s) && memcmp(m.p, s, m.len) == 0;
}

char *ts_mkdtemp(void)
{
    char tmpl[] = "/tmp/sluice-store-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void ts_rmtree(const char *dir)
{
    if (dir) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

store_t *ts_open(const char *dir, store_sync_t sync)
{
    store_opts_t o;
    store_opts_default(&o);
    o.sync = sync;
    o.flush_ms = 20;
    store_t *st = NULL;
    char err[512];
    int rc = store_open(dir, &o, &st, err, sizeof(err));
    if (rc != STORE_OK) fprintf(stderr, "open failed: %s\n", err);
    return st;
}

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
    int err;
};

static void waiter_done(void *arg, int err)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    w->err = err;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

/* Submit and wait for the callback: the result of the write. */
int ts_commit(store_t *st, store_batch_t *b)
{
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};
    int rc = store_submit(st, b, waiter_done, &w);
    if (rc != STORE_OK) {
        store_batch_free(b);
        return rc;
    }
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cond, &w.mu);
    pthread_mutex_unlock(&w.mu);
    return w.err;
}

/* ---- fixture ---- */

static char *dir;
static store_t *st;

static void setup(void)
{
    dir = ts_mkdtemp();
    st = ts_open(dir, STORE_SYNC_ALWAYS);
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    ts_rmtree(dir);
    free(dir);
    dir = NULL;
}

static void reopen(void)
{
    store_close(st);
    st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
}

/* ---- round trips ---- */

static void test_session_round_trip_with_will(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    store_session_t s = {.client_id = ts_str("dev-1"),
                         .version = MQTT_V5,
                         .expiry_interval = 3600,
                         .disconnect_time = 1700000000,
                         .has_will = true,
                         .will_qos = 1,
                         .will_retain = true,
                         .will_delay = 30,
                         .will_topic = ts_str("dev/1/status"),
                         .will_payload = ts_str("offline"),
                         .will_props = ts_str("\x01\x01")};
    CU_ASSERT_EQUAL(store_batch_put_session(b, &s), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    reopen();
    store_session_t got;
    void *mem = NULL;
    CU_ASSERT_EQUAL_FATAL(store_get_session(st, "dev-1", 5, &got, &mem), STORE_OK);
    CU_ASSERT(str_eq(got.client_id, "dev-1"));
    CU_ASSERT_EQUAL(got.version, MQTT_V5);
    CU_ASSERT_EQUAL(got.expiry_interval, 3600);
    CU_ASSERT_EQUAL(got.disconnect_time, 1700000000);
    CU_ASSERT(got.has_will && got.will_retain);
    CU_ASSERT_EQUAL(got.will_qos, 1);
    CU_ASSERT_EQUAL(got.will_delay, 30);
    CU_ASSERT(str_eq(got.will_topic, "dev/1/status"));
    CU_ASSERT(str_eq(got.will_payload, "offline"));
    CU_ASSERT(str_eq(got.will_props, "\x01\x01"));
    store_free(mem);
    CU_ASSERT_EQUAL(store_get_session(st, "dev-2", 5, &got, &mem), STORE_ERR_NOT_FOUND);
    teardown();
}

static int count_sessions(void *arg, const store_session_t *s)
{
    (void)s;
    (*(int *)arg)++;
    return 0;
}

static void test_session_delete_and_invalid_ids(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    store_session_t s = {.client_id = ts_str("a"), .version = MQTT_V311};
    CU_ASSERT_EQUAL(store_batch_put_session(b, &s), STORE_OK);
    store_session_t bad = {.client_id = {(const uint8_t *)"a\0b", 3}};
    CU_ASSERT_EQUAL(store_batch_put_session(b, &bad), STORE_ERR_INVALID);
    bad.client_id.len = 0;
    CU_ASSERT_EQUAL(store_batch_put_session(b, &bad), STORE_ERR_INVALID);
    CU_ASSERT_EQUAL(store_batch_count(b), 1);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_del_session(b, "a", 1), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    int n = 0;
    CU_ASSERT_EQUAL(store_scan_sessions(st, count_sessions, &n), STORE_OK);
    CU_ASSERT_EQUAL(n, 0);
    teardown();
}

struct sub_seen {
    int n;
    char order[8][32];
    uint8_t options[8];
    uint32_t ids[8];
};

static int collect_sub(void *arg, const store_sub_t *s)
{
    struct sub_seen *seen = arg;
    snprintf(seen->order[seen->n], 32, "%.*s|%.*s", (int)s->client_id.len, s->client_id.p,
             (int)s->filter.len, s->filter.p);
    seen->options[seen->n] = s->options;
    seen->ids[seen->n] = s->sub_id;
    seen->n++;
    return 0;
}

static void test_subs_round_trip_in_key_order(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    const char *rows[][2] = {{"b", "x/#"}, {"a", "z"}, {"a", "+/y"}, {"ab", "q"}};
    for (int i = 0; i < 4; i++) {
        store_sub_t s = {ts_str(rows[i][0]), ts_str(rows[i][1]), (uint8_t)(0x11 + i),
                         (uint32_t)(100 + i)};
        CU_ASSERT_EQUAL(store_batch_put_sub(b, &s), STORE_OK);
    }
    CU_ASSERT_EQUAL(store_batch_del_sub(b, "b", 1, "x/#", 3), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    reopen();
    struct sub_seen seen = {0};
    CU_ASSERT_EQUAL(store_scan_subs(st, collect_sub, &seen), STORE_OK);
    CU_ASSERT_EQUAL_FATAL(seen.n, 3);
    CU_ASSERT_STRING_EQUAL(seen.order[0], "a|+/y");
    CU_ASSERT_STRING_EQUAL(seen.order[1], "a|z");
    CU_ASSERT_STRING_EQUAL(seen.order[2], "ab|q");
    CU_ASSERT_EQUAL(seen.options[0], 0x13);
    CU_ASSERT_EQUAL(seen.ids[2], 103);
    teardown();
}

static int check_retained(void *arg, const store_retained_t *r)
{
    int *n = arg;
    (*n)++;
    CU_ASSERT(str_eq(r->topic, "t/1"));
    CU_ASSERT(str_eq(r->payload, "hello"));
    CU_ASSERT(str_eq(r->props, "P"));
    CU_ASSERT(str_eq(r->origin_client, "pub"));
    CU_ASSERT_EQUAL(r->qos, 2);
    CU_ASSERT_EQUAL(r->expiry_time, 1800000000);
    return 0;
}

static void test_retained_round_trip_and_delete(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    store_retained_t r = {ts_str("t/1"), ts_str("hello"), ts_str("P"), ts_str("pub"), 2,
                          1800000000};
    store_retained_t r2 = {ts_str("t/2"), ts_str(""), ts_str(""), ts_str("pub"), 0, 0};
    CU_ASSERT_EQUAL(store_batch_put_retained(b, &r), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_retained(b, &r2), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_del_retained(b, "t/2", 3), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    reopen();
    int n = 0;
    CU_ASSERT_EQUAL(store_scan_retained(st, check_retained, &n), STORE_OK);
    CU_ASSERT_EQUAL(n, 1);
    store_retained_t got;
    void *mem;
    CU_ASSERT_EQUAL_FATAL(store_get_retained(st, "t/1", 3, &got, &mem), STORE_OK);
    CU_ASSERT(str_eq(got.payload, "hello"));
    store_free(mem);
    teardown();
}

static void put_msg(store_batch_t *b, uint64_t id, const char *payload)
{
    store_msg_t m = {id, ts_str("a/b"), ts_str(payload), ts_str("props"), 1, true, 1900000000};
    CU_ASSERT_EQUAL(store_batch_put_msg(b, &m), STORE_OK);
}

static void put_q(store_batch_t *b, const char *client, uint64_t seq, uint64_t msg)
{
    store_qref_t q = {ts_str(client), seq, msg, 1};
    CU_ASSERT_EQUAL(store_batch_put_queue(b, &q), STORE_OK);
}

static void test_msg_round_trip_and_last_id(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    put_msg(b, 7, "seven");
    put_q(b, "c", 1, 7);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    reopen();
    store_msg_t m;
    void *mem;
    CU_ASSERT_EQUAL_FATAL(store_get_msg(st, 7, &m, &mem), STORE_OK);
    CU_ASSERT_EQUAL(m.id, 7);
    CU_ASSERT(str_eq(m.topic, "a/b"));
    CU_ASSERT(str_eq(m.payload, "seven"));
    CU_ASSERT(str_eq(m.props, "props"));
    CU_ASSERT_EQUAL(m.qos, 1);
    CU_ASSERT(m.retain);
    CU_ASSERT_EQUAL(m.expiry_time, 1900000000);
    store_free(mem);
    uint64_t last = 0;
    CU_ASSERT_EQUAL(store_last_msg_id(st, &last), STORE_OK);
    CU_ASSERT_EQUAL(last, 7);
    CU_ASSERT_EQUAL(store_get_msg(st, 8, &m, &mem), STORE_ERR_NOT_FOUND);
    teardown();
}

static int collect_inflight(void *arg, const store_inflight_t *o)
{
    store_inflight_t *out = arg;
    int i = 0;
    while (out[i].packet_id)
        i++;
    out[i] = *o;
    return 0;
}

static int collect_inbound(void *arg, const store_inbound_t *in)
{
    uint16_t *out = arg;
    int i = 0;
    while (out[i])
        i++;
    out[i] = in->packet_id;
    return 0;
}

static void test_inflight_and_inbound_round_trip_in_pid_order(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    put_msg(b, 1, "x");
    store_inflight_t o1 = {ts_str("c"), 300, 1, 2, STORE_OUT_PUBLISH_SENT, false};
    store_inflight_t o2 = {ts_str("c"), 2, 1, 1, STORE_OUT_PUBLISH_SENT, true};
    CU_ASSERT_EQUAL(store_batch_put_inflight(b, &o1), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_inflight(b, &o2), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_inbound(b, "c", 1, 65535), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_inbound(b, "c", 1, 9), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_inbound(b, "c", 1, 10), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_del_inbound(b, "c", 1, 10), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    b = store_batch_new();
    o1.state = STORE_OUT_PUBREL_SENT;
    o1.dup = true;
    CU_ASSERT_EQUAL(store_batch_update_inflight(b, &o1), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    reopen();
    store_inflight_t got[4];
    memset(got, 0, sizeof(got));
    CU_ASSERT_EQUAL(store_scan_inflight(st, collect_inflight, got), STORE_OK);
    CU_ASSERT_EQUAL(got[0].packet_id, 2); /* big-endian: 2 sorts before 300 */
    CU_ASSERT(got[0].dup);
    CU_ASSERT_EQUAL(got[1].packet_id, 300);
    CU_ASSERT_EQUAL(got[1].state, STORE_OUT_PUBREL_SENT);
    CU_ASSERT(got[1].dup);
    CU_ASSERT_EQUAL(got[1].qos, 2);
    CU_ASSERT_EQUAL(got[1].msg_id, 1);
    CU_ASSERT_EQUAL(got[2].packet_id, 0);
    uint16_t pids[4] = {0};
    CU_ASSERT_EQUAL(store_scan_inbound_qos2(st, collect_inbound, pids), STORE_OK);
    CU_ASSERT_EQUAL(pids[0], 9);
    CU_ASSERT_EQUAL(pids[1], 65535);
    CU_ASSERT_EQUAL(pids[2], 0);
    teardown();
}

static int collect_blob(void *arg, const store_blob_t *bl)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 64 - n, "%llu=%.*s;", (unsigned long long)bl->seq, (int)bl->data.len,
             bl->data.p);
    return 0;
}

static void test_spool_and_dead_scan_after_seq_with_max(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_put_spool(b, 1, "a", 1), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_spool(b, 256, "c", 1), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_spool(b, 2, "b", 1), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_spool(b, 3, "gone", 4), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_del_spool(b, 3), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_dead(b, 5, "bad", 3), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_dead(b, 6, "", 0), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_del_dead(b, 6), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    reopen();
    char out[64] = "";
    CU_ASSERT_EQUAL(store_scan_spool(st, 0, 0, collect_blob, out), STORE_OK);
    CU_ASSERT_STRING_EQUAL(out, "1=a;2=b;256=c;");
    out[0] = 0;
    CU_ASSERT_EQUAL(store_scan_spool(st, 1, 1, collect_blob, out), STORE_OK);
    CU_ASSERT_STRING_EQUAL(out, "2=b;");
    out[0] = 0;
    CU_ASSERT_EQUAL(store_scan_dead(st, 0, 0, collect_blob, out), STORE_OK);
    CU_ASSERT_STRING_EQUAL(out, "5=bad;");
    uint64_t last;
    CU_ASSERT_EQUAL(store_last_spool_seq(st, &last), STORE_OK);
    CU_ASSERT_EQUAL(last, 256);
    CU_ASSERT_EQUAL(store_last_dead_seq(st, &last), STORE_OK);
    CU_ASSERT_EQUAL(last, 5);
    teardown();
}

/* ---- queues, references, client deletes ---- */

struct qpage {
    int n;
    uint64_t seqs[16];
    uint64_t msgs[16];
};

static int collect_q(void *arg, const store_qref_t *q)
{
    struct qpage *p = arg;
    p->seqs[p->n] = q->seq;
    p->msgs[p->n] = q->msg_id;
    p->n++;
    return 0;
}

static void test_queue_scan_pages_with_after_seq_and_max(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    put_msg(b, 1, "m");
    for (uint64_t s = 1; s <= 10; s++)
        put_q(b, "c", s * 100, 1); /* 100..1000: crosses a byte boundary */
    put_q(b, "c2", 1, 1);
    put_q(b, "b", 5000, 1);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    struct qpage p = {0};
    CU_ASSERT_EQUAL(store_queue_scan(st, "c", 1, 0, 4, collect_q, &p), 4);
    CU_ASSERT_EQUAL(p.seqs[0], 100);
    CU_ASSERT_EQUAL(p.seqs[3], 400);
    memset(&p, 0, sizeof(p));
    CU_ASSERT_EQUAL(store_queue_scan(st, "c", 1, 400, 4, collect_q, &p), 4);
    CU_ASSERT_EQUAL(p.seqs[0], 500);
    CU_ASSERT_EQUAL(p.seqs[3], 800);
    memset(&p, 0, sizeof(p));
    CU_ASSERT_EQUAL(store_queue_scan(st, "c", 1, 800, 4, collect_q, &p), 2);
    CU_ASSERT_EQUAL(p.seqs[1], 1000);
    CU_ASSERT_EQUAL(p.msgs[1], 1);
    memset(&p, 0, sizeof(p));
    CU_ASSERT_EQUAL(store_queue_scan(st, "c", 1, 1000, 4, collect_q, &p), 0);
    CU_ASSERT_EQUAL(store_queue_scan(st, "c", 1, UINT64_MAX, 4, collect_q, &p), 0);
    uint64_t last;
    CU_ASSERT_EQUAL(store_queue_last_seq(st, "c", 1, &last), STORE_OK);
    CU_ASSERT_EQUAL(last, 1000);
    CU_ASSERT_EQUAL(store_queue_last_seq(st, "nobody", 6, &last), STORE_OK);
    CU_ASSERT_EQUAL(last, 0);
    teardown();
}

static int stop_at_two(void *arg, const store_qref_t *q)
{
    (void)q;
    return ++*(int *)arg == 2 ? 42 : 0;
}

static void test_scan_callback_stops_the_scan(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    put_msg(b, 1, "m");
    for (uint64_t s = 1; s <= 5; s++)
        put_q(b, "c", s, 1);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    int n = 0;
    CU_ASSERT_EQUAL(store_queue_scan(st, "c", 1, 0, 0, stop_at_two, &n), 42);
    CU_ASSERT_EQUAL(n, 2);
    teardown();
}

static bool msg_exists(uint64_t id)
{
    store_msg_t m;
    void *mem;
    int rc = store_get_msg(st, id, &m, &mem);
    if (rc == STORE_OK) store_free(mem);
    return rc == STORE_OK;
}

static void test_body_deleted_when_last_reference_goes(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    put_msg(b, 1, "shared");
    put_q(b, "a", 1, 1);
    put_q(b, "b", 1, 1);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    store_stats_t s;
    store_get_stats(st, &s);
    CU_ASSERT_EQUAL(s.live_messages, 1);

    /* a's queued copy goes out: q/ -> o/, still two references */
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_del_queue(b, "a", 1, 1, 1), STORE_OK);
    store_inflight_t o = {ts_str("a"), 17, 1, 1, STORE_OUT_PUBLISH_SENT, false};
    CU_ASSERT_EQUAL(store_batch_put_inflight(b, &o), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    CU_ASSERT(msg_exists(1));

    /* restart: counts rebuilt from q/ and o/ */
    reopen();
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_del_inflight(b, "a", 1, 17, 1), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    CU_ASSERT(msg_exists(1));
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_del_queue(b, "b", 1, 1, 1), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    CU_ASSERT(!msg_exists(1));
    store_get_stats(st, &s);
    CU_ASSERT_EQUAL(s.live_messages, 0);
    teardown();
}

static void test_body_without_reference_is_not_kept(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    put_msg(b, 5, "lonely");
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    CU_ASSERT(!msg_exists(5));
    teardown();
}

struct client_counts {
    int subs, inflight, inbound, sessions;
};

static int cnt_sub(void *arg, const store_sub_t *s)
{
    if (str_eq(s->client_id, "ab")) ((struct client_counts *)arg)->subs++;
    return 0;
}
static int cnt_out(void *arg, const store_inflight_t *o)
{
    if (str_eq(o->client_id, "ab")) ((struct client_counts *)arg)->inflight++;
    return 0;
}
static int cnt_in(void *arg, const store_inbound_t *i)
{
    if (str_eq(i->client_id, "ab")) ((struct client_counts *)arg)->inbound++;
    return 0;
}
static int cnt_sess(void *arg, const store_session_t *s)
{
    if (str_eq(s->client_id, "ab")) ((struct client_counts *)arg)->sessions++;
    return 0;
}

static void put_client(store_batch_t *b, const char *c, uint64_t msg)
{
    store_session_t s = {.client_id = ts_str(c), .version = MQTT_V5};
    store_sub_t sub = {ts_str(c), ts_str("f/#"), 1, 0};
    store_inflight_t o = {ts_str(c), 1, msg, 1, STORE_OUT_PUBLISH_SENT, false};
    CU_ASSERT_EQUAL(store_batch_put_session(b, &s), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_sub(b, &sub), STORE_OK);
    put_q(b, c, 1, msg);
    put_q(b, c, 2, msg);
    CU_ASSERT_EQUAL(store_batch_put_inflight(b, &o), STORE_OK);
    CU_ASSERT_EQUAL(store_batch_put_inbound(b, c, strlen(c), 4), STORE_OK);
}

static void test_delete_client_state_spares_prefix_clients(void)
{
    setup();
    store_batch_t *b = store_batch_new();
    put_msg(b, 1, "for abc and a");
    put_msg(b, 2, "for ab only");
    put_client(b, "a", 1);
    put_client(b, "ab", 2);
    put_client(b, "abc", 1);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);

    b = store_batch_new();
    CU_ASSERT_EQUAL(store_delete_client_state(b, "ab", 2, STORE_CLIENT_ALL), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    reopen();

    struct client_counts c = {0};
    store_scan_subs(st, cnt_sub, &c);
    store_scan_inflight(st, cnt_out, &c);
    store_scan_inbound_qos2(st, cnt_in, &c);
    store_scan_sessions(st, cnt_sess, &c);
    CU_ASSERT_EQUAL(c.subs + c.inflight + c.inbound + c.sessions, 0);
    struct qpage p = {0};
    CU_ASSERT_EQUAL(store_queue_scan(st, "ab", 2, 0, 0, collect_q, &p), 0);
    CU_ASSERT_EQUAL(store_queue_scan(st, "a", 1, 0, 0, collect_q, &p), 2);
    CU_ASSERT_EQUAL(store_queue_scan(st, "abc", 3, 0, 0, collect_q, &p), 2);
    store_session_t s;
    void *mem;
    CU_ASSERT_EQUAL_FATAL(store_get_session(st, "abc", 3, &s, &mem), STORE_OK);
    store_free(mem);
    CU_ASSERT_EQUAL_FATAL(store_get_session(st, "a", 1, &s, &mem), STORE_OK);
    store_free(mem);
    CU_ASSERT(!msg_exists(2)); /* its only references were ab's */
    CU_ASSERT(msg_exists(1));
    teardown();
}

static void test_delete_client_state_sees_queued_batches_and_keeps_order(void)
{
    setup();
    /* Submitted back to back, without waiting: the range delete must see
     * the first batch, and the put after it in the same batch survives. */
    store_batch_t *b1 = store_batch_new();
    put_msg(b1, 1, "m");
    put_client(b1, "x", 1);
    store_batch_t *b2 = store_batch_new();
    CU_ASSERT_EQUAL(store_delete_client_state(b2, "x", 1, STORE_CLIENT_ALL), STORE_OK);
    store_session_t s = {.client_id = ts_str("x"), .version = MQTT_V311};
    CU_ASSERT_EQUAL(store_batch_put_session(b2, &s), STORE_OK);
    CU_ASSERT_EQUAL(store_submit(st, b1, NULL, NULL), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b2), STORE_OK);
    store_session_t got;
    void *mem;
    CU_ASSERT_EQUAL_FATAL(store_get_session(st, "x", 1, &got, &mem), STORE_OK);
    CU_ASSERT_EQUAL(got.version, MQTT_V311);
    store_free(mem);
    struct qpage p = {0};
    CU_ASSERT_EQUAL(store_queue_scan(st, "x", 1, 0, 0, collect_q, &p), 0);
    CU_ASSERT(!msg_exists(1));
    teardown();
}

static void test_strerror_names_every_error(void)
{
    for (int e = STORE_OK; e >= STORE_ERR_CLOSED; e--)
        CU_ASSERT_STRING_NOT_EQUAL(store_strerror(e), "unknown store error");
    CU_ASSERT_STRING_EQUAL(store_strerror(-999), "unknown store error");
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("store_records", NULL, NULL);
    CU_add_test(s, "session_round_trip_with_will", test_session_round_trip_with_will);
    CU_add_test(s, "session_delete_and_invalid_ids", test_session_delete_and_invalid_ids);
    CU_add_test(s, "subs_round_trip_in_key_order", test_subs_round_trip_in_key_order);
    CU_add_test(s, "retained_round_trip_and_delete", test_retained_round_trip_and_delete);
    CU_add_test(s, "msg_round_trip_and_last_id", test_msg_round_trip_and_last_id);
    CU_add_test(s, "inflight_and_inbound_round_trip_in_pid_order",
                test_inflight_and_inbound_round_trip_in_pid_order);
    CU_add_test(s, "spool_and_dead_scan_after_seq_with_max",
                test_spool_and_dead_scan_after_seq_with_max);
    CU_add_test(s, "queue_scan_pages_with_after_seq_and_max",
                test_queue_scan_pages_with_after_seq_and_max);
    CU_add_test(s, "scan_callback_stops_the_scan", test_scan_callback_stops_the_scan);
    CU_add_test(s, "body_deleted_when_last_reference_goes",
                test_body_deleted_when_last_reference_goes);
    CU_add_test(s, "body_without_reference_is_not_kept", test_body_without_reference_is_not_kept);
    CU_add_test(s, "delete_client_state_spares_prefix_clients",
                test_delete_client_state_spares_prefix_clients);
    CU_add_test(s, "delete_client_state_sees_queued_batches_and_keeps_order",
                test_delete_client_state_sees_queued_batches_and_keeps_order);
    CU_add_test(s, "strerror_names_every_error", test_strerror_names_every_error);
    ts_register_commit_suite();
    ts_register_group_suite();

    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
