/*
 * test_bridge_kafka.c - bridge suite, Kafka misbehaving: outage and spool
 * (with a restart on the same store), spool full, dead letters (local and
 * topic), a fatal producer error (the producer is replaced, nothing lost),
 * and from_kafka (inject before commit, loop prevention). Each test
 * has its own mock cluster so that outages do not leak between tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h" /* the producer handle, to raise a fatal error in it */
#include "test_bridge.h"

static bridge_t *mk(cfg_t *cfg, store_t *st, const bridge_hooks_t *hooks, bool start)
{
    bridge_t *br = NULL;
    char err[512];
    int rc = bridge_new(cfg, st, hooks, &br, err, sizeof(err));
    if (rc) fprintf(stderr, "bridge_new: %s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    if (start) CU_ASSERT_FATAL(bridge_start(br) == 0);
    return br;
}

static bool wait_drained(bridge_t *br, int ms)
{
    int64_t end = tb_now() + ms;
    bridge_stats_t s;
    do {
        bridge_get_stats(br, &s);
        if (s.spool_depth == 0) return true;
        tb_sleep_ms(20);
    } while (tb_now() < end);
    return false;
}

/* Every record once, payload "k<key>-<i>", i increasing per key. */
static void check_exactly_once(tb_kafka_t *k, const char *topic, int np, int n, int keys)
{
    tb_rec_t *r;
    int got = tb_read(k, topic, np, n, 15000, &r);
    CU_ASSERT(got == n);
    int *last = calloc((size_t)keys, sizeof(int));
    char *seen = calloc((size_t)n + 1, 1);
    for (int i = 0; i < keys; i++)
        last[i] = -1;
    for (int i = 0; i < got; i++) {
        int key = 0, v = 0;
        if (sscanf((char *)r[i].val, "k%d-%d", &key, &v) != 2 || key >= keys || v >= n) {
            CU_FAIL("unexpected record");
            continue;
        }
        CU_ASSERT(!seen[v]);
        seen[v] = 1;
        CU_ASSERT(v > last[key]);
        last[key] = v;
    }
    free(last);
    free(seen);
    tb_recs_free(r, got);
}

static int offer_n(bridge_t *br, tb_acks_t *a, int from, int to, int keys)
{
    int pending = 0;
    for (int i = from; i < to; i++) {
        char topic[32], pl[32];
        snprintf(topic, sizeof(topic), "d/k%d", i % keys);
        snprintf(pl, sizeof(pl), "k%d-%d", i % keys, i);
        bridge_msg_t m = tb_msg(topic, pl, 1);
        int rc = bridge_offer(br, &m, tb_ack, a);
        CU_ASSERT(rc == BRIDGE_PENDING);
        pending += rc == BRIDGE_PENDING;
    }
    return pending;
}

/* One test's world: a mock cluster of `brokers` with topic "out" (`parts`
 * partitions, one replica per broker), a store unless !durable, one rule
 * "d/+" -> "out" keyed by the second level, spool_after_ms and
 * spool_max_bytes when not 0, the started bridge and its ack counter. */
typedef struct fx {
    tb_kafka_t k;
    char dir[64];
    store_t *st;
    cfg_t *cfg;
    bridge_t *br;
    tb_acks_t *a;
} fx_t;

static void fx_open(fx_t *f, int brokers, int parts, bool durable, int spool_after_ms,
                    uint64_t spool_max_bytes)
{
    memset(f, 0, sizeof(*f));
    tb_kafka_start(&f->k, brokers);
    rd_kafka_mock_topic_create(f->k.mc, "out", parts, brokers);
    f->st = durable ? tb_store(f->dir, sizeof(f->dir)) : NULL;
    CU_ASSERT_FATAL(f->st != NULL || !durable);
    char extra[64] = "";
    if (spool_after_ms) snprintf(extra, sizeof(extra), "\"spool_after_ms\":%d,", spool_after_ms);
    f->cfg = tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{%s"
                    "\"to_kafka\":[{\"match\":\"d/+\",\"topic\":\"out\",\"key\":\"{2}\"}]}}",
                    f->k.bootstrap, extra);
    CU_ASSERT_FATAL(f->cfg != NULL);
    if (spool_max_bytes) f->cfg->bridge.spool_max_bytes = spool_max_bytes;
    f->br = mk(f->cfg, f->st, NULL, true);
    f->a = calloc(1, sizeof(*f->a));
}

static void fx_close(fx_t *f)
{
    bridge_free(f->br);
    cfg_free(f->cfg);
    if (f->st) tb_store_rm(f->st, f->dir);
    tb_kafka_stop(&f->k);
    free(f->a);
}

static void outage(bool durable)
{
    fx_t f;
    fx_open(&f, 3, 3, durable, 500, 0);
    offer_n(f.br, f.a, 0, 50, 4);
    CU_ASSERT(tb_wait_acks(f.a, 50, 10000));
    CU_ASSERT(wait_drained(f.br, 10000)); /* a slow warm-up may have spooled */
    tb_sleep_ms(50);
    tb_kafka_down(&f.k, true);
    int64_t t0 = tb_now();
    offer_n(f.br, f.a, 50, 250, 4);
    CU_ASSERT(tb_wait_acks(f.a, 250, 8000)); /* acks from the spool */
    CU_ASSERT(tb_now() - t0 >= 400);
    CU_ASSERT(f.a->bad == 0);
    bridge_stats_t s;
    bridge_get_stats(f.br, &s);
    CU_ASSERT(s.spooled >= 200); /* more if the warm-up timed out */
    CU_ASSERT(s.spool_depth >= 200);
    offer_n(f.br, f.a, 250, 300, 4); /* still behind the spool */
    CU_ASSERT(tb_wait_acks(f.a, 300, 5000));
    tb_kafka_down(&f.k, false);
    CU_ASSERT(wait_drained(f.br, 20000));
    bridge_get_stats(f.br, &s);
    CU_ASSERT(s.acked >= 300 && s.failed == 0);
    check_exactly_once(&f.k, "out", 3, 300, 4);
    fx_close(&f);
}

static void outage_spools_then_drains_in_order(void)
{
    outage(true);
}

static void outage_memory_spool(void)
{
    outage(false);
}

/* librdkafka raises a fatal error (as an idempotent producer does when
 * it can no longer keep its guarantees): the bridge replaces its producer,
 * and every record offered after it still reaches Kafka, once, in order. */
static void fatal_error_renews_producer(void)
{
    fx_t f;
    fx_open(&f, 1, 2, true, 500, 0);
    offer_n(f.br, f.a, 0, 50, 4);
    CU_ASSERT(tb_wait_acks(f.a, 50, 10000));
    CU_ASSERT(wait_drained(f.br, 10000));
    CU_ASSERT(rd_kafka_test_fatal_error(f.br->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                        "test: fatal") == RD_KAFKA_RESP_ERR_NO_ERROR);
    offer_n(f.br, f.a, 50, 200, 4);
    CU_ASSERT(tb_wait_acks(f.a, 200, 20000));
    CU_ASSERT(f.a->bad == 0);
    CU_ASSERT(wait_drained(f.br, 20000));
    bridge_stats_t s;
    bridge_get_stats(f.br, &s);
    CU_ASSERT(s.producer_renewals == 1);
    CU_ASSERT(s.failed == 0);
    check_exactly_once(&f.k, "out", 2, 200, 4);
    fx_close(&f);
}

static void spool_survives_restart(void)
{
    fx_t f;
    fx_open(&f, 1, 2, true, 300, 0);
    offer_n(f.br, f.a, 0, 5, 2);
    CU_ASSERT(tb_wait_acks(f.a, 5, 10000));
    tb_kafka_down(&f.k, true);
    offer_n(f.br, f.a, 5, 45, 2);
    CU_ASSERT(tb_wait_acks(f.a, 45, 8000));
    CU_ASSERT(f.a->bad == 0);
    bridge_stats_t s;
    bridge_get_stats(f.br, &s);
    uint64_t depth = s.spool_depth; /* 40, or more if the warm-up timed out */
    CU_ASSERT(depth >= 40);
    bridge_free(f.br); /* Kafka still down: the spool stays */
    f.br = mk(f.cfg, f.st, NULL, false);
    bridge_get_stats(f.br, &s);
    CU_ASSERT(s.spool_depth == depth);
    tb_kafka_down(&f.k, false);
    CU_ASSERT_FATAL(bridge_start(f.br) == 0);
    offer_n(f.br, f.a, 45, 50, 2); /* behind the replay */
    CU_ASSERT(wait_drained(f.br, 20000));
    CU_ASSERT(tb_wait_acks(f.a, 50, 10000));
    check_exactly_once(&f.k, "out", 2, 50, 2);
    fx_close(&f);
}

static void spool_full_refuses(void)
{
    fx_t f;
    fx_open(&f, 1, 1, true, 200, 4096); /* a spool below what the config file allows */
    tb_kafka_down(&f.k, true);
    offer_n(f.br, f.a, 0, 1, 1);
    CU_ASSERT(tb_wait_acks(f.a, 1, 5000)); /* spooling now */
    int full = 0, accepted = 1;
    for (int i = 1; i < 500 && !full; i++) {
        char pl[32];
        snprintf(pl, sizeof(pl), "k0-%d", i);
        bridge_msg_t m = tb_msg("d/k0", pl, 1);
        int rc = bridge_offer(f.br, &m, tb_ack, f.a);
        if (rc == BRIDGE_FULL)
            full = 1;
        else
            accepted += rc == BRIDGE_PENDING;
    }
    CU_ASSERT(full);
    bridge_msg_t q0 = tb_msg("d/k0", "qos0", 0);
    CU_ASSERT(bridge_offer(f.br, &q0, NULL, NULL) == BRIDGE_DONE);
    bridge_stats_t s;
    bridge_get_stats(f.br, &s);
    CU_ASSERT(s.dropped == 1);
    CU_ASSERT(s.spool_bytes <= 4096);
    CU_ASSERT(tb_wait_acks(f.a, accepted, 5000));
    tb_kafka_down(&f.k, false);
    CU_ASSERT(wait_drained(f.br, 20000));
    check_exactly_once(&f.k, "out", 1, accepted, 1);
    fx_close(&f);
}

static void dead_letter_local_then_replay(void)
{
    tb_kafka_t k;
    tb_kafka_start(&k, 1);
    rd_kafka_mock_topic_create(k.mc, "out", 1, 1);
    char dir[64];
    store_t *st = tb_store(dir, sizeof(dir));
    cfg_t *cfg = tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\",\"properties\":{"
                        "\"message.max.bytes\":\"1000\"}},\"bridge\":{\"to_kafka\":[{\"match\":"
                        "\"d/+\",\"topic\":\"out\"}]}}",
                        k.bootstrap);
    CU_ASSERT_FATAL(cfg != NULL);
    bridge_t *br = mk(cfg, st, NULL, true);
    tb_acks_t *a = calloc(1, sizeof(*a));
    char *big = malloc(3001);
    memset(big, 'x', 3000);
    big[3000] = 0;
    bridge_msg_t m = tb_msg("d/big", big, 1);
    CU_ASSERT(bridge_offer(br, &m, tb_ack, a) == BRIDGE_PENDING);
    CU_ASSERT(tb_wait_acks(a, 1, 5000));
    CU_ASSERT(a->bad == 0); /* durable in the quarantine */
    bridge_stats_t s;
    bridge_get_stats(br, &s);
    CU_ASSERT(s.dead_lettered == 1);
    bridge_free(br);
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    CU_ASSERT(bridge_dlq_list(st, f) == 0);
    fclose(f);
    CU_ASSERT(strstr(text, "MSG_SIZE_TOO_LARGE") != NULL);
    CU_ASSERT(strstr(text, "topic=out") != NULL);
    free(text);
    cfg_t *cfg2 = tb_cfg("{\"kafka\":{\"bootstrap\":\"%s\"}}", k.bootstrap);
    char err[256];
    CU_ASSERT(bridge_dlq_replay(cfg2, st, err, sizeof(err)) == 1);
    tb_rec_t *r;
    int n = tb_read(&k, "out", 1, 1, 10000, &r);
    CU_ASSERT(n == 1 && r[0].vlen == 3000);
    tb_recs_free(r, n);
    uint64_t last = 0;
    store_last_dead_seq(st, &last);
    CU_ASSERT(last == 0); /* replayed records are gone from the quarantine */
    cfg_free(cfg2);
    cfg_free(cfg);
    free(big);
    tb_store_rm(st, dir);
    tb_kafka_stop(&k);
    free(a);
}

