/*
 * bridge_consume.c - Kafka -> MQTT: one consumer (and consumer group) per
 * from_kafka rule, each on its own thread.
 *
 * At-least-once: auto commit and auto offset store are off; a record's
 * offset is stored only after hooks->inject returned 0 (or the record was
 * skipped on purpose: our own node's record, no usable MQTT topic), and
 * stored offsets are committed every COMMIT_MS and at stop. A failing
 * inject is retried in place, so nothing behind it is committed either.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge_int.h"

#define COMMIT_MS 200
#define RETRY_MS 100

struct consumer {
    struct bridge *br;
    const cfg_from_kafka_t *cfg;
    tmpl_t tmpl;
    bool has_tmpl;
    rd_kafka_t *rk;
    pthread_t thr;
    bool started;
    atomic_bool stop;
    atomic_uint_least64_t lag;
};

int bridge_consumers_new(struct bridge *br, char *err, size_t errlen)
{
    const cfg_t *cfg = br->cfg;
    if (!cfg->bridge.n_from_kafka) return 0;
    br->cons = calloc(cfg->bridge.n_from_kafka, sizeof(*br->cons));
    if (!br->cons) {
        snprintf(err, errlen, "bridge: out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->bridge.n_from_kafka; i++) {
        const cfg_from_kafka_t *fc = &cfg->bridge.from_kafka[i];
        consumer_t *c = &br->cons[i];
        char why[200], kerr[256], group[300];
        br->n_cons = i + 1;
        c->br = br;
        c->cfg = fc;
        if (!br->hooks.inject) {
            snprintf(err, errlen, "bridge.from_kafka[%zu]: no inject hook", i);
            return -1;
        }
        if (!fc->topic || !*fc->topic) {
            snprintf(err, errlen, "bridge.from_kafka[%zu].topic: required", i);
            return -1;
        }
        if (fc->qos > 2) {
            snprintf(err, errlen, "bridge.from_kafka[%zu].qos: must be 0, 1 or 2", i);
            return -1;
        }
        if (fc->mqtt_topic) {
            if (bridge_tmpl_compile(&c->tmpl, fc->mqtt_topic, TMPL_FROM_KAFKA, why, sizeof(why))) {
                snprintf(err, errlen, "bridge.from_kafka[%zu].mqtt_topic: %s", i, why);
                return -1;
            }
            c->has_tmpl = true;
        }
        snprintf(group, sizeof(group), "%s",
                 fc->group      ? fc->group
                 : cfg->node_id ? cfg->node_id
                                : "sluice");
        if (!fc->group)
            snprintf(group, sizeof(group), "sluice-%s", cfg->node_id ? cfg->node_id : "");
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_conf_set_log_cb(kc, bridge_quiet_log);
        const char *set[][2] = {
            {"bootstrap.servers", cfg->kafka.bootstrap},
            {"group.id", group},
            {"enable.auto.commit", "false"},
            {"enable.auto.offset.store", "false"},
            {"auto.offset.reset", "earliest"},
            {"client.id", "sluice"},
            {"reconnect.backoff.max.ms", "1000"},
        };
        for (size_t j = 0; j < sizeof(set) / sizeof(set[0]); j++)
            if (rd_kafka_conf_set(kc, set[j][0], set[j][1], kerr, sizeof(kerr))) {
                snprintf(err, errlen, "bridge.from_kafka[%zu]: %s: %s", i, set[j][0], kerr);
                rd_kafka_conf_destroy(kc);
                return -1;
            }
        /* kafka.properties apply to consumers too; producer-only ones are
         * accepted by librdkafka and ignored. */
        for (size_t j = 0; j < cfg->kafka.n_properties; j++)
            if (rd_kafka_conf_set(kc, cfg->kafka.properties[j].key, cfg->kafka.properties[j].value,
                                  kerr, sizeof(kerr))) {
                snprintf(err, errlen, "kafka.properties.%s: %s", cfg->kafka.properties[j].key,
                         kerr);
                rd_kafka_conf_destroy(kc);
                return -1;
            }
        c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, kerr, sizeof(kerr));
        if (!c->rk) {
            rd_kafka_conf_destroy(kc);
            snprintf(err, errlen, "bridge.from_kafka[%zu]: cannot create consumer: %s", i, kerr);
            return -1;
        }
        rd_kafka_poll_set_consumer(c->rk);
    }
    return 0;
}

static void prop_str(store_buf_t *b, uint8_t id, const void *p, size_t len)
{
    store_buf_u8(b, id);
    store_buf_u16(b, (uint16_t)len);
    store_buf_raw(b, p, len);
}

/* Kafka headers back to MQTT 5 properties: mqtt.content_type, the
 * correlation data and response topic, and every header that is not
 * mqtt.* / sluice.* as a user property. MQTT strings carry a 16-bit
 * length: a name or value over 65,535 bytes (Kafka allows any size) cannot
 * be one, and truncating the length would corrupt the whole PUBLISH, so
 * such a header is skipped and counted; the record itself is delivered. */
