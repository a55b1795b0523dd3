/*
 * test_bridge.c - bridge suite: templates, rules, record formats, order,
 * ack after Kafka, and the helpers; test_bridge_kafka.c has outages, the
 * spool, dead letters and from_kafka. Everything runs against librdkafka's
 * mock cluster and is read back with a real librdkafka consumer.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge_int.h"
#include "test_bridge.h"

static void quiet(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

int64_t tb_now(void)
{
    return bridge_now_ms();
}

void tb_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void tb_kafka_start(tb_kafka_t *k, int brokers)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, quiet);
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, NULL, 0);
    k->mc = rd_kafka_mock_cluster_new(k->rk, brokers);
    k->brokers = brokers;
    snprintf(k->bootstrap, sizeof(k->bootstrap), "%s", rd_kafka_mock_cluster_bootstraps(k->mc));
}

void tb_kafka_stop(tb_kafka_t *k)
{
    rd_kafka_mock_cluster_destroy(k->mc);
    rd_kafka_destroy(k->rk);
}

void tb_kafka_down(tb_kafka_t *k, bool down)
{
    for (int b = 1; b <= k->brokers; b++) {
        if (down)
            rd_kafka_mock_broker_set_down(k->mc, b);
        else
            rd_kafka_mock_broker_set_up(k->mc, b);
    }
}

cfg_t *tb_cfg(const char *fmt, ...)
{
    char json[4096], err[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);
    cfg_t *cfg = NULL;
    if (cfg_parse("test.json", json, strlen(json), &cfg, err, sizeof(err)))
        fprintf(stderr, "tb_cfg: %s\n", err);
    return cfg;
}

void tb_ack(void *arg, int status)
{
    tb_acks_t *a = arg;
    int i = atomic_fetch_add(&a->n, 1);
    if (i < TB_MAX_ACKS) a->at_ms[i] = tb_now();
    if (status) atomic_fetch_add(&a->bad, 1);
    atomic_fetch_add(&a->done, 1); /* after the write (ThreadSanitizer: read before it) */
}

bool tb_wait_acks(tb_acks_t *a, int n, int ms)
{
    int64_t end = tb_now() + ms;
    while (atomic_load(&a->done) < n && tb_now() < end)
        tb_sleep_ms(5);
    return atomic_load(&a->done) >= n;
}

int tb_read(tb_kafka_t *k, const char *topic, int np, int n, int ms, tb_rec_t **out)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, quiet);
    rd_kafka_conf_set(c, "bootstrap.servers", k->bootstrap, NULL, 0);
    rd_kafka_conf_set(c, "group.id", "tb-reader", NULL, 0);
    rd_kafka_conf_set(c, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, NULL, 0);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    tb_rec_t *recs = calloc((size_t)n + 64, sizeof(*recs));
    int got = 0;
    int64_t end = tb_now() + ms;
    while (got < n + 64 && tb_now() < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
        if (!m) {
            if (got >= n) break; /* a quiet poll after n: nothing more is coming */
            continue;
        }
        if (!m->err) {
            tb_rec_t *r = &recs[got++];
            snprintf(r->topic, sizeof(r->topic), "%s", rd_kafka_topic_name(m->rkt));
            r->partition = m->partition;
            r->offset = m->offset;
            r->ts = rd_kafka_message_timestamp(m, NULL);
            r->klen = m->key_len;
            r->key = malloc(m->key_len + 1);
            memcpy(r->key, m->key ? m->key : "", m->key_len);
            r->key[m->key_len] = 0;
            r->vlen = m->len;
            r->val = malloc(m->len + 1);
            memcpy(r->val, m->payload ? m->payload : "", m->len);
            r->val[m->len] = 0;
            rd_kafka_headers_t *h = NULL;
            if (!rd_kafka_message_detach_headers(m, &h)) r->hdrs = h;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    *out = recs;
    return got;
}

void tb_recs_free(tb_rec_t *r, int n)
{
    for (int i = 0; i < n; i++) {
        free(r[i].key);
        free(r[i].val);
        if (r[i].hdrs) rd_kafka_headers_destroy(r[i].hdrs);
    }
    free(r);
}

bool tb_hdr_is(const tb_rec_t *r, const char *name, const char *val)
{
    const void *v;
    size_t vl;
    if (!r->hdrs || rd_kafka_header_get_last(r->hdrs, name, &v, &vl)) return false;
    return vl == strlen(val) && (vl == 0 || memcmp(v, val, vl) == 0);
}

store_t *tb_store(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/tb_bridge_XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    store_opts_t o;
    store_opts_default(&o);
    store_t *st = NULL;
    char err[256];
    if (store_open(dir, &o, &st, err, sizeof(err))) fprintf(stderr, "tb_store: %s\n", err);
    return st;
}

void tb_store_rm(store_t *st, const char *dir)
{
    if (st) store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", dir);
}

bridge_msg_t tb_msg(const char *topic, const char *payload, uint8_t qos)
{
    return (bridge_msg_t){.topic = topic,
                          .topic_len = (uint16_t)strlen(topic),
                          .payload = (const uint8_t *)payload,
                          .payload_len = (uint32_t)strlen(payload),
                          .qos = qos,
                          .clientid = "c1"};
}

void tb_produce(tb_kafka_t *k, const char *topic, const char *key, const char *val,
                const char *node)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, quiet);
    rd_kafka_conf_set(c, "bootstrap.servers", k->bootstrap, NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, NULL, 0);
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (node) rd_kafka_header_add(h, "sluice.node", -1, node, -1);
    rd_kafka_header_add(h, "app", -1, "x", -1);
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                      RD_KAFKA_V_VALUE((void *)val, strlen(val)),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                      RD_KAFKA_V_END);
    rd_kafka_flush(rk, 5000);
    rd_kafka_destroy(rk);
}