static void dead_letter_topic(void)
{
    tb_kafka_t k;
    tb_kafka_start(&k, 1);
    rd_kafka_mock_topic_create(k.mc, "out", 1, 1);
    rd_kafka_mock_topic_create(k.mc, "dlq", 1, 1);
    cfg_t *cfg = tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{"
                        "\"dead_letter_topic\":\"dlq\",\"to_kafka\":[{\"match\":\"d/+\","
                        "\"topic\":\"out\"}]}}",
                        k.bootstrap);
    bridge_t *br = mk(cfg, NULL, NULL, true);
    tb_acks_t *a = calloc(1, sizeof(*a));
    offer_n(br, a, 0, 1, 1);
    CU_ASSERT(tb_wait_acks(a, 1, 10000));
    rd_kafka_mock_push_request_errors(k.mc, 0 /* Produce */, 1,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    offer_n(br, a, 1, 2, 1);
    CU_ASSERT(tb_wait_acks(a, 2, 10000));
    CU_ASSERT(a->bad == 0);
    tb_rec_t *r;
    int n = tb_read(&k, "dlq", 1, 1, 10000, &r);
    CU_ASSERT_FATAL(n == 1);
    CU_ASSERT(strcmp((char *)r[0].val, "k0-1") == 0);
    CU_ASSERT(tb_hdr_is(&r[0], "sluice.original_topic", "out"));
    CU_ASSERT(tb_hdr_is(&r[0], "sluice.error", "MSG_SIZE_TOO_LARGE"));
    tb_recs_free(r, n);
    bridge_stats_t s;
    bridge_get_stats(br, &s);
    CU_ASSERT(s.dead_lettered == 1);
    bridge_free(br);
    cfg_free(cfg);
    tb_kafka_stop(&k);
    free(a);
}

/* ---- from_kafka ---- */

typedef struct inj {
    atomic_int calls, ok;
    atomic_bool open;
    char topics[16][64];
} inj_t;

static int inject(void *ctx, const bridge_msg_t *m)
{
    inj_t *j = ctx;
    atomic_fetch_add(&j->calls, 1);
    if (!atomic_load(&j->open)) return -1;
    int i = atomic_fetch_add(&j->ok, 1);
    if (i < 16) snprintf(j->topics[i], sizeof(j->topics[i]), "%.*s", m->topic_len, m->topic);
    return 0;
}

static int64_t committed(tb_kafka_t *k, const char *group, const char *topic)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", k->bootstrap, NULL, 0);
    rd_kafka_conf_set(c, "group.id", group, NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, NULL, 0);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0);
    int64_t off = -2;
    if (!rd_kafka_committed(rk, l, 5000)) off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return off;
}

