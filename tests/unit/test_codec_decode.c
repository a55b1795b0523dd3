/*
 * test_codec_decode.c - canonical packets written by hand from the
 * specification decode to the right fields; framing, size limits and
 * partial input.
 */
#include "test_codec.h"

#define DECODE_OK(version, pkt, ...)                                                               \
    static const uint8_t b[] = {__VA_ARGS__};                                                      \
    CU_ASSERT_EQUAL_FATAL(decode_case(b, sizeof b, version, (int)sizeof b, pkt), (int)sizeof b)

static void connect_v311_canonical_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(0, &p, 0x10, 0x16, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xC2, 0x00, 0x3C, 0x00, 0x03,
              'a', 'b', 'c', 0x00, 0x01, 'u', 0x00, 0x02, 'p', 'w');
    const mqtt_connect_t *c = &p.u.connect;
    CU_ASSERT_EQUAL(p.type, MQTT_CONNECT);
    CU_ASSERT_EQUAL(c->version, MQTT_V311);
    CU_ASSERT_TRUE(c->clean_start);
    CU_ASSERT_EQUAL(c->keepalive, 60);
    CU_ASSERT(str_eq(c->client_id, S("abc")));
    CU_ASSERT_FALSE(c->will);
    CU_ASSERT_TRUE(c->has_username);
    CU_ASSERT_TRUE(c->has_password);
    CU_ASSERT(str_eq(c->username, S("u")));
    CU_ASSERT(str_eq(c->password, S("pw")));
    CU_ASSERT_EQUAL(c->props.present, 0);
    CU_ASSERT_PTR_EQUAL(c->client_id.p, b + 14); /* a view into the input */
}

static void connect_v5_with_properties_and_will_properties_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(0, &p, 0x10, 0x36, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x2E, 0x00, 0x0A,
              /* properties: session expiry 30, receive maximum 20, user k=v */
              0x0F, 0x11, 0x00, 0x00, 0x00, 0x1E, 0x21, 0x00, 0x14, 0x26, 0x00, 0x01, 'k', 0x00,
              0x01, 'v',
              /* client id */
              0x00, 0x02, 'c', '1',
              /* will properties: will delay 5, payload format 1, content type "text" */
              0x0E, 0x18, 0x00, 0x00, 0x00, 0x05, 0x01, 0x01, 0x03, 0x00, 0x04, 't', 'e', 'x', 't',
              /* will topic, will payload */
              0x00, 0x03, 'w', '/', 't', 0x00, 0x02, 'h', 'i');
    const mqtt_connect_t *c = &p.u.connect;
    CU_ASSERT_EQUAL(c->version, MQTT_V5);
    CU_ASSERT_TRUE(c->clean_start);
    CU_ASSERT_EQUAL(c->keepalive, 10);
    CU_ASSERT_EQUAL(c->props.present, MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY) |
                                          MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM) |
                                          MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY));
    CU_ASSERT_EQUAL(c->props.session_expiry, 30);
    CU_ASSERT_EQUAL(c->props.receive_maximum, 20);
    CU_ASSERT_EQUAL(c->props.user_count, 1);
    mqtt_str_t k, v;
    uint32_t off = 0;
    CU_ASSERT_TRUE(mqtt_user_prop_next(&c->props.user, &off, &k, &v));
    CU_ASSERT(str_eq(k, S("k")) && str_eq(v, S("v")));
    CU_ASSERT_FALSE(mqtt_user_prop_next(&c->props.user, &off, &k, &v));
    CU_ASSERT(str_eq(c->client_id, S("c1")));
    CU_ASSERT_TRUE(c->will);
    CU_ASSERT_EQUAL(c->will_qos, 1);
    CU_ASSERT_TRUE(c->will_retain);
    CU_ASSERT_EQUAL(c->will_props.will_delay, 5);
    CU_ASSERT_EQUAL(c->will_props.payload_format, 1);
    CU_ASSERT(str_eq(c->will_props.content_type, S("text")));
    CU_ASSERT(str_eq(c->will_topic, S("w/t")));
    CU_ASSERT(str_eq(c->will_payload, S("hi")));
    CU_ASSERT_FALSE(c->has_username);
}