/* ---- templates ---- */

static void expand_is(const char *tmpl, const char *topic, const char *want)
{
    tmpl_t t;
    char why[200];
    CU_ASSERT_FATAL(bridge_tmpl_compile(&t, tmpl, TMPL_TO_KAFKA, why, sizeof(why)) == 0);
    bridge_msg_t m = tb_msg(topic, "", 0);
    m.username = "u1";
    store_buf_t b;
    store_buf_init(&b);
    bridge_tmpl_expand_mqtt(&t, &m, "n1", &b);
    store_buf_u8(&b, 0);
    CU_ASSERT_STRING_EQUAL((char *)b.p, want);
    store_buf_free(&b);
    bridge_tmpl_free(&t);
}

static void template_levels_and_names(void)
{
    expand_is("{2}", "devices/d7/telemetry", "d7");
    expand_is("{1}-{3}", "devices/d7/telemetry", "devices-telemetry");
    expand_is("x{9}y", "devices/d7/telemetry", "xy");
    expand_is("{2}", "a//c", "");
    expand_is("{topic}|{clientid}|{username}|{node}", "a/b", "a/b|c1|u1|n1");
    expand_is("plain", "a", "plain");
}

static void template_bad_refused(void)
{
    tmpl_t t;
    char why[200];
    const char *bad[] = {"{nope}", "{0}", "{2", "{key}", "{header.x}", "{{1}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT(bridge_tmpl_compile(&t, bad[i], TMPL_TO_KAFKA, why, sizeof(why)) == -1);
    CU_ASSERT(bridge_tmpl_compile(&t, "a b-{2}", TMPL_KAFKA_TOPIC, why, sizeof(why)) == -1);
    CU_ASSERT(bridge_tmpl_compile(&t, "{clientid}", TMPL_FROM_KAFKA, why, sizeof(why)) == -1);
    CU_ASSERT(bridge_tmpl_compile(&t, "d/{key}/{header.mqtt.topic}/{partition}", TMPL_FROM_KAFKA,
                                  why, sizeof(why)) == 0);
    bridge_tmpl_free(&t);
}

static void bad_rule_fails_bridge_new(void)
{
    cfg_t *cfg = tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"127.0.0.1:1\"},"
                        "\"bridge\":{\"to_kafka\":[{\"match\":\"a/#\",\"topic\":\"t\"},"
                        "{\"match\":\"b/#\",\"topic\":\"t\",\"headers\":{\"h\":\"x\"}}],"
                        "\"from_kafka\":[{\"topic\":\"c\",\"mqtt_topic\":\"d/{key}\"}]}}");
    CU_ASSERT_FATAL(cfg != NULL);
    bridge_hooks_t hooks = {.inject = NULL};
    bridge_t *br = NULL;
    char err[512];
    struct {
        char **field;
        const char *value, *want;
    } cases[] = {
        {&cfg->bridge.to_kafka[1].key, "{nope}", "bridge.to_kafka[1].key:"},
        {&cfg->bridge.to_kafka[0].topic, "bad topic{2}", "bridge.to_kafka[0].topic:"},
        {&cfg->bridge.to_kafka[1].headers[0].value, "{2", "bridge.to_kafka[1].headers.h:"},
        {&cfg->bridge.from_kafka[0].mqtt_topic, "{key2}", "bridge.from_kafka[0].mqtt_topic:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *saved = *cases[i].field;
        *cases[i].field = (char *)cases[i].value;
        hooks.inject = (int (*)(void *, const bridge_msg_t *))1; /* never called */
        err[0] = 0;
        CU_ASSERT(bridge_new(cfg, NULL, &hooks, &br, err, sizeof(err)) == BRIDGE_ERR);
        CU_ASSERT(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)))
            fprintf(stderr, "\n  got \"%s\", want \"%s...\"\n", err, cases[i].want);
        *cases[i].field = saved;
    }
    cfg_free(cfg);
}