static void from_kafka_injects_then_commits(void)
{
    tb_kafka_t k;
    tb_kafka_start(&k, 1);
    rd_kafka_mock_topic_create(k.mc, "cmd", 1, 1);
    for (int i = 0; i < 6; i++) {
        char v[16];
        snprintf(v, sizeof(v), "c%d", i);
        tb_produce(&k, "cmd", i % 2 ? "d2" : "d1", v, i == 5 ? "n1" : (i == 4 ? "other" : NULL));
    }
    cfg_t *cfg = tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{"
                        "\"from_kafka\":[{\"topic\":\"cmd\",\"group\":\"g1\",\"mqtt_topic\":"
                        "\"devices/{key}/commands/{header.app}\",\"qos\":1}]}}",
                        k.bootstrap);
    CU_ASSERT_FATAL(cfg != NULL);
    inj_t *j = calloc(1, sizeof(*j));
    bridge_hooks_t hooks = {.inject = inject, .ctx = j};
    bridge_t *br = mk(cfg, NULL, &hooks, true);
    int64_t end = tb_now() + 10000;
    while (atomic_load(&j->calls) < 3 && tb_now() < end)
        tb_sleep_ms(20);
    CU_ASSERT(atomic_load(&j->calls) >= 3); /* retried, refused */
    tb_sleep_ms(300);
    CU_ASSERT(committed(&k, "g1", "cmd") < 0); /* nothing committed before inject succeeded */
    atomic_store(&j->open, true);
    end = tb_now() + 10000;
    while (atomic_load(&j->ok) < 5 && tb_now() < end)
        tb_sleep_ms(20);
    CU_ASSERT(atomic_load(&j->ok) == 5); /* the record from n1 is not echoed */
    CU_ASSERT_STRING_EQUAL(j->topics[0], "devices/d1/commands/x");
    CU_ASSERT_STRING_EQUAL(j->topics[1], "devices/d2/commands/x");
    end = tb_now() + 10000;
    while (committed(&k, "g1", "cmd") != 6 && tb_now() < end)
        tb_sleep_ms(100);
    CU_ASSERT(committed(&k, "g1", "cmd") == 6); /* skipped own record committed too */
    bridge_stats_t s;
    bridge_get_stats(br, &s);
    CU_ASSERT(s.consumed == 6 && s.delivered == 5);
    bridge_free(br);
    cfg_free(cfg);
    tb_kafka_stop(&k);
    free(j);
}