static void connect_v31_mqisdp_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(0, &p, 0x10, 0x11, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x1E,
              0x00, 0x03, 'c', 'i', 'd');
    CU_ASSERT_EQUAL(p.u.connect.version, MQTT_V31);
    CU_ASSERT_EQUAL(p.u.connect.keepalive, 30);
    CU_ASSERT(str_eq(p.u.connect.client_id, S("cid")));
}

static void connect_v311_zero_length_client_id_decodes_mqtt_3_1_3_6(void)
{
    mqtt_packet_t p;
    DECODE_OK(0, &p, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x00, 0x00, 0x3C, 0x00,
              0x00);
    CU_ASSERT_EQUAL(p.u.connect.client_id.len, 0);
    CU_ASSERT_FALSE(p.u.connect.clean_start); /* broker answers 0x02 (MQTT-3.1.3-8) */
}

static void connect_v5_password_without_username_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(0, &p, 0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x42, 0x00, 0x3C, 0x00, 0x00,
              0x00, 0x00, 0x02, 'p', 'w');
    CU_ASSERT_TRUE(p.u.connect.has_password);
    CU_ASSERT_FALSE(p.u.connect.has_username);
    CU_ASSERT(str_eq(p.u.connect.password, S("pw")));
}

static void connect_v31_username_flag_without_field_reads_as_absent(void)
{
    mqtt_packet_t p;
    DECODE_OK(0, &p, 0x10, 0x0F, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0xC2, 0x00, 0x3C,
              0x00, 0x01, 'c');
    CU_ASSERT_FALSE(p.u.connect.has_username);
    CU_ASSERT_FALSE(p.u.connect.has_password);
}

static void connect_while_connected_decodes_at_its_own_level(void)
{
    mqtt_packet_t p;
    /* a second CONNECT is the broker's protocol error, not the codec's */
    DECODE_OK(5, &p, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00,
              0x00);
    CU_ASSERT_EQUAL(p.u.connect.version, MQTT_V311);
}

static void connack_v311_session_present_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0x20, 0x02, 0x01, 0x00);
    CU_ASSERT_EQUAL(p.type, MQTT_CONNACK);
    CU_ASSERT_TRUE(p.u.connack.session_present);
    CU_ASSERT_EQUAL(p.u.connack.reason, 0);
}

static void connack_v311_bad_credentials_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0x20, 0x02, 0x00, 0x04);
    CU_ASSERT_EQUAL(p.u.connack.reason, MQTT_CONNACK_BAD_CREDENTIALS);
}

static void connack_v5_with_properties_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x20, 0x0D, 0x00, 0x00, 0x0A, 0x22, 0x00, 0x0A, 0x24, 0x01, 0x12, 0x00, 0x02,
              'i', 'd');
    CU_ASSERT_EQUAL(p.u.connack.props.topic_alias_maximum, 10);
    CU_ASSERT_EQUAL(p.u.connack.props.maximum_qos, 1);
    CU_ASSERT(str_eq(p.u.connack.props.assigned_client_id, S("id")));
    CU_ASSERT_EQUAL(p.u.connack.props.user_count, 0);
    CU_ASSERT_EQUAL(p.u.connack.props.user.len, 0);
}

static void publish_v311_qos0_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0x30, 0x0A, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'l', 'l', 'o');
    const mqtt_publish_t *m = &p.u.publish;
    CU_ASSERT_EQUAL(m->qos, 0);
    CU_ASSERT_FALSE(m->dup || m->retain);
    CU_ASSERT(str_eq(m->topic, S("a/b")));
    CU_ASSERT(str_eq(m->payload, S("hello")));
    CU_ASSERT_EQUAL(m->packet_id, 0);
}

