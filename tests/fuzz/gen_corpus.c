/* gen_corpus.c - writes the seed corpora of fuzz_conn, fuzz_store and
 * fuzz_bridge from our own encoders, so that every seed is a valid input
 * the fuzzer mutates from. Not run by CI: the output is committed.
 *   build-fuzz/tests/fuzz/gen_corpus tests/fuzz/corpus */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"
#include "mqtt.h"
#include "store_int.h"

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
        perror(path);
        exit(1);
    }
}

#define S(lit) ((mqtt_str_t){(const uint8_t *)(lit), sizeof(lit) - 1})

/* ---- fuzz_conn: a session as u8 op | u8 len | bytes records ---- */
static uint8_t conv[8192];
static size_t conv_len;
static uint8_t version = MQTT_V311;

/* Packet p from client k, cut into reads of at most `cut` bytes. */
static void pkt(int k, const mqtt_packet_t *p, size_t cut)
{
    uint8_t b[1024];
    int n = mqtt_encode(b, sizeof b, version, p);
    if (n < 0) exit(2);
    for (int off = 0; off < n; off += (int)cut) {
        size_t m = (size_t)n - (size_t)off < cut ? (size_t)n - (size_t)off : cut;
        conv[conv_len++] = (uint8_t)k;
        conv[conv_len++] = (uint8_t)m;
        memcpy(conv + conv_len, b + off, m);
        conv_len += m;
    }
}

static void mconnect(int k, mqtt_str_t id, bool clean, bool will)
{
    mqtt_packet_t p = {.type = MQTT_CONNECT,
                       .u.connect = {.version = version,
                                     .clean_start = clean,
                                     .keepalive = 30,
                                     .client_id = id,
                                     .will = will,
                                     .will_qos = 1,
                                     .will_topic = S("w/t"),
                                     .will_payload = S("gone")}};
    if (version == MQTT_V5 && !clean) {
        p.u.connect.props.present = MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
        p.u.connect.props.session_expiry = 60;
    }
    pkt(k, &p, 255);
}

static void subscribe(int k, mqtt_str_t filter, uint8_t opts)
{
    mqtt_sub_entry_t e = {filter, opts};
    mqtt_packet_t p = {.type = MQTT_SUBSCRIBE,
                       .u.sub = {.packet_id = 1, .count = 1, .entries = &e}};
    pkt(k, &p, 255);
}

static void publish(int k, mqtt_str_t topic, uint8_t qos, bool retain, size_t cut)
{
    mqtt_packet_t p = {.type = MQTT_PUBLISH,
                       .u.publish = {.qos = qos,
                                     .retain = retain,
                                     .topic = topic,
                                     .packet_id = qos ? 7 : 0,
                                     .payload = S("hello")}};
    pkt(k, &p, cut);
}

static void simple(int k, mqtt_type_t t, uint16_t pid)
{
    mqtt_packet_t p = {.type = t, .u.ack = {.packet_id = pid}};
    pkt(k, &p, 255);
}

static void conn_seeds(void)
{
    for (int v = 0; v < 2; v++) {
        version = v ? MQTT_V5 : MQTT_V311;
        char name[64];
        conv_len = 0; /* subscriber and publisher, QoS 0/1/2, split reads */
        mconnect(0, S("sub"), true, false);
        subscribe(0, S("a/+/c"), 2);
        mconnect(1, S("pub"), true, true);
        publish(1, S("a/b/c"), 0, false, 255);
        publish(1, S("a/b/c"), 1, true, 3);
        publish(1, S("a/b/c"), 2, false, 1);
        simple(1, MQTT_PUBREL, 7);
        simple(0, MQTT_PUBACK, 1);
        simple(0, MQTT_PINGREQ, 0);
        simple(1, MQTT_DISCONNECT, 0);
        snprintf(name, sizeof name, "pubsub_v%d", version);
        put("fuzz_conn", name, conv, conv_len);

        conv_len = 0; /* same client id on two workers: takeover */
        mconnect(0, S("dup"), false, true);
        subscribe(0, S("#"), 1);
        mconnect(1, S("dup"), true, false);
        subscribe(1, S("x/#"), 1);
        publish(2, S("ignored"), 0, false, 255); /* first packet not CONNECT */
        mconnect(2, S("p2"), true, false);
        publish(2, S("x/y"), 1, true, 2);
        conv[conv_len++] = 0x81, conv[conv_len++] = 0; /* client 1 hangs up */
        mconnect(0, S("dup"), false, false);
        snprintf(name, sizeof name, "takeover_v%d", version);
        put("fuzz_conn", name, conv, conv_len);

        /* takeover while the old socket holds an unread SUBSCRIBE: issue 11
         * defect 2 (heap use-after-free in brk_session_deliver); these seeds
         * crash until that fix is in, so they are committed with it */
        conv_len = 0;
        mconnect(0, S("twin"), true, false);
        subscribe(0x40, S("t/#"), 1); /* 0x40: client 0, left unread */
        mconnect(1, S("twin"), true, false);
        mconnect(2, S("pub"), true, false);
        publish(2, S("t/x"), 1, false, 255);
        snprintf(name, sizeof name, "twin_v%d", version);
        put("fuzz_conn", name, conv, conv_len);
    }
}