static void from_kafka_mqtt_topic_header_and_loop(void)
{
    tb_kafka_t k;
    tb_kafka_start(&k, 1);
    rd_kafka_mock_topic_create(k.mc, "mirror", 1, 1);
    /* A record sluice produced (sluice.node n1), mirrored back: skipped. */
    cfg_t *cfg = tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{"
                        "\"to_kafka\":[{\"match\":\"m/#\",\"topic\":\"mirror\"}],"
                        "\"from_kafka\":[{\"topic\":\"mirror\",\"group\":\"g2\"}]}}",
                        k.bootstrap);
    cfg_t *cfg2 = tb_cfg("{\"node_id\":\"n2\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{"
                         "\"to_kafka\":[{\"match\":\"m/#\",\"topic\":\"mirror\"}]}}",
                         k.bootstrap);
    inj_t *j = calloc(1, sizeof(*j));
    atomic_store(&j->open, true);
    bridge_hooks_t hooks = {.inject = inject, .ctx = j};
    bridge_t *br = mk(cfg, NULL, &hooks, true);
    bridge_t *br2 = mk(cfg2, NULL, NULL, true);
    tb_acks_t *a = calloc(1, sizeof(*a));
    bridge_msg_t m = tb_msg("m/own", "x", 1);
    CU_ASSERT(bridge_offer(br, &m, tb_ack, a) == BRIDGE_PENDING);
    m = tb_msg("m/from/n2", "y", 1);
    CU_ASSERT(bridge_offer(br2, &m, tb_ack, a) == BRIDGE_PENDING);
    CU_ASSERT(tb_wait_acks(a, 2, 10000));
    int64_t end = tb_now() + 10000;
    bridge_stats_t s;
    do {
        tb_sleep_ms(50);
        bridge_get_stats(br, &s);
    } while (s.consumed < 2 && tb_now() < end);
    tb_sleep_ms(200);
    CU_ASSERT(s.consumed == 2);
    CU_ASSERT(atomic_load(&j->ok) == 1);
    CU_ASSERT_STRING_EQUAL(j->topics[0], "m/from/n2"); /* from the mqtt.topic header */
    bridge_free(br2);
    bridge_free(br);
    cfg_free(cfg);
    cfg_free(cfg2);
    tb_kafka_stop(&k);
    free(j);
    free(a);
}