static void publish_v311_qos1_dup_retain_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0x3B, 0x06, 0x00, 0x01, 't', 0x00, 0x07, 'x');
    const mqtt_publish_t *m = &p.u.publish;
    CU_ASSERT_EQUAL(p.flags, 0x0B);
    CU_ASSERT_TRUE(m->dup);
    CU_ASSERT_EQUAL(m->qos, 1);
    CU_ASSERT_TRUE(m->retain);
    CU_ASSERT_EQUAL(m->packet_id, 7);
    CU_ASSERT(str_eq(m->payload, S("x")));
}

static void publish_empty_payload_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0x31, 0x03, 0x00, 0x01, 't');
    CU_ASSERT_EQUAL(p.u.publish.payload.len, 0);
    CU_ASSERT_TRUE(p.u.publish.retain);
}

static void publish_v5_empty_topic_with_topic_alias_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 'p');
    CU_ASSERT_EQUAL(p.u.publish.topic.len, 0);
    CU_ASSERT_EQUAL(p.u.publish.props.topic_alias, 5);
    CU_ASSERT(str_eq(p.u.publish.payload, S("p")));
}

static void publish_v5_repeated_subscription_ids_decode(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x0B, 0x01, 0x0B, 0x02);
    CU_ASSERT_EQUAL(p.u.publish.props.sub_id_count, 2);
    CU_ASSERT_EQUAL(p.u.publish.props.sub_ids[0], 1);
    CU_ASSERT_EQUAL(p.u.publish.props.sub_ids[1], 2);
}

static void publish_v5_interleaved_user_properties_iterate_in_order(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x30, 0x17, 0x00, 0x01, 't', 0x13, 0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b',
              0x02, 0x00, 0x00, 0x00, 0x3C, 0x26, 0x00, 0x01, 'c', 0x00, 0x01, 'd');
    const mqtt_props_t *pr = &p.u.publish.props;
    CU_ASSERT_EQUAL(pr->message_expiry, 60);
    CU_ASSERT_EQUAL(pr->user_count, 2);
    CU_ASSERT_TRUE(pr->user_interleaved);
    mqtt_str_t k, v;
    uint32_t off = 0;
    CU_ASSERT_TRUE(mqtt_user_prop_next(&pr->user, &off, &k, &v));
    CU_ASSERT(str_eq(k, S("a")) && str_eq(v, S("b")));
    CU_ASSERT_TRUE(mqtt_user_prop_next(&pr->user, &off, &k, &v));
    CU_ASSERT(str_eq(k, S("c")) && str_eq(v, S("d")));
    CU_ASSERT_FALSE(mqtt_user_prop_next(&pr->user, &off, &k, &v));
    CU_ASSERT_EQUAL(mqtt_user_props_size(pr), 14);
    uint8_t copy[14];
    static const uint8_t want[] = {0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b',
                                   0x26, 0x00, 0x01, 'c', 0x00, 0x01, 'd'};
    CU_ASSERT_EQUAL(mqtt_user_props_copy(pr, copy, sizeof copy), 14);
    CU_ASSERT(memcmp(copy, want, sizeof want) == 0);
    CU_ASSERT_EQUAL(mqtt_user_props_copy(pr, copy, 13), MQTT_ERR_NOSPACE);
}

static void publish_v5_duplicate_user_properties_are_allowed(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x30, 0x12, 0x00, 0x01, 't', 0x0E, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',
              0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v');
    CU_ASSERT_EQUAL(p.u.publish.props.user_count, 2);
    CU_ASSERT_FALSE(p.u.publish.props.user_interleaved);
    CU_ASSERT_EQUAL(p.u.publish.props.user.len, 14);
}

static void publish_v5_binary_correlation_data_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x09, 0x00, 0x02, 0xFF, 0x00);
    CU_ASSERT_EQUAL(p.u.publish.props.correlation_data.len, 2);
    CU_ASSERT_EQUAL(p.u.publish.props.correlation_data.p[0], 0xFF);
}