/* ---- fuzz_store: u8 kind | u8 key length | key | value ---- */
static void rec(const char *name, int kind, const char *key, size_t kl, const store_buf_t *v)
{
    uint8_t b[1024];
    b[0] = (uint8_t)kind, b[1] = (uint8_t)kl;
    memcpy(b + 2, key, kl);
    memcpy(b + 2 + kl, v->p, v->len);
    put("fuzz_store", name, b, 2 + kl + v->len);
}

static void store_seeds(void)
{
    store_buf_t v;
    store_buf_init(&v);
    store_session_t s = {.version = MQTT_V5,
                         .expiry_interval = 3600,
                         .has_will = true,
                         .will_qos = 1,
                         .will_topic = S("w/t"),
                         .will_payload = S("bye"),
                         .will_props = S("\x18\x00\x00\x00\x05")};
    store_enc_session(&v, &s);
    rec("session", 0, "s/dev-1", 7, &v);
    v.len = 0;
    store_enc_sub(&v, &(store_sub_t){.options = 0x15, .sub_id = 42});
    rec("sub", 1, "u/dev-1\0a/+/c", 13, &v);
    v.len = 0;
    store_enc_retained(
        &v, &(store_retained_t){.qos = 1, .payload = S("on"), .origin_client = S("dev-1")});
    rec("retained", 2, "r/a/b", 5, &v);
    v.len = 0;
    store_enc_msg(&v, &(store_msg_t){.id = 9,
                                     .qos = 2,
                                     .retain = true,
                                     .topic = S("a/b"),
                                     .payload = S("x"),
                                     .props = S("\x01\x01")});
    rec("msg", 3, "m/\0\0\0\0\0\0\0\x09", 10, &v);
    v.len = 0;
    store_enc_qref(&v, &(store_qref_t){.msg_id = 9, .qos = 1});
    rec("queue", 4, "q/dev-1\0\0\0\0\0\0\0\0\x01", 16, &v);
    v.len = 0;
    store_enc_inflight(&v, &(store_inflight_t){.msg_id = 9, .qos = 2, .state = 2, .dup = true});
    rec("inflight", 5, "o/dev-1\0\0\x07", 10, &v);
    v.len = 0;
    rec("inbound", 6, "i/dev-1\0\0\x07", 10, &v);
    store_buf_raw(&v, "spooled bytes", 13);
    rec("spool", 7, "k/\0\0\0\0\0\0\0\x01", 10, &v);
    store_buf_free(&v);
}

/* ---- fuzz_bridge: blobs as the producer builds them, DLQ values, JSON ---- */
static void bridge_seeds(void)
{
    cfg_kv_t hdr = {.key = "site", .value = "{1}"};
    cfg_to_kafka_t tk = {.topic = "k-{1}", .headers = &hdr, .n_headers = 1};
    rule_t r = {.cfg = &tk};
    char why[128];
    if (bridge_tmpl_compile(&r.topic, tk.topic, TMPL_KAFKA_TOPIC, why, sizeof why) ||
        bridge_tmpl_compile(&r.key, "{clientid}", TMPL_TO_KAFKA, why, sizeof why) ||
        !(r.hdr_vals = calloc(1, sizeof(tmpl_t))) ||
        bridge_tmpl_compile(r.hdr_vals, hdr.value, TMPL_TO_KAFKA, why, sizeof why))
        exit(3);
    static const uint8_t props[] = {0x03, 0, 4, 't', 'e', 'x', 't', 0x26, 0, 1, 'k', 0, 1, 'v'};
    bridge_msg_t m = {.topic = "plant/line",
                      .topic_len = 10,
                      .payload = (const uint8_t *)"{\"t\":1}",
                      .payload_len = 7,
                      .qos = 1,
                      .clientid = "dev-1",
                      .props = props,
                      .props_len = sizeof props};
    for (int f = 0; f < 2; f++) {
        tk.format = f ? CFG_FORMAT_JSON : CFG_FORMAT_RAW;
        store_buf_t b, d;
        store_buf_init(&b);
        store_buf_init(&d);
        blob_ids_t ids = {.node = "node-1"};
        bridge_blob_build(&r, &m, &ids, 1700000000000, &b);
        bridge_dlq_encode(&d, 3, b.p, b.len);
        put("fuzz_bridge", f ? "blob_json" : "blob_raw", b.p, b.len);
        put("fuzz_bridge", f ? "dlq_json" : "dlq_raw", d.p, d.len);
        store_buf_free(&b);
        store_buf_free(&d);
    }
    static const char json[] = "{\"a\":[1,-2.5e3,true,null,\"\\u00e9\\n\"],\"b\":{}}";
    put("fuzz_bridge", "json", json, sizeof json - 1);
    bridge_tmpl_free(&r.topic);
    bridge_tmpl_free(&r.key);
    bridge_tmpl_free(r.hdr_vals);
    free(r.hdr_vals);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s tests/fuzz/corpus\n", argv[0]);
        return 1;
    }
    root = argv[1];
    conn_seeds();
    store_seeds();
    bridge_seeds();
    return 0;
}