static int no_inject(void *ctx, const bridge_msg_t *m)
{
    return -1;
}

static void example_config_and_bad_property(void)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s", __FILE__);
    char *cut = strstr(path, "tests/unit/test_bridge.c");
    CU_ASSERT_FATAL(cut != NULL);
    snprintf(cut, sizeof(path) - (size_t)(cut - path), "examples/bridge.json");
    cfg_t *cfg = NULL;
    char err[512];
    int rc = cfg_load(path, &cfg, err, sizeof(err));
    if (rc) fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    bridge_hooks_t hooks = {.inject = no_inject};
    bridge_t *br = NULL;
    rc = bridge_new(cfg, NULL, &hooks, &br, err, sizeof(err));
    if (rc) fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT(rc == 0);
    bridge_free(br);
    CU_ASSERT(bridge_new(cfg, NULL, NULL, &br, err, sizeof(err)) == BRIDGE_ERR);
    CU_ASSERT(strstr(err, "bridge.from_kafka[0]") != NULL); /* needs an inject hook */
    cfg_free(cfg);
    cfg = tb_cfg("{\"kafka\":{\"bootstrap\":\"127.0.0.1:1\",\"properties\":{"
                 "\"no.such.property\":\"1\"}},\"bridge\":{\"to_kafka\":[{\"match\":\"#\","
                 "\"topic\":\"t\"}]}}");
    CU_ASSERT_FATAL(cfg != NULL);
    CU_ASSERT(bridge_new(cfg, NULL, NULL, &br, err, sizeof(err)) == BRIDGE_ERR);
    CU_ASSERT(strncmp(err, "kafka.properties.no.such.property:", 34) == 0);
    cfg_free(cfg);
}

/* ---- records end to end ---- */

static tb_kafka_t K;