static void puback_v311_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0x40, 0x02, 0x00, 0x07);
    CU_ASSERT_EQUAL(p.type, MQTT_PUBACK);
    CU_ASSERT_EQUAL(p.u.ack.packet_id, 7);
    CU_ASSERT_EQUAL(p.u.ack.reason, 0);
}

static void puback_v5_reason_without_properties_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x40, 0x03, 0x00, 0x07, 0x10);
    CU_ASSERT_EQUAL(p.u.ack.reason, MQTT_RC_NO_MATCHING_SUBSCRIBERS);
}

static void pubrec_v5_with_reason_string_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x50, 0x0A, 0x00, 0x07, 0x80, 0x06, 0x1F, 0x00, 0x03, 'b', 'a', 'd');
    CU_ASSERT_EQUAL(p.type, MQTT_PUBREC);
    CU_ASSERT_EQUAL(p.u.ack.reason, 0x80);
    CU_ASSERT(str_eq(p.u.ack.props.reason_string, S("bad")));
}

static void pubrel_v311_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0x62, 0x02, 0x12, 0x34);
    CU_ASSERT_EQUAL(p.type, MQTT_PUBREL);
    CU_ASSERT_EQUAL(p.u.ack.packet_id, 0x1234);
}

static void pubrel_v31_with_dup_flag_is_accepted(void)
{
    mqtt_packet_t p;
    DECODE_OK(3, &p, 0x6A, 0x02, 0x00, 0x01);
    CU_ASSERT_EQUAL(p.flags, 0x0A);
}

static void pubcomp_v5_short_form_means_success(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x70, 0x02, 0x00, 0x07);
    CU_ASSERT_EQUAL(p.u.ack.reason, MQTT_RC_SUCCESS);
    CU_ASSERT_EQUAL(p.u.ack.props.present, 0);
}

static void subscribe_v311_two_entries_iterate(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0x82, 0x0C, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01, 0x00, 0x01, '#',
              0x02);
    const mqtt_subscribe_t *s = &p.u.sub;
    CU_ASSERT_EQUAL(s->packet_id, 10);
    CU_ASSERT_EQUAL(s->count, 2);
    mqtt_sub_entry_t e;
    uint32_t off = 0;
    CU_ASSERT_TRUE(mqtt_sub_next(s, true, &off, &e));
    CU_ASSERT(str_eq(e.filter, S("a/b")));
    CU_ASSERT_EQUAL(e.options, 1);
    CU_ASSERT_TRUE(mqtt_sub_next(s, true, &off, &e));
    CU_ASSERT(str_eq(e.filter, S("#")));
    CU_ASSERT_EQUAL(e.options, 2);
    CU_ASSERT_FALSE(mqtt_sub_next(s, true, &off, &e));
}

static void subscribe_invalid_filter_syntax_still_decodes(void)
{
    mqtt_packet_t p;
    /* the server answers 0x8F for this entry; the packet itself is fine */
    DECODE_OK(4, &p, 0x82, 0x07, 0x00, 0x01, 0x00, 0x02, 'a', '#', 0x00);
    mqtt_sub_entry_t e;
    uint32_t off = 0;
    CU_ASSERT_TRUE(mqtt_sub_next(&p.u.sub, true, &off, &e));
    CU_ASSERT_FALSE(mqtt_filter_valid(e.filter.p, e.filter.len));
}

static void subscribe_v5_options_and_subscription_id_decode(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x82, 0x09, 0x00, 0x0A, 0x02, 0x0B, 0x05, 0x00, 0x01, 'x', 0x2D);
    const mqtt_subscribe_t *s = &p.u.sub;
    CU_ASSERT_EQUAL(s->props.sub_id_count, 1);
    CU_ASSERT_EQUAL(s->props.sub_ids[0], 5);
    mqtt_sub_entry_t e;
    uint32_t off = 0;
    CU_ASSERT_TRUE(mqtt_sub_next(s, true, &off, &e));
    CU_ASSERT_EQUAL(MQTT_SUBOPT_QOS(e.options), 1);
    CU_ASSERT_TRUE(e.options & MQTT_SUBOPT_NO_LOCAL);
    CU_ASSERT_TRUE(e.options & MQTT_SUBOPT_RAP);
    CU_ASSERT_EQUAL(MQTT_SUBOPT_RH(e.options), 2);
}