typedef struct seen {
    atomic_int ok, limit;
    atomic_int count[10];
} seen_t;

static int inject_limited(void *ctx, const bridge_msg_t *m)
{
    seen_t *v = ctx;
    if (atomic_load(&v->ok) >= atomic_load(&v->limit)) return -1;
    int i = atoi((const char *)m->payload + 1);
    if (i >= 0 && i < 10) atomic_fetch_add(&v->count[i], 1);
    atomic_fetch_add(&v->ok, 1);
    return 0;
}

static void from_kafka_restart_loses_nothing(void)
{
    tb_kafka_t k;
    tb_kafka_start(&k, 1);
    rd_kafka_mock_topic_create(k.mc, "cmd2", 1, 1);
    for (int i = 0; i < 10; i++) {
        char v[16];
        snprintf(v, sizeof(v), "c%d", i);
        tb_produce(&k, "cmd2", "d1", v, NULL);
    }
    /* The mock coordinator keeps a member that left until its session
     * times out: keep that short here. */
    cfg_t *cfg =
        tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\",\"properties\":{"
               "\"session.timeout.ms\":\"6000\",\"heartbeat.interval.ms\":\"500\"}},"
               "\"bridge\":{\"from_kafka\":[{\"topic\":\"cmd2\",\"group\":\"g3\",\"mqtt_topic\":"
               "\"d/{key}\"}]}}",
               k.bootstrap);
    seen_t *v = calloc(1, sizeof(*v));
    atomic_store(&v->limit, 4); /* the broker fails from the fifth record on */
    bridge_hooks_t hooks = {.inject = inject_limited, .ctx = v};
    bridge_t *br = mk(cfg, NULL, &hooks, true);
    int64_t end = tb_now() + 10000;
    while (atomic_load(&v->ok) < 4 && tb_now() < end)
        tb_sleep_ms(20);
    tb_sleep_ms(300);
    bridge_free(br); /* "restart" mid-stream */
    CU_ASSERT(atomic_load(&v->ok) == 4);
    atomic_store(&v->limit, 1000);
    br = mk(cfg, NULL, &hooks, true);
    end = tb_now() + 15000;
    while (atomic_load(&v->count[9]) < 1 && tb_now() < end)
        tb_sleep_ms(20);
    for (int i = 0; i < 10; i++) {
        CU_ASSERT(atomic_load(&v->count[i]) == 1); /* none skipped, none repeated */
        if (atomic_load(&v->count[i]) != 1)
            fprintf(stderr, " [%d]=%d", i, atomic_load(&v->count[i]));
    }
    bridge_free(br);
    cfg_free(cfg);
    tb_kafka_stop(&k);
    free(v);
}

