/*
 * test_codec_encode.c - exact encoder output (checked against bytes
 * written from the specification), property order, size errors and the
 * packets the encoder must refuse.
 */
#include "test_codec.h"

#include <stdlib.h>

#define PB(id) MQTT_PROP_BIT(MQTT_PROP_##id)

static void encode_expect(uint8_t version, const mqtt_packet_t *pkt, const uint8_t *want, size_t n)
{
    uint8_t out[512];
    int rc = mqtt_encode(out, sizeof out, version, pkt);
    CU_ASSERT_EQUAL(rc, (int)n);
    CU_ASSERT_EQUAL(mqtt_encode_size(version, pkt), (int)n);
    if (rc == (int)n) CU_ASSERT(memcmp(out, want, n) == 0);
}

static void encode_v311_connect_gives_spec_bytes(void)
{
    static const uint8_t want[] = {0x10, 0x16, 0x00, 0x04, 'M',  'Q',  'T', 'T',
                                   0x04, 0xC2, 0x00, 0x3C, 0x00, 0x03, 'a', 'b',
                                   'c',  0x00, 0x01, 'u',  0x00, 0x02, 'p', 'w'};
    mqtt_packet_t p = {.type = MQTT_CONNECT};
    p.u.connect.clean_start = true;
    p.u.connect.keepalive = 60;
    p.u.connect.client_id = S("abc");
    p.u.connect.has_username = p.u.connect.has_password = true;
    p.u.connect.username = S("u");
    p.u.connect.password = S("pw");
    encode_expect(4, &p, want, sizeof want);
}

static void encode_v31_connect_uses_mqisdp(void)
{
    static const uint8_t want[] = {0x10, 0x0F, 0x00, 0x06, 'M',  'Q',  'I',  's', 'd',
                                   'p',  0x03, 0x02, 0x00, 0x1E, 0x00, 0x01, 'c'};
    mqtt_packet_t p = {.type = MQTT_CONNECT};
    p.u.connect.clean_start = true;
    p.u.connect.keepalive = 30;
    p.u.connect.client_id = S("c");
    encode_expect(3, &p, want, sizeof want);
}