static void suback_v311_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0x90, 0x04, 0x00, 0x0A, 0x01, 0x80);
    CU_ASSERT_EQUAL(p.u.suback.packet_id, 10);
    CU_ASSERT_EQUAL(p.u.suback.reasons.len, 2);
    CU_ASSERT_EQUAL(p.u.suback.reasons.p[1], 0x80);
}

static void suback_v5_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0x90, 0x05, 0x00, 0x0A, 0x00, 0x00, 0xA2);
    CU_ASSERT_EQUAL(p.u.suback.reasons.len, 2);
    CU_ASSERT_EQUAL(p.u.suback.reasons.p[1], MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED);
}

static void unsubscribe_v311_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0xA2, 0x0A, 0x00, 0x0B, 0x00, 0x01, 'a', 0x00, 0x03, 'b', '/', 'c');
    CU_ASSERT_EQUAL(p.u.sub.count, 2);
    mqtt_sub_entry_t e;
    uint32_t off = 0;
    CU_ASSERT_TRUE(mqtt_sub_next(&p.u.sub, false, &off, &e));
    CU_ASSERT(str_eq(e.filter, S("a")));
    CU_ASSERT_TRUE(mqtt_sub_next(&p.u.sub, false, &off, &e));
    CU_ASSERT(str_eq(e.filter, S("b/c")));
    CU_ASSERT_FALSE(mqtt_sub_next(&p.u.sub, false, &off, &e));
}

static void unsuback_v311_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0xB0, 0x02, 0x00, 0x0B);
    CU_ASSERT_EQUAL(p.u.suback.packet_id, 11);
    CU_ASSERT_EQUAL(p.u.suback.reasons.len, 0);
}

static void unsuback_v5_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0xB0, 0x05, 0x00, 0x0B, 0x00, 0x11, 0x00);
    CU_ASSERT_EQUAL(p.u.suback.reasons.len, 2);
    CU_ASSERT_EQUAL(p.u.suback.reasons.p[0], MQTT_RC_NO_SUBSCRIPTION_EXISTED);
}

static void pingreq_and_pingresp_decode(void)
{
    mqtt_packet_t p;
    static const uint8_t req[] = {0xC0, 0x00}, resp[] = {0xD0, 0x00};
    CU_ASSERT_EQUAL(decode_case(req, 2, 4, 2, &p), 2);
    CU_ASSERT_EQUAL(p.type, MQTT_PINGREQ);
    CU_ASSERT_EQUAL(decode_case(resp, 2, 5, 2, &p), 2);
    CU_ASSERT_EQUAL(p.type, MQTT_PINGRESP);
}

static void disconnect_v311_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(4, &p, 0xE0, 0x00);
    CU_ASSERT_EQUAL(p.type, MQTT_DISCONNECT);
}

static void disconnect_v5_with_will_and_session_expiry_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0xE0, 0x07, 0x04, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00);
    CU_ASSERT_EQUAL(p.u.reason.reason, MQTT_RC_DISCONNECT_WITH_WILL);
    CU_ASSERT_TRUE(p.u.reason.props.present & MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY));
    CU_ASSERT_EQUAL(p.u.reason.props.session_expiry, 0);
}

static void disconnect_v5_reason_only_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0xE0, 0x01, 0x8E);
    CU_ASSERT_EQUAL(p.u.reason.reason, MQTT_RC_SESSION_TAKEN_OVER);
}

static void auth_v5_continue_with_method_decodes(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0xF0, 0x08, 0x18, 0x06, 0x15, 0x00, 0x03, 'S', 'C', 'R');
    CU_ASSERT_EQUAL(p.type, MQTT_AUTH);
    CU_ASSERT_EQUAL(p.u.reason.reason, MQTT_RC_CONTINUE_AUTH);
    CU_ASSERT(str_eq(p.u.reason.props.auth_method, S("SCR")));
}

