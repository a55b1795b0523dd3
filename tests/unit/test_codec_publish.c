/*
 * test_codec_publish.c - what a server forwarding messages uses:
 * mqtt_encode_publish() (a PUBLISH from parts: a pre-encoded property block
 * plus per-subscriber properties), its size function, the packet id offset
 * it reports, round trips through mqtt_decode(); and mqtt_prop_next() over
 * such a property block.
 */
#include "test_codec.h"

#define PB(id) MQTT_PROP_BIT(MQTT_PROP_##id)

/* Content type "t/x" and user property k=v, as a broker keeps them. */
static const uint8_t blob[] = {0x03, 0x00, 0x03, 't',  '/',  'x', 0x26,
                               0x00, 0x01, 'k',  0x00, 0x01, 'v'};
static const uint32_t ids[] = {1, 300, 268435455};

static mqtt_publish_parts_t parts(uint8_t version, uint8_t qos)
{
    return (mqtt_publish_parts_t){
        .version = version,
        .qos = qos,
        .topic = S("a/b"),
        .packet_id = qos ? 7 : 0,
        .payload = S("hello"),
    };
}

/* Encode *p, check the size function agrees and that every shorter buffer
 * is MQTT_ERR_NOSPACE, then decode into *out. Returns the length. */
static int encode_decode(const mqtt_publish_parts_t *p, uint8_t *buf, size_t cap, uint32_t *pid_off,
                         mqtt_packet_t *out)
{
    int size = mqtt_encode_publish_size(p);
    CU_ASSERT_FATAL(size > 0 && (size_t)size <= cap);
    for (size_t c = 0; c < (size_t)size; c++)
        CU_ASSERT_EQUAL(mqtt_encode_publish(buf, c, p, NULL), MQTT_ERR_NOSPACE);
    int n = mqtt_encode_publish(buf, cap, p, pid_off);
    CU_ASSERT_EQUAL_FATAL(n, size);
    mqtt_limits_t lim = {.version = p->version};
    CU_ASSERT_EQUAL(mqtt_decode(buf, (size_t)n, &lim, out), n);
    CU_ASSERT_EQUAL(out->type, MQTT_PUBLISH);
    return n;
}

static void publish_parts_v311_qos1_gives_spec_bytes(void)
{
    static const uint8_t want[] = {0x3B, 0x0C, 0x00, 0x03, 'a', '/', 'b',
                                   0x00, 0x07, 'h',  'e',  'l', 'l', 'o'};
    mqtt_publish_parts_t p = parts(4, 1);
    p.dup = p.retain = true;
    uint8_t out[64];
    uint32_t off = 99;
    CU_ASSERT_EQUAL_FATAL(mqtt_encode_publish(out, sizeof out, &p, &off), (int)sizeof want);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    CU_ASSERT_EQUAL(off, 7);
}