static void headers_to_props(struct bridge *br, rd_kafka_headers_t *h, store_buf_t *b)
{
    const char *name;
    const void *v;
    size_t vl;
    for (size_t i = 0; h && !rd_kafka_header_get_all(h, i, &name, &v, &vl); i++) {
        size_t nl = strlen(name);
        if (!v) continue;
        if (vl > 0xffff || nl > 0xffff) {
            atomic_fetch_add(&br->s.headers_skipped, 1);
            continue;
        }
        if (!strcmp(name, "mqtt.content_type") && mqtt_utf8_valid(v, vl))
            prop_str(b, MQTT_PROP_CONTENT_TYPE, v, vl);
        else if (!strcmp(name, "mqtt.correlation_data"))
            prop_str(b, MQTT_PROP_CORRELATION_DATA, v, vl);
        else if (!strcmp(name, "mqtt.response_topic") && mqtt_topic_valid(v, vl))
            prop_str(b, MQTT_PROP_RESPONSE_TOPIC, v, vl);
        else if (strncmp(name, "mqtt.", 5) && strncmp(name, "sluice.", 7) &&
                 mqtt_utf8_valid((const uint8_t *)name, nl) && mqtt_utf8_valid(v, vl)) {
            prop_str(b, MQTT_PROP_USER_PROPERTY, name, nl);
            store_buf_u16(b, (uint16_t)vl);
            store_buf_raw(b, v, vl);
        }
    }
}

/* 1: inject accepted or the record is skipped for good; 0: retry. */
static int handle(consumer_t *c, rd_kafka_message_t *rm)
{
    struct bridge *br = c->br;
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(rm, &h);
    if (bridge_header_is(h, "sluice.node", br->cfg->node_id)) return 1; /* our own: no echo */
    /* this cluster's: its node already delivered it cluster-wide, unless
     * the rule asks for them (a data topic read back under other topics) */
    if (br->cfg->cluster.enabled && !c->cfg->cluster_records &&
        bridge_header_is(h, "sluice.cluster", br->cfg->cluster.id))
        return 1;
    store_buf_t t, props;
    store_buf_init(&t);
    store_buf_init(&props);
    int rc = 1;
    if (c->has_tmpl) {
        bridge_tmpl_expand_kafka(&c->tmpl, rm, &t);
    } else {
        const void *v;
        size_t vl;
        if (h && !rd_kafka_header_get_last(h, "mqtt.topic", &v, &vl) && v) store_buf_raw(&t, v, vl);
    }
    if (t.oom || t.len == 0 || t.len > 0xffff || !mqtt_topic_valid(t.p, t.len)) {
        atomic_fetch_add(&br->s.dropped, 1); /* no usable MQTT topic */
        goto out;
    }
    headers_to_props(br, h, &props);
    bridge_msg_t m = {
        .topic = (const char *)t.p,
        .topic_len = (uint16_t)t.len,
        .payload = rm->payload ? rm->payload : (const uint8_t *)"",
        .payload_len = (uint32_t)rm->len,
        .qos = c->cfg->qos,
        .retain = c->cfg->retain,
        .clientid = "",
        .username = NULL,
        .props = props.p,
        .props_len = (uint32_t)props.len,
    };
    if (br->hooks.inject(br->hooks.ctx, &m) < 0)
        rc = 0;
    else
        atomic_fetch_add(&br->s.delivered, 1);
out:
    store_buf_free(&t);
    store_buf_free(&props);
    return rc;
}

static void store_offset(consumer_t *c, rd_kafka_message_t *rm)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(rm->rkt), rm->partition)->offset =
        rm->offset + 1;
    rd_kafka_offsets_store(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int64_t lo, hi;
    if (!rd_kafka_get_watermark_offsets(c->rk, rd_kafka_topic_name(rm->rkt), rm->partition, &lo,
                                        &hi) &&
        hi > rm->offset) {
        uint64_t lag = (uint64_t)(hi - rm->offset - 1), old = atomic_exchange(&c->lag, lag);
        atomic_fetch_add(&c->br->s.consumer_lag, lag - old);
    }
}

static void *consumer_main(void *arg)
{
    consumer_t *c = arg;
    struct bridge *br = c->br;
    int64_t last_commit = bridge_now_ms();
    bool dirty = false;
    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *rm = rd_kafka_consumer_poll(c->rk, 100);
        if (rm && !rm->err) {
            atomic_fetch_add(&br->s.consumed, 1);
            int ok;
            while (!(ok = handle(c, rm)) && !atomic_load(&c->stop)) {
                struct timespec ts = {0, RETRY_MS * 1000000L};
                nanosleep(&ts, NULL);
            }
            if (ok) {
                store_offset(c, rm);
                dirty = true;
            }
        }
        if (rm) rd_kafka_message_destroy(rm);
        if (dirty && bridge_now_ms() - last_commit >= COMMIT_MS) {
            rd_kafka_commit(c->rk, NULL, 1);
            dirty = false;
            last_commit = bridge_now_ms();
        }
    }
    if (dirty) rd_kafka_commit(c->rk, NULL, 0);
    rd_kafka_consumer_close(c->rk);
    return NULL;
}

int bridge_consumers_start(struct bridge *br)
{
    for (size_t i = 0; i < br->n_cons; i++) {
        consumer_t *c = &br->cons[i];
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, c->cfg->topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e) return BRIDGE_ERR;
        if (pthread_create(&c->thr, NULL, consumer_main, c)) return BRIDGE_ERR;
        c->started = true;
    }
    return 0;
}

void bridge_consumers_stop(struct bridge *br)
{
    for (size_t i = 0; i < br->n_cons; i++)
        atomic_store(&br->cons[i].stop, true);
    for (size_t i = 0; i < br->n_cons; i++)
        if (br->cons[i].started) {
            pthread_join(br->cons[i].thr, NULL);
            br->cons[i].started = false;
        }
}

void bridge_consumers_free(struct bridge *br)
{
    for (size_t i = 0; i < br->n_cons; i++) {
        if (br->cons[i].rk) rd_kafka_destroy(br->cons[i].rk);
        bridge_tmpl_free(&br->cons[i].tmpl);
    }
    free(br->cons);
    br->cons = NULL;
    br->n_cons = 0;
}

uint64_t bridge_consumer_lag(struct bridge *br, size_t i)
{
    return i < br->n_cons ? atomic_load(&br->cons[i].lag) : 0;
}