static void auth_v5_empty_means_success(void)
{
    mqtt_packet_t p;
    DECODE_OK(5, &p, 0xF0, 0x00);
    CU_ASSERT_EQUAL(p.u.reason.reason, 0);
}

static void decode_consumes_one_packet_of_a_stream(void)
{
    static const uint8_t b[] = {0xC0, 0x00, 0x40, 0x02, 0x00, 0x01};
    mqtt_packet_t p;
    mqtt_limits_t lim = {.version = 4};
    CU_ASSERT_EQUAL(mqtt_decode(b, sizeof b, &lim, &p), 2);
    CU_ASSERT_EQUAL(p.type, MQTT_PINGREQ);
    CU_ASSERT_EQUAL(mqtt_decode(b + 2, sizeof b - 2, &lim, &p), 4);
    CU_ASSERT_EQUAL(p.type, MQTT_PUBACK);
}

static void decode_partial_input_is_incomplete(void)
{
    static const uint8_t b[] = {0x30, 0x0A, 0x00, 0x03, 'a', '/', 'b', 'h', 'e', 'l', 'l', 'o'};
    mqtt_packet_t p;
    for (size_t n = 0; n < sizeof b; n++)
        CU_ASSERT_EQUAL(decode_case(b, n, 4, MQTT_ERR_INCOMPLETE, &p), MQTT_ERR_INCOMPLETE);
}