static bridge_t *start_bridge(cfg_t *cfg, store_t *st, const bridge_hooks_t *hooks)
{
    bridge_t *br = NULL;
    char err[512];
    int rc = bridge_new(cfg, st, hooks, &br, err, sizeof(err));
    if (rc) fprintf(stderr, "bridge_new: %s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT_FATAL(bridge_start(br) == 0);
    return br;
}

static void raw_format_byte_exact(void)
{
    rd_kafka_mock_topic_create(K.mc, "raw1", 1, 1);
    cfg_t *cfg = tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{"
                        "\"to_kafka\":[{\"match\":\"devices/+/telemetry\",\"topic\":\"raw1\","
                        "\"key\":\"{2}\",\"headers\":{\"site\":\"s-{2}-{node}\"}}]}}",
                        K.bootstrap);
    CU_ASSERT_FATAL(cfg != NULL);
    bridge_t *br = start_bridge(cfg, NULL, NULL);
    static const uint8_t props[] = {0x03, 0,    4,    't',  'e', 'x', 't', 0x09, 0,
                                    2,    0xff, 0x00, 0x26, 0,   1,   'a', 0,    1,
                                    'b',  0x26, 0,    1,    'c', 0,   2,   'd',  'e'};
    static const uint8_t payload[] = {0, 1, 2, 0xff, 'x'};
    bridge_msg_t m = tb_msg("devices/d7/telemetry", "", 1);
    m.payload = payload;
    m.payload_len = sizeof(payload);
    m.username = "alice";
    m.retain = true;
    m.props = props;
    m.props_len = sizeof(props);
    tb_acks_t *a = calloc(1, sizeof(*a));
    CU_ASSERT(bridge_offer(br, &m, tb_ack, a) == BRIDGE_PENDING);
    CU_ASSERT(tb_wait_acks(a, 1, 10000));
    CU_ASSERT(a->bad == 0);
    tb_rec_t *r;
    int n = tb_read(&K, "raw1", 1, 1, 10000, &r);
    CU_ASSERT_FATAL(n == 1);
    CU_ASSERT(r[0].klen == 2 && memcmp(r[0].key, "d7", 2) == 0);
    CU_ASSERT(r[0].vlen == sizeof(payload) && memcmp(r[0].val, payload, sizeof(payload)) == 0);
    CU_ASSERT(tb_hdr_is(&r[0], "mqtt.topic", "devices/d7/telemetry"));
    CU_ASSERT(tb_hdr_is(&r[0], "mqtt.qos", "1"));
    CU_ASSERT(tb_hdr_is(&r[0], "mqtt.retain", "true"));
    CU_ASSERT(tb_hdr_is(&r[0], "mqtt.clientid", "c1"));
    CU_ASSERT(tb_hdr_is(&r[0], "mqtt.username", "alice"));
    CU_ASSERT(tb_hdr_is(&r[0], "mqtt.content_type", "text"));
    CU_ASSERT(tb_hdr_is(&r[0], "a", "b"));
    CU_ASSERT(tb_hdr_is(&r[0], "c", "de"));
    CU_ASSERT(tb_hdr_is(&r[0], "sluice.node", "n1"));
    CU_ASSERT(tb_hdr_is(&r[0], "site", "s-d7-n1"));
    const void *cv;
    size_t cl;
    CU_ASSERT(rd_kafka_header_get_last(r[0].hdrs, "mqtt.correlation_data", &cv, &cl) == 0 &&
              cl == 2 && memcmp(cv, "\xff\x00", 2) == 0);
    tb_recs_free(r, n);
    bridge_free(br);
    cfg_free(cfg);
    free(a);
}

static void json_format_byte_exact(void)
{
    rd_kafka_mock_topic_create(K.mc, "json1", 1, 1);
    cfg_t *cfg =
        tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{"
               "\"to_kafka\":[{\"match\":\"j/#\",\"topic\":\"json1\",\"format\":\"json\"}]}}",
               K.bootstrap);
    CU_ASSERT_FATAL(cfg != NULL);
    bridge_t *br = start_bridge(cfg, NULL, NULL);
    static const uint8_t props[] = {0x01, 1, 0x03, 0, 2, 'c', 't', 0x26, 0, 1, 'k', 0, 2, 'v', '"'};
    bridge_msg_t m = tb_msg("j/1", "{\"t\": [21.5, true, null]}", 1);
    m.props = props;
    m.props_len = sizeof(props);
    CU_ASSERT(bridge_offer(br, &m, NULL, NULL) == BRIDGE_DONE);
    m = tb_msg("j/2", "\x01\x02\x03\xfe", 0);
    CU_ASSERT(bridge_offer(br, &m, NULL, NULL) == BRIDGE_DONE);
    m = tb_msg("j/3", "{\"a\":", 0); /* not JSON: base64 */
    m.username = "bob";
    CU_ASSERT(bridge_offer(br, &m, NULL, NULL) == BRIDGE_DONE);
    tb_rec_t *r;
    int n = tb_read(&K, "json1", 1, 3, 10000, &r);
    CU_ASSERT_FATAL(n == 3);
    char want[512];
    snprintf(want, sizeof(want),
             "{\"v\":1,\"topic\":\"j/1\",\"qos\":1,\"retain\":false,\"clientid\":\"c1\","
             "\"username\":null,\"timestamp\":%lld,\"properties\":{\"payload_format\":1,"
             "\"content_type\":\"ct\",\"user\":[[\"k\",\"v\\\"\"]]},"
             "\"payload\":{\"t\": [21.5, true, null]}}",
             (long long)r[0].ts);
    CU_ASSERT_STRING_EQUAL((char *)r[0].val, want);
    snprintf(want, sizeof(want),
             "{\"v\":1,\"topic\":\"j/2\",\"qos\":0,\"retain\":false,\"clientid\":\"c1\","
             "\"username\":null,\"timestamp\":%lld,\"properties\":{},"
             "\"payload_base64\":\"AQID/g==\"}",
             (long long)r[1].ts);
    CU_ASSERT_STRING_EQUAL((char *)r[1].val, want);
    snprintf(want, sizeof(want),
             "{\"v\":1,\"topic\":\"j/3\",\"qos\":0,\"retain\":false,\"clientid\":\"c1\","
             "\"username\":\"bob\",\"timestamp\":%lld,\"properties\":{},"
             "\"payload_base64\":\"eyJhIjo=\"}",
             (long long)r[2].ts);
    CU_ASSERT_STRING_EQUAL((char *)r[2].val, want);
    CU_ASSERT(r[0].klen == 3 && memcmp(r[0].key, "j/1", 3) == 0); /* default key: topic */
    CU_ASSERT(tb_hdr_is(&r[0], "sluice.node", "n1"));
    tb_recs_free(r, n);
    bridge_free(br);
    cfg_free(cfg);
}

/* What the json format embeds raw must parse in cJSON too (fuzz_bridge
 * found a lone surrogate escape it refused): surrogates only in pairs. */
static void json_valid_surrogates_in_pairs_only(void)
{
    static const struct {
        const char *text;
        bool ok;
    } cases[] = {
        {"\"\\u00e9\"", true},          {"\"\\ud83d\\ude00\"", true},
        {"\"\\udddd\"", false},         {"\"\\ud83d\"", false},
        {"\"\\ud83dx\"", false},        {"\"\\ud83d\\u0041\"", false},
        {"[\"\\uDBFF\\uDFFF\"]", true}, {"{\"a\":[1,\"\\udddd00e9\"]}", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *t = cases[i].text;
        bool ok = bridge_json_valid((const uint8_t *)t, strlen(t));
        CU_ASSERT_EQUAL(ok, cases[i].ok);
        cJSON *j = cJSON_Parse(t);
        if (ok) CU_ASSERT_PTR_NOT_NULL(j); /* ours accepts only what cJSON does */
        cJSON_Delete(j);
    }
}

static void n_offers_keep_key_order(void)
{
    enum { N = 400, KEYS = 5 };
    rd_kafka_mock_topic_create(K.mc, "ord", 3, 1);
    cfg_t *cfg = tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{"
                        "\"to_kafka\":[{\"match\":\"d/+/t\",\"topic\":\"ord\",\"key\":\"{2}\","
                        "\"final\":true},{\"match\":\"#\",\"topic\":\"never\"}]}}",
                        K.bootstrap);
    CU_ASSERT_FATAL(cfg != NULL);
    bridge_t *br = start_bridge(cfg, NULL, NULL);
    tb_acks_t *a = calloc(1, sizeof(*a));
    for (int i = 0; i < N; i++) {
        char topic[32], pl[32];
        snprintf(topic, sizeof(topic), "d/k%d/t", i % KEYS);
        snprintf(pl, sizeof(pl), "%d", i);
        bridge_msg_t m = tb_msg(topic, pl, 1);
        CU_ASSERT(bridge_offer(br, &m, tb_ack, a) == BRIDGE_PENDING);
    }
    bridge_msg_t other = tb_msg("x/y", "z", 1);
    CU_ASSERT(bridge_offer(br, &other, tb_ack, a) == BRIDGE_PENDING); /* second rule */
    CU_ASSERT(tb_wait_acks(a, N + 1, 15000));
    CU_ASSERT(a->bad == 0);
    tb_rec_t *r;
    int n = tb_read(&K, "ord", 3, N, 15000, &r);
    CU_ASSERT(n == N);
    int last[KEYS];
    for (int k = 0; k < KEYS; k++)
        last[k] = -1;
    int part[KEYS] = {-1, -1, -1, -1, -1};
    for (int i = 0; i < n; i++) {
        int k = r[i].key[1] - '0', v = atoi((char *)r[i].val);
        CU_ASSERT(v % KEYS == k);
        CU_ASSERT(v > last[k]); /* per-key publish order */
        last[k] = v;
        if (part[k] < 0) part[k] = r[i].partition;
        CU_ASSERT(part[k] == r[i].partition); /* one key, one partition */
    }
    bridge_stats_t s;
    bridge_get_stats(br, &s);
    CU_ASSERT(s.acked == N + 1 && s.failed == 0 && s.spooled == 0);
    tb_recs_free(r, n);
    bridge_free(br);
    cfg_free(cfg);
    free(a);
}

static void ack_waits_for_kafka(void)
{
    rd_kafka_mock_topic_create(K.mc, "slow", 1, 1);
    cfg_t *cfg = tb_cfg("{\"node_id\":\"n1\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{"
                        "\"spool_after_ms\":5000,"
                        "\"to_kafka\":[{\"match\":\"s/#\",\"topic\":\"slow\"},"
                        "{\"match\":\"s/#\",\"topic\":\"slow\",\"ack\":\"local\"}]}}",
                        K.bootstrap);
    CU_ASSERT_FATAL(cfg != NULL);
    bridge_t *br = start_bridge(cfg, NULL, NULL);
    tb_acks_t *a = calloc(1, sizeof(*a));
    bridge_msg_t m = tb_msg("s/1", "warm", 1);
    CU_ASSERT(bridge_offer(br, &m, tb_ack, a) == BRIDGE_PENDING);
    CU_ASSERT(tb_wait_acks(a, 1, 10000));
    for (int b = 1; b <= K.brokers; b++)
        rd_kafka_mock_broker_set_rtt(K.mc, b, 700);
    tb_sleep_ms(50);
    int64_t t0 = tb_now();
    m = tb_msg("s/1", "slow", 1);
    CU_ASSERT(bridge_offer(br, &m, tb_ack, a) == BRIDGE_PENDING);
    m = tb_msg("s/1", "qos0", 0);
    CU_ASSERT(bridge_offer(br, &m, tb_ack, a) == BRIDGE_DONE); /* nothing to wait for */
    tb_sleep_ms(400);
    CU_ASSERT(atomic_load(&a->n) == 1); /* still waiting for Kafka */
    CU_ASSERT(tb_wait_acks(a, 2, 5000));
    CU_ASSERT(a->at_ms[1] - t0 >= 650);
    CU_ASSERT(a->bad == 0);
    for (int b = 1; b <= K.brokers; b++)
        rd_kafka_mock_broker_set_rtt(K.mc, b, 0);
    bridge_free(br);
    cfg_free(cfg);
    free(a);
}

static int suite_init(void)
{
    tb_kafka_start(&K, 3);
    return K.mc ? 0 : -1;
}

static int suite_clean(void)
{
    tb_kafka_stop(&K);
    return 0;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("bridge_rules", suite_init, suite_clean);
    CU_add_test(s, "template_levels_and_names", template_levels_and_names);
    CU_add_test(s, "template_bad_refused", template_bad_refused);
    CU_add_test(s, "bad_rule_fails_bridge_new_with_index_and_field", bad_rule_fails_bridge_new);
    CU_add_test(s, "example_config_compiles_bad_property_refused", example_config_and_bad_property);
    CU_add_test(s, "raw_format_byte_exact", raw_format_byte_exact);
    CU_add_test(s, "json_format_byte_exact", json_format_byte_exact);
    CU_add_test(s, "json_valid_surrogates_in_pairs_only", json_valid_surrogates_in_pairs_only);
    CU_add_test(s, "n_offers_n_records_in_key_order", n_offers_keep_key_order);
    CU_add_test(s, "ack_waits_for_kafka", ack_waits_for_kafka);
    CU_pSuite s2 = CU_add_suite("bridge_kafka", NULL, NULL);
    test_bridge_kafka_register(s2);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