typedef struct offerer {
    bridge_t *br;
    tb_acks_t *a;
    int id;
} offerer_t;

static void *offer_thread(void *arg)
{
    offerer_t *o = arg;
    for (int i = 0; i < 200; i++) {
        char topic[32], pl[32];
        snprintf(topic, sizeof(topic), "d/k%d", o->id);
        snprintf(pl, sizeof(pl), "k%d-%d", o->id, o->id * 1000 + i);
        bridge_msg_t m = tb_msg(topic, pl, 1);
        if (bridge_offer(o->br, &m, tb_ack, o->a) != BRIDGE_PENDING)
            atomic_fetch_add(&o->a->bad, 1);
    }
    return NULL;
}

static void concurrent_offers_keep_key_order(void)
{
    fx_t f;
    fx_open(&f, 1, 4, false, 0, 0);
    pthread_t t[4];
    offerer_t o[4];
    for (int i = 0; i < 4; i++) {
        o[i] = (offerer_t){f.br, f.a, i};
        pthread_create(&t[i], NULL, offer_thread, &o[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT(tb_wait_acks(f.a, 800, 15000));
    CU_ASSERT(f.a->bad == 0);
    tb_rec_t *r;
    int n = tb_read(&f.k, "out", 4, 800, 15000, &r);
    CU_ASSERT(n == 800);
    int last[4] = {-1, -1, -1, -1};
    for (int i = 0; i < n; i++) {
        int key = 0, v = 0;
        CU_ASSERT(sscanf((char *)r[i].val, "k%d-%d", &key, &v) == 2 && key < 4);
        CU_ASSERT(v > last[key]);
        last[key] = v;
    }
    tb_recs_free(r, n);
    fx_close(&f);
}

void test_bridge_kafka_register(CU_pSuite s)
{
    CU_add_test(s, "concurrent_offers_keep_key_order", concurrent_offers_keep_key_order);
    CU_add_test(s, "outage_spools_then_drains_in_order", outage_spools_then_drains_in_order);
    CU_add_test(s, "outage_memory_spool_without_store", outage_memory_spool);
    CU_add_test(s, "spool_survives_restart", spool_survives_restart);
    CU_add_test(s, "fatal_error_renews_producer", fatal_error_renews_producer);
    CU_add_test(s, "spool_full_refuses_qos1_drops_qos0", spool_full_refuses);
    CU_add_test(s, "dead_letter_local_then_replay", dead_letter_local_then_replay);
    CU_add_test(s, "dead_letter_topic", dead_letter_topic);
    CU_add_test(s, "from_kafka_injects_then_commits", from_kafka_injects_then_commits);
    CU_add_test(s, "from_kafka_mqtt_topic_header_and_loop_prevention",
                from_kafka_mqtt_topic_header_and_loop);
    CU_add_test(s, "from_kafka_restart_loses_nothing", from_kafka_restart_loses_nothing);
}