static void publish_parts_v5_all_properties_roundtrip(void)
{
    mqtt_publish_parts_t p = parts(5, 2);
    p.sub_ids = ids;
    p.n_sub_ids = 3;
    p.has_expiry = true;
    p.expiry = 3600;
    p.topic_alias = 9;
    p.props = (mqtt_str_t){blob, sizeof blob};
    uint8_t out[128];
    uint32_t off = 0;
    mqtt_packet_t d;
    encode_decode(&p, out, sizeof out, &off, &d);
    const mqtt_publish_t *q = &d.u.publish;
    CU_ASSERT(str_eq(q->topic, S("a/b")) && str_eq(q->payload, S("hello")));
    CU_ASSERT(q->qos == 2 && q->packet_id == 7 && !q->dup && !q->retain);
    CU_ASSERT_EQUAL(q->props.topic_alias, 9);
    CU_ASSERT_EQUAL(q->props.message_expiry, 3600);
    CU_ASSERT_EQUAL_FATAL(q->props.sub_id_count, 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(q->props.sub_ids[i], ids[i]);
    CU_ASSERT(str_eq(q->props.content_type, S("t/x")));
    CU_ASSERT_EQUAL(q->props.user_count, 1);
    CU_ASSERT_EQUAL(off, 2 + 2 + 3);
    CU_ASSERT_EQUAL(mqtt_publish_pid_offset(out, sizeof out), (int)off);
}

static void publish_parts_v5_alias_with_empty_topic_roundtrip(void)
{
    mqtt_publish_parts_t p = parts(5, 1);
    p.topic = (mqtt_str_t){NULL, 0};
    p.topic_alias = 1;
    uint8_t out[64];
    uint32_t off = 0;
    mqtt_packet_t d;
    encode_decode(&p, out, sizeof out, &off, &d);
    CU_ASSERT_EQUAL(d.u.publish.topic.len, 0);
    CU_ASSERT_EQUAL(d.u.publish.props.topic_alias, 1);
    CU_ASSERT_EQUAL(off, 2 + 2);
    out[off] = 0xAB;
    out[off + 1] = 0xCD;
    mqtt_limits_t lim = {.version = 5};
    CU_ASSERT(mqtt_decode(out, sizeof out, &lim, &d) > 0);
    CU_ASSERT_EQUAL(d.u.publish.packet_id, 0xABCD);
}

static void publish_parts_v311_ignores_properties(void)
{
    mqtt_publish_parts_t p = parts(4, 0), bare = parts(4, 0);
    p.sub_ids = ids;
    p.n_sub_ids = 3;
    p.has_expiry = true;
    p.topic_alias = 3;
    p.props = (mqtt_str_t){blob, sizeof blob};
    uint8_t out[64], want[64];
    uint32_t off = 99;
    mqtt_packet_t d;
    int n = encode_decode(&p, out, sizeof out, &off, &d);
    CU_ASSERT_EQUAL(off, 0); /* qos 0: no packet id */
    CU_ASSERT_EQUAL(mqtt_encode_publish(want, sizeof want, &bare, NULL), n);
    CU_ASSERT_EQUAL(memcmp(out, want, (size_t)n), 0);
    CU_ASSERT_EQUAL(d.u.publish.props.present, 0);
}

/* With only the block, the bytes are mqtt_encode()'s for the same packet. */
static void publish_parts_match_mqtt_encode(uint8_t version)
{
    mqtt_publish_parts_t p = parts(version, 1);
    p.retain = true;
    if (version == MQTT_V5) p.props = (mqtt_str_t){blob, sizeof blob};
    mqtt_packet_t pkt = {.type = MQTT_PUBLISH};
    mqtt_publish_t *q = &pkt.u.publish;
    q->qos = 1;
    q->retain = true;
    q->topic = p.topic;
    q->packet_id = p.packet_id;
    q->payload = p.payload;
    q->props.present = PB(CONTENT_TYPE) | PB(USER_PROPERTY);
    q->props.content_type = S("t/x");
    q->props.user = (mqtt_str_t){blob + 6, sizeof blob - 6};
    q->props.user_count = 1;
    uint8_t a[64], b[64];
    int n = mqtt_encode_publish(a, sizeof a, &p, NULL);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_EQUAL_FATAL(mqtt_encode(b, sizeof b, version, &pkt), n);
    CU_ASSERT_EQUAL(memcmp(a, b, (size_t)n), 0);
}

static void publish_parts_match_mqtt_encode_v311(void)
{
    publish_parts_match_mqtt_encode(MQTT_V311);
}

static void publish_parts_match_mqtt_encode_v5(void)
{
    publish_parts_match_mqtt_encode(MQTT_V5);
}

static const uint32_t bad_ids[] = {5, 0};
static const uint32_t big_id[] = {268435456};

/* X(name, version, setup statements) - parts the encoder must refuse. */
#define PUBLISH_INVALID_CASES(X)                                                                   \
    X(publish_parts_qos3_is_invalid, 4, p.qos = 3)                                                 \
    X(publish_parts_topic_over_65535_is_invalid, 4,                                                \
      p.topic = (mqtt_str_t){(const uint8_t *)"", 65536})                                          \
    X(publish_parts_empty_topic_v311_is_invalid, 4, p.topic.len = 0; p.topic_alias = 1)            \
    X(publish_parts_empty_topic_without_alias_v5_is_invalid, 5, p.topic.len = 0)                   \
    X(publish_parts_subscription_id_0_is_invalid, 5, p.sub_ids = bad_ids; p.n_sub_ids = 2)         \
    X(publish_parts_subscription_id_over_varint_is_invalid, 5, p.sub_ids = big_id;                 \
      p.n_sub_ids = 1)                                                                             \
    X(publish_parts_over_protocol_maximum_is_invalid, 4,                                           \
      p.payload = (mqtt_str_t){(const uint8_t *)"", 268435455})

#define DEFINE_PUBLISH_INVALID(name, version, ...)                                                 \
    static void name(void)                                                                         \
    {                                                                                              \
        mqtt_publish_parts_t p = parts(version, 0);                                                \
        uint8_t out[64];                                                                           \
        uint32_t off = 99;                                                                         \
        __VA_ARGS__;                                                                               \
        CU_ASSERT_EQUAL(mqtt_encode_publish_size(&p), MQTT_ERR_INVALID);                           \
        CU_ASSERT_EQUAL(mqtt_encode_publish(out, sizeof out, &p, &off), MQTT_ERR_INVALID);         \
        CU_ASSERT_EQUAL(off, 99);                                                                  \
    }
PUBLISH_INVALID_CASES(DEFINE_PUBLISH_INVALID)

static void prop_next_reads_every_value_type(void)
{
    static const uint8_t list[] = {0x01, 0x01,                   /* payload format */
                                   0x23, 0x01, 0x02,             /* topic alias */
                                   0x02, 0x00, 0x00, 0x0E, 0x10, /* message expiry */
                                   0x0B, 0xAC, 0x02,             /* subscription id 300 */
                                   0x09, 0x00, 0x02, 0x00, 0xFF, /* correlation data */
                                   0x26, 0x00, 0x01, 'k',  0x00, 0x02, 'v', 'w'};
    static const struct {
        uint8_t id;
        uint32_t num;
    } want[] = {{0x01, 1}, {0x23, 0x0102}, {0x02, 3600}, {0x0B, 300}, {0x09, 0}, {0x26, 0}};
    uint32_t off = 0, i = 0;
    mqtt_prop_t pr;
    while (mqtt_prop_next(list, sizeof list, &off, &pr)) {
        CU_ASSERT_FATAL(i < 6);
        CU_ASSERT_EQUAL(pr.id, want[i].id);
        CU_ASSERT_EQUAL(pr.num, want[i].num);
        i++;
    }
    CU_ASSERT_EQUAL(i, 6);
    CU_ASSERT_EQUAL(off, sizeof list);
    CU_ASSERT(pr.str.len == 1 && pr.str.p[0] == 'k' && str_eq(pr.val, S("vw")));
    off = 13;
    CU_ASSERT(mqtt_prop_next(list, sizeof list, &off, &pr));
    CU_ASSERT(pr.str.len == 2 && pr.str.p == list + 16);
}

static void prop_next_stops_at_unknown_id_and_truncated_value(void)
{
    static const uint8_t unknown[] = {0x01, 0x00, 0x00, 0x05};
    static const uint8_t truncated[] = {0x01, 0x00, 0x03, 0x00, 0x05, 'a'};
    uint32_t off = 0;
    mqtt_prop_t pr;
    CU_ASSERT(mqtt_prop_next(unknown, sizeof unknown, &off, &pr));
    CU_ASSERT(!mqtt_prop_next(unknown, sizeof unknown, &off, &pr));
    CU_ASSERT_EQUAL(off, 2);
    off = 0;
    CU_ASSERT(mqtt_prop_next(truncated, sizeof truncated, &off, &pr));
    CU_ASSERT(!mqtt_prop_next(truncated, sizeof truncated, &off, &pr));
    CU_ASSERT_EQUAL(off, 2);
    off = 0;
    CU_ASSERT(!mqtt_prop_next(NULL, 0, &off, &pr));
}

/* A received PUBLISH's forwardable properties, as the broker keeps them:
 * payload format, content type and user properties in id order, without
 * the message expiry and topic alias that were interleaved with them. */
/* A forwarded block read back from another node: only what a server
 * forwards, well-formed. */
static void forwardable_props_are_checked(void)
{
    static const struct {
        const char *name;
        const uint8_t *p;
        uint32_t len;
        bool ok;
    } cases[] = {
        {"empty", (const uint8_t *)"", 0, true},
        {"content_type",
         (const uint8_t *)"\x03\x00\x02"
                          "ab",
         5, true},
        {"user_pair", (const uint8_t *)"\x26\x00\x01k\x00\x01v", 7, true},
        {"payload_format_2", (const uint8_t *)"\x01\x02", 2, false},
        {"topic_alias", (const uint8_t *)"\x23\x00\x01", 3, false},
        {"message_expiry", (const uint8_t *)"\x02\x00\x00\x00\x05", 5, false},
        {"truncated_string",
         (const uint8_t *)"\x03\x00\x05"
                          "ab",
         5, false},
        {"bad_utf8", (const uint8_t *)"\x03\x00\x01\xff", 4, false},
        {"response_topic_wildcard", (const uint8_t *)"\x08\x00\x01#", 4, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool ok = mqtt_props_forwardable(cases[i].p, cases[i].len);
        if (ok != cases[i].ok) fprintf(stderr, "\n  %s: got %d\n", cases[i].name, ok);
        CU_ASSERT_EQUAL(ok, cases[i].ok);
    }
}

static void forward_props_keep_only_what_is_passed_on(void)
{
    static const uint8_t in[] = {0x30, 0x1C, 0x00, 0x01, 'a',  23,   0x26, 0x00, 0x01, 'k',
                                 0x00, 0x01, 'v',  0x02, 0x00, 0x00, 0x00, 0x3C, 0x03, 0x00,
                                 0x03, 't',  '/',  'x',  0x23, 0x00, 0x03, 0x01, 0x01, 'p'};
    static const uint8_t want[] = {0x01, 0x01, 0x03, 0x00, 0x03, 't',  '/', 'x',
                                   0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v'};
    mqtt_limits_t lim = {.version = MQTT_V5};
    mqtt_packet_t pkt;
    CU_ASSERT_EQUAL_FATAL(mqtt_decode(in, sizeof in, &lim, &pkt), (int)sizeof in);
    uint32_t n = mqtt_props_forward_size(&pkt.u.publish.props);
    CU_ASSERT_EQUAL_FATAL(n, sizeof want);
    uint8_t out[sizeof want + 1];
    out[sizeof want] = 0xAA; /* nothing past the size it gave */
    mqtt_props_forward_write(&pkt.u.publish.props, out, n);
    CU_ASSERT_EQUAL(memcmp(out, want, sizeof want), 0);
    CU_ASSERT_EQUAL(out[sizeof want], 0xAA);
    /* only per-hop properties: nothing to forward */
    mqtt_props_t hop = {
        .present = PB(MESSAGE_EXPIRY) | PB(TOPIC_ALIAS), .message_expiry = 60, .topic_alias = 3};
    CU_ASSERT_EQUAL(mqtt_props_forward_size(&hop), 0);
}

CU_TestInfo codec_publish_tests[] = {
    {"forward_props_keep_only_what_is_passed_on", forward_props_keep_only_what_is_passed_on},
    {"forwardable_props_are_checked", forwardable_props_are_checked},
    {"publish_parts_v311_qos1_gives_spec_bytes", publish_parts_v311_qos1_gives_spec_bytes},
    {"publish_parts_v5_all_properties_roundtrip", publish_parts_v5_all_properties_roundtrip},
    {"publish_parts_v5_alias_with_empty_topic_roundtrip",
     publish_parts_v5_alias_with_empty_topic_roundtrip},
    {"publish_parts_v311_ignores_properties", publish_parts_v311_ignores_properties},
    {"publish_parts_match_mqtt_encode_v311", publish_parts_match_mqtt_encode_v311},
    {"publish_parts_match_mqtt_encode_v5", publish_parts_match_mqtt_encode_v5},
    {"prop_next_reads_every_value_type", prop_next_reads_every_value_type},
    {"prop_next_stops_at_unknown_id_and_truncated_value",
     prop_next_stops_at_unknown_id_and_truncated_value},
    PUBLISH_INVALID_CASES(CODEC_TEST_INFO) CU_TEST_INFO_NULL,
};