static void encode_v5_connect_properties_ascend_and_user_last(void)
{
    static const uint8_t user[] = {0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'};
    static const uint8_t want[] = {
        0x10, 0x36, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x2E, 0x00, 0x0A,
        /* 0x11 session expiry, 0x21 receive maximum, then user properties */
        0x0F, 0x11, 0x00, 0x00, 0x00, 0x1E, 0x21, 0x00, 0x14, 0x26, 0x00, 0x01, 'k', 0x00, 0x01,
        'v', 0x00, 0x02, 'c', '1',
        /* will: 0x01 payload format, 0x03 content type, 0x18 will delay */
        0x0E, 0x01, 0x01, 0x03, 0x00, 0x04, 't', 'e', 'x', 't', 0x18, 0x00, 0x00, 0x00, 0x05, 0x00,
        0x03, 'w', '/', 't', 0x00, 0x02, 'h', 'i'};
    mqtt_packet_t p = {.type = MQTT_CONNECT};
    mqtt_connect_t *c = &p.u.connect;
    c->clean_start = true;
    c->keepalive = 10;
    c->props.present = PB(RECEIVE_MAXIMUM) | PB(SESSION_EXPIRY);
    c->props.session_expiry = 30;
    c->props.receive_maximum = 20;
    c->props.user = (mqtt_str_t){user, sizeof user};
    c->client_id = S("c1");
    c->will = true;
    c->will_qos = 1;
    c->will_retain = true;
    c->will_props.present = PB(WILL_DELAY) | PB(CONTENT_TYPE) | PB(PAYLOAD_FORMAT);
    c->will_props.will_delay = 5;
    c->will_props.payload_format = 1;
    c->will_props.content_type = S("text");
    c->will_topic = S("w/t");
    c->will_payload = S("hi");
    encode_expect(5, &p, want, sizeof want);
}

static void encode_v311_publish_qos1_gives_spec_bytes(void)
{
    static const uint8_t want[] = {0x3B, 0x06, 0x00, 0x01, 't', 0x00, 0x07, 'x'};
    mqtt_packet_t p = {.type = MQTT_PUBLISH};
    p.u.publish.dup = p.u.publish.retain = true;
    p.u.publish.qos = 1;
    p.u.publish.topic = S("t");
    p.u.publish.packet_id = 7;
    p.u.publish.payload = S("x");
    encode_expect(4, &p, want, sizeof want);
}

static void encode_v5_publish_without_properties_has_zero_length(void)
{
    static const uint8_t want[] = {0x30, 0x05, 0x00, 0x01, 't', 0x00, 'x'};
    mqtt_packet_t p = {.type = MQTT_PUBLISH};
    p.u.publish.topic = S("t");
    p.u.publish.payload = S("x");
    encode_expect(5, &p, want, sizeof want);
}

static void encode_v311_ignores_properties(void)
{
    static const uint8_t want[] = {0x30, 0x04, 0x00, 0x01, 't', 'x'};
    mqtt_packet_t p = {.type = MQTT_PUBLISH};
    p.u.publish.topic = S("t");
    p.u.publish.payload = S("x");
    p.u.publish.props.present = PB(MESSAGE_EXPIRY);
    p.u.publish.props.message_expiry = 9;
    encode_expect(4, &p, want, sizeof want);
}

static void encode_v5_publish_alias_with_empty_topic(void)
{
    static const uint8_t want[] = {0x30, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x02};
    mqtt_packet_t p = {.type = MQTT_PUBLISH};
    p.u.publish.props.present = PB(TOPIC_ALIAS);
    p.u.publish.props.topic_alias = 2;
    encode_expect(5, &p, want, sizeof want);
}

static void encode_v5_acks_omit_default_reason_and_properties(void)
{
    static const uint8_t two[] = {0x40, 0x02, 0x00, 0x05};
    static const uint8_t three[] = {0x62, 0x03, 0x00, 0x05, 0x92};
    mqtt_packet_t p = {.type = MQTT_PUBACK};
    p.u.ack.packet_id = 5;
    encode_expect(5, &p, two, sizeof two);
    p.type = MQTT_PUBREL;
    p.u.ack.reason = MQTT_RC_PACKET_ID_NOT_FOUND;
    encode_expect(5, &p, three, sizeof three);
}

static void encode_v5_disconnect_forms(void)
{
    static const uint8_t empty[] = {0xE0, 0x00};
    static const uint8_t reason[] = {0xE0, 0x01, 0x8E};
    static const uint8_t props[] = {0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x0A};
    mqtt_packet_t p = {.type = MQTT_DISCONNECT};
    encode_expect(5, &p, empty, sizeof empty);
    p.u.reason.reason = MQTT_RC_SESSION_TAKEN_OVER;
    encode_expect(5, &p, reason, sizeof reason);
    p.u.reason.reason = 0;
    p.u.reason.props.present = PB(SESSION_EXPIRY);
    p.u.reason.props.session_expiry = 10;
    encode_expect(5, &p, props, sizeof props);
    encode_expect(4, &p, empty, sizeof empty); /* nothing before 5.0 */
}

static void encode_v311_subscribe_keeps_only_qos_bits(void)
{
    static const mqtt_sub_entry_t e[] = {{{(const uint8_t *)"a", 1}, 0x2D}};
    static const uint8_t want[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x01};
    mqtt_packet_t p = {.type = MQTT_SUBSCRIBE};
    p.u.sub.packet_id = 1;
    p.u.sub.entries = e;
    p.u.sub.count = 1;
    encode_expect(4, &p, want, sizeof want);
}

static void encode_subscribe_from_decoded_list(void)
{
    static const uint8_t in[] = {0x82, 0x0C, 0x00, 0x0A, 0x00, 0x03, 'a',
                                 '/',  'b',  0x01, 0x00, 0x01, '#',  0x02};
    mqtt_packet_t p;
    mqtt_limits_t lim = {.version = 4};
    CU_ASSERT_EQUAL_FATAL(mqtt_decode(in, sizeof in, &lim, &p), (int)sizeof in);
    CU_ASSERT_PTR_NULL(p.u.sub.entries);
    encode_expect(4, &p, in, sizeof in);
}

static void encode_reencodes_interleaved_user_properties_without_others(void)
{
    static const uint8_t in[] = {0x30, 0x17, 0x00, 0x01, 't',  0x13, 0x26, 0x00, 0x01,
                                 'a',  0x00, 0x01, 'b',  0x02, 0x00, 0x00, 0x00, 0x3C,
                                 0x26, 0x00, 0x01, 'c',  0x00, 0x01, 'd'};
    static const uint8_t want[] = {0x30, 0x17, 0x00, 0x01, 't',  0x13, 0x02, 0x00, 0x00,
                                   0x00, 0x3C, 0x26, 0x00, 0x01, 'a',  0x00, 0x01, 'b',
                                   0x26, 0x00, 0x01, 'c',  0x00, 0x01, 'd'};
    mqtt_packet_t p;
    mqtt_limits_t lim = {.version = 5};
    CU_ASSERT_EQUAL_FATAL(mqtt_decode(in, sizeof in, &lim, &p), (int)sizeof in);
    encode_expect(5, &p, want, sizeof want);
}

static void encode_large_payload_uses_four_byte_length(void)
{
    size_t plen = 2097152;
    uint8_t *payload = calloc(1, plen), *out = malloc(plen + 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(payload);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    mqtt_packet_t p = {.type = MQTT_PUBLISH}, d;
    p.u.publish.topic = S("big");
    p.u.publish.payload = (mqtt_str_t){payload, (uint32_t)plen};
    int n = mqtt_encode(out, plen + 64, 4, &p);
    CU_ASSERT_EQUAL(n, 1 + 4 + 5 + (int)plen);
    CU_ASSERT_EQUAL(mqtt_encode_size(4, &p), n);
    mqtt_limits_t lim = {.version = 4};
    CU_ASSERT_EQUAL(mqtt_decode(out, (size_t)n, &lim, &d), n);
    CU_ASSERT_EQUAL(d.u.publish.payload.len, plen);
    free(payload);
    free(out);
}

static void encode_nospace_for_every_short_buffer(void)
{
    mqtt_packet_t p = {.type = MQTT_PUBLISH};
    uint8_t out[64];
    p.u.publish.topic = S("a/b");
    p.u.publish.payload = S("payload");
    int n = mqtt_encode_size(5, &p);
    CU_ASSERT_FATAL(n > 0);
    for (int cap = 0; cap < n; cap++)
        CU_ASSERT_EQUAL(mqtt_encode(out, (size_t)cap, 5, &p), MQTT_ERR_NOSPACE);
    CU_ASSERT_EQUAL(mqtt_encode(out, (size_t)n, 5, &p), n);
}

static void publish_pid_offset_finds_packet_id_for_patching(void)
{
    mqtt_packet_t p = {.type = MQTT_PUBLISH}, d;
    uint8_t out[64];
    p.u.publish.qos = 1;
    p.u.publish.topic = S("a/b");
    p.u.publish.packet_id = 1;
    p.u.publish.payload = S("x");
    int n = mqtt_encode(out, sizeof out, 5, &p);
    int off = mqtt_publish_pid_offset(out, (size_t)n);
    CU_ASSERT_EQUAL(off, 2 + 2 + 3);
    out[off] = 0xAB;
    out[off + 1] = 0xCD;
    mqtt_limits_t lim = {.version = 5};
    CU_ASSERT_EQUAL(mqtt_decode(out, (size_t)n, &lim, &d), n);
    CU_ASSERT_EQUAL(d.u.publish.packet_id, 0xABCD);
    CU_ASSERT_EQUAL(mqtt_publish_pid_offset(out, (size_t)n - 1), MQTT_ERR_INVALID);
    p.u.publish.qos = 0;
    n = mqtt_encode(out, sizeof out, 5, &p);
    CU_ASSERT_EQUAL(mqtt_publish_pid_offset(out, (size_t)n), MQTT_ERR_INVALID);
}

/* X(name, version, setup statements) - packets the encoder must refuse. */
#define INVALID_CASES(X)                                                                           \
    X(encode_publish_qos3_is_invalid, 4, p.type = MQTT_PUBLISH; p.u.publish.topic = S("t");        \
      p.u.publish.qos = 3)                                                                         \
    X(encode_publish_dup_qos0_is_invalid, 4, p.type = MQTT_PUBLISH; p.u.publish.topic = S("t");    \
      p.u.publish.dup = true)                                                                      \
    X(encode_publish_empty_topic_v311_is_invalid, 4, p.type = MQTT_PUBLISH)                        \
    X(encode_publish_empty_topic_without_alias_v5_is_invalid, 5, p.type = MQTT_PUBLISH)            \
    X(encode_topic_over_65535_is_invalid, 4, p.type = MQTT_PUBLISH;                                \
      p.u.publish.topic = (mqtt_str_t){(const uint8_t *)"", 65536})                                \
    X(encode_client_id_over_65535_is_invalid, 4, p.type = MQTT_CONNECT;                            \
      p.u.connect.client_id = (mqtt_str_t){(const uint8_t *)"", 70000})                            \
    X(encode_will_qos3_is_invalid, 4, p.type = MQTT_CONNECT; p.u.connect.will = true;              \
      p.u.connect.will_topic = S("t"); p.u.connect.will_qos = 3)                                   \
    X(encode_v311_password_without_username_is_invalid, 4, p.type = MQTT_CONNECT;                  \
      p.u.connect.has_password = true)                                                             \
    X(encode_subscribe_without_entries_is_invalid, 4, p.type = MQTT_SUBSCRIBE;                     \
      p.u.sub.packet_id = 1)                                                                       \
    X(encode_unsubscribe_without_entries_is_invalid, 5, p.type = MQTT_UNSUBSCRIBE;                 \
      p.u.sub.packet_id = 1)                                                                       \
    X(encode_auth_before_v5_is_invalid, 4, p.type = MQTT_AUTH)                                     \
    X(encode_packet_type_0_is_invalid, 4, p.type = (mqtt_type_t)0)                                 \
    X(encode_unknown_version_is_invalid, 6, p.type = MQTT_PINGREQ)                                 \
    X(encode_misplaced_property_is_invalid, 5, p.type = MQTT_CONNACK;                              \
      p.u.connack.props.present = PB(TOPIC_ALIAS); p.u.connack.props.topic_alias = 1)              \
    X(encode_user_properties_on_pingless_auth_misplaced_is_invalid, 5, p.type = MQTT_PUBLISH;      \
      p.u.publish.topic = S("t"); p.u.publish.props.present = PB(SESSION_EXPIRY))                  \
    X(encode_subscription_id_0_is_invalid, 5, p.type = MQTT_PUBLISH; p.u.publish.topic = S("t");   \
      p.u.publish.props.present = PB(SUBSCRIPTION_ID); p.u.publish.props.sub_id_count = 1)         \
    X(encode_property_string_over_65535_is_invalid, 5, p.type = MQTT_PUBLISH;                      \
      p.u.publish.topic = S("t"); p.u.publish.props.present = PB(CONTENT_TYPE);                    \
      p.u.publish.props.content_type = (mqtt_str_t){(const uint8_t *)"", 65536})

#define DEFINE_INVALID(name, version, ...)                                                         \
    static void name(void)                                                                         \
    {                                                                                              \
        mqtt_packet_t p;                                                                           \
        uint8_t out[64];                                                                           \
        memset(&p, 0, sizeof p);                                                                   \
        __VA_ARGS__;                                                                               \
        CU_ASSERT_EQUAL(mqtt_encode_size(version, &p), MQTT_ERR_INVALID);                          \
        CU_ASSERT_EQUAL(mqtt_encode(out, sizeof out, version, &p), MQTT_ERR_INVALID);              \
    }
INVALID_CASES(DEFINE_INVALID)

#define T(name) {#name, name},
CU_TestInfo codec_encode_tests[] = {
    T(encode_v311_connect_gives_spec_bytes) T(encode_v31_connect_uses_mqisdp)
        T(encode_v5_connect_properties_ascend_and_user_last)
            T(encode_v311_publish_qos1_gives_spec_bytes)
                T(encode_v5_publish_without_properties_has_zero_length)
                    T(encode_v311_ignores_properties) T(encode_v5_publish_alias_with_empty_topic)
                        T(encode_v5_acks_omit_default_reason_and_properties) T(
                            encode_v5_disconnect_forms) T(encode_v311_subscribe_keeps_only_qos_bits)
                            T(encode_subscribe_from_decoded_list)
                                T(encode_reencodes_interleaved_user_properties_without_others)
                                    T(encode_large_payload_uses_four_byte_length)
                                        T(encode_nospace_for_every_short_buffer)
                                            T(publish_pid_offset_finds_packet_id_for_patching)
                                                INVALID_CASES(CODEC_TEST_INFO) CU_TEST_INFO_NULL,
};