static void too_large_is_refused_from_fixed_header_alone(void)
{
    /* 100 MB remaining length announced, only the fixed header present */
    static const uint8_t b[] = {0x30, 0x80, 0x80, 0x80, 0x30};
    mqtt_limits_t lim = {.version = 4, .max_packet_size = 1024};
    mqtt_packet_t p;
    CU_ASSERT_EQUAL(mqtt_decode(b, sizeof b, &lim, &p), MQTT_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(mqtt_decode(b, 4, &lim, &p), MQTT_ERR_INCOMPLETE); /* header not complete */
}

static void size_limit_counts_the_whole_packet(void)
{
    static const uint8_t b[] = {0x30, 0x05, 0x00, 0x01, 't', 'x', 'y'}; /* 7 bytes */
    mqtt_packet_t p;
    mqtt_limits_t exact = {.version = 4, .max_packet_size = 7};
    mqtt_limits_t below = {.version = 4, .max_packet_size = 6};
    CU_ASSERT_EQUAL(mqtt_decode(b, sizeof b, &exact, &p), 7);
    CU_ASSERT_EQUAL(mqtt_decode(b, sizeof b, &below, &p), MQTT_ERR_TOO_LARGE);
    CU_ASSERT_EQUAL(mqtt_decode(b, 2, &below, &p), MQTT_ERR_TOO_LARGE);
}

static void protocol_maximum_remaining_length_is_incomplete_not_error(void)
{
    static const uint8_t b[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00};
    mqtt_packet_t p;
    mqtt_limits_t lim = {.version = 4, .max_packet_size = 0};
    CU_ASSERT_EQUAL(mqtt_decode(b, sizeof b, &lim, &p), MQTT_ERR_INCOMPLETE);
}

static void frame_len_reports_header_and_total(void)
{
    static const uint8_t b[] = {0x30, 0x80, 0x01};
    uint32_t total = 0;
    CU_ASSERT_EQUAL(mqtt_frame_len(b, 3, 0, &total), 3);
    CU_ASSERT_EQUAL(total, 131);
    CU_ASSERT_EQUAL(mqtt_frame_len(b, 2, 0, &total), MQTT_ERR_INCOMPLETE);
    CU_ASSERT_EQUAL(mqtt_frame_len(b, 1, 0, &total), MQTT_ERR_INCOMPLETE);
    CU_ASSERT_EQUAL(mqtt_frame_len(b, 3, 130, &total), MQTT_ERR_TOO_LARGE);
    static const uint8_t overlong[] = {0x30, 0x80, 0x80, 0x00};
    CU_ASSERT_EQUAL(mqtt_frame_len(overlong, 4, 0, &total), MQTT_ERR_MALFORMED);
}

static void unknown_connection_version_is_refused(void)
{
    static const uint8_t b[] = {0xC0, 0x00};
    mqtt_packet_t p;
    CU_ASSERT_EQUAL(decode_case(b, 2, 2, MQTT_ERR_BAD_PROTOCOL, &p), MQTT_ERR_BAD_PROTOCOL);
    CU_ASSERT_EQUAL(decode_case(b, 2, 6, MQTT_ERR_BAD_PROTOCOL, &p), MQTT_ERR_BAD_PROTOCOL);
}

static void null_limits_mean_before_connect(void)
{
    static const uint8_t ping[] = {0xC0, 0x00};
    static const uint8_t conn[] = {0x10, 0x0C, 0x00, 0x04, 'M',  'Q',  'T',
                                   'T',  0x04, 0x02, 0x00, 0x3C, 0x00, 0x00};
    mqtt_packet_t p;
    CU_ASSERT_EQUAL(mqtt_decode(ping, sizeof ping, NULL, &p), MQTT_ERR_PROTOCOL);
    CU_ASSERT_EQUAL(mqtt_decode(conn, sizeof conn, NULL, &p), (int)sizeof conn);
}

#define T(name) {#name, name},
CU_TestInfo codec_decode_tests[] = {
    T(connect_v311_canonical_decodes) T(connect_v5_with_properties_and_will_properties_decodes) T(
        connect_v31_mqisdp_decodes) T(connect_v311_zero_length_client_id_decodes_mqtt_3_1_3_6)
        T(connect_v5_password_without_username_decodes) T(
            connect_v31_username_flag_without_field_reads_as_absent)
            T(connect_while_connected_decodes_at_its_own_level) T(connack_v311_session_present_decodes) T(
                connack_v311_bad_credentials_decodes) T(connack_v5_with_properties_decodes)
                T(publish_v311_qos0_decodes) T(publish_v311_qos1_dup_retain_decodes) T(
                    publish_empty_payload_decodes) T(publish_v5_empty_topic_with_topic_alias_decodes)
                    T(publish_v5_repeated_subscription_ids_decode) T(
                        publish_v5_interleaved_user_properties_iterate_in_order)
                        T(publish_v5_duplicate_user_properties_are_allowed) T(
                            publish_v5_binary_correlation_data_decodes) T(puback_v311_decodes)
                            T(puback_v5_reason_without_properties_decodes) T(
                                pubrec_v5_with_reason_string_decodes) T(pubrel_v311_decodes)
                                T(pubrel_v31_with_dup_flag_is_accepted) T(
                                    pubcomp_v5_short_form_means_success) T(subscribe_v311_two_entries_iterate)
                                    T(subscribe_invalid_filter_syntax_still_decodes) T(
                                        subscribe_v5_options_and_subscription_id_decode) T(suback_v311_decodes)
                                        T(suback_v5_decodes) T(unsubscribe_v311_decodes) T(
                                            unsuback_v311_decodes) T(unsuback_v5_decodes)
                                            T(pingreq_and_pingresp_decode) T(disconnect_v311_decodes) T(
                                                disconnect_v5_with_will_and_session_expiry_decodes)
                                                T(disconnect_v5_reason_only_decodes) T(
                                                    auth_v5_continue_with_method_decodes)
                                                    T(auth_v5_empty_means_success) T(
                                                        decode_consumes_one_packet_of_a_stream)
                                                        T(decode_partial_input_is_incomplete) T(
                                                            too_large_is_refused_from_fixed_header_alone)
                                                            T(size_limit_counts_the_whole_packet) T(
                                                                protocol_maximum_remaining_length_is_incomplete_not_error)
                                                                T(frame_len_reports_header_and_total) T(
                                                                    unknown_connection_version_is_refused)
                                                                    T(null_limits_mean_before_connect)
                                                                        CU_TEST_INFO_NULL,
};
