/*
 * test_codec_roundtrip.c - every packet type at every protocol level:
 * encode, check the size function, decode, compare the fields.
 */
#include "test_codec.h"

#define PB(id) MQTT_PROP_BIT(MQTT_PROP_##id)

static uint8_t buf[4096];

/* User properties k1=v1, k2=v2 as an encoded block. */
static const uint8_t user_block[] = {0x26, 0x00, 0x02, 'k', '1', 0x00, 0x02, 'v', '1',
                                     0x26, 0x00, 0x02, 'k', '2', 0x00, 0x02, 'v', '2'};

static void add_user(mqtt_props_t *pr)
{
    pr->user.p = user_block;
    pr->user.len = sizeof user_block;
    pr->user_count = 2;
    pr->present |= PB(USER_PROPERTY);
}

static void connect_roundtrip(uint8_t version, bool full)
{
    mqtt_packet_t in, out;
    memset(&in, 0, sizeof in);
    in.type = MQTT_CONNECT;
    mqtt_connect_t *c = &in.u.connect;
    c->version = version;
    c->clean_start = !full;
    c->keepalive = full ? 65535 : 0;
    c->client_id = S("client-1");
    if (full) {
        c->will = true;
        c->will_qos = 2;
        c->will_retain = true;
        c->will_topic = S("dev/1/status");
        c->will_payload = S("offline\0bin");
        c->has_username = c->has_password = true;
        c->username = S("user");
        c->password = S("\x00\xffpw");
        if (version == MQTT_V5) {
            mqtt_props_t *p = &c->props;
            p->present = PB(SESSION_EXPIRY) | PB(AUTH_METHOD) | PB(AUTH_DATA) |
                         PB(REQUEST_PROBLEM_INFO) | PB(REQUEST_RESPONSE_INFO) |
                         PB(RECEIVE_MAXIMUM) | PB(TOPIC_ALIAS_MAXIMUM) | PB(MAXIMUM_PACKET_SIZE);
            p->session_expiry = 0xFFFFFFFF;
            p->auth_method = S("SCRAM-SHA-1");
            p->auth_data = S("\x01\x02");
            p->request_problem_info = 0;
            p->request_response_info = 1;
            p->receive_maximum = 100;
            p->topic_alias_maximum = 10;
            p->maximum_packet_size = 1 << 20;
            add_user(p);
            mqtt_props_t *w = &c->will_props;
            w->present = PB(PAYLOAD_FORMAT) | PB(MESSAGE_EXPIRY) | PB(CONTENT_TYPE) |
                         PB(RESPONSE_TOPIC) | PB(CORRELATION_DATA) | PB(WILL_DELAY);
            w->payload_format = 1;
            w->message_expiry = 3600;
            w->content_type = S("text/plain");
            w->response_topic = S("reply/here");
            w->correlation_data = S("\x00\x01");
            w->will_delay = 30;
            add_user(w);
        }
    }
    int n = roundtrip(version, &in, &out, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    const mqtt_connect_t *d = &out.u.connect;
    CU_ASSERT_EQUAL(d->version, version);
    CU_ASSERT_EQUAL(d->clean_start, c->clean_start);
    CU_ASSERT_EQUAL(d->keepalive, c->keepalive);
    CU_ASSERT(str_eq(d->client_id, c->client_id));
    CU_ASSERT_EQUAL(d->will, c->will);
    CU_ASSERT_EQUAL(d->will_qos, c->will_qos);
    CU_ASSERT_EQUAL(d->will_retain, c->will_retain);
    CU_ASSERT(str_eq(d->will_topic, c->will_topic));
    CU_ASSERT(str_eq(d->will_payload, c->will_payload));
    CU_ASSERT_EQUAL(d->has_username, c->has_username);
    CU_ASSERT_EQUAL(d->has_password, c->has_password);
    CU_ASSERT(str_eq(d->username, c->username));
    CU_ASSERT(str_eq(d->password, c->password));
    assert_props_eq(&d->props, &c->props);
    assert_props_eq(&d->will_props, &c->will_props);
}

static void connack_roundtrip(uint8_t version)
{
    mqtt_packet_t in, out;
    memset(&in, 0, sizeof in);
    in.type = MQTT_CONNACK;
    in.u.connack.session_present = true;
    if (version == MQTT_V5) {
        mqtt_props_t *p = &in.u.connack.props;
        p->present = PB(SESSION_EXPIRY) | PB(ASSIGNED_CLIENT_ID) | PB(SERVER_KEEP_ALIVE) |
                     PB(AUTH_METHOD) | PB(AUTH_DATA) | PB(RESPONSE_INFO) | PB(SERVER_REFERENCE) |
                     PB(REASON_STRING) | PB(RECEIVE_MAXIMUM) | PB(TOPIC_ALIAS_MAXIMUM) |
                     PB(MAXIMUM_QOS) | PB(RETAIN_AVAILABLE) | PB(MAXIMUM_PACKET_SIZE) |
                     PB(WILDCARD_SUB_AVAILABLE) | PB(SUB_ID_AVAILABLE) | PB(SHARED_SUB_AVAILABLE);
        p->session_expiry = 120;
        p->assigned_client_id = S("auto-1");
        p->server_keep_alive = 30;
        p->auth_method = S("m");
        p->auth_data = S("d");
        p->response_info = S("resp/");
        p->server_reference = S("other:1883");
        p->reason_string = S("welcome");
        p->receive_maximum = 65535;
        p->topic_alias_maximum = 0;
        p->maximum_qos = 1;
        p->retain_available = 1;
        p->maximum_packet_size = 268435460;
        p->wildcard_sub_available = 0;
        p->sub_id_available = 1;
        p->shared_sub_available = 1;
        add_user(p);
    }
    int n = roundtrip(version, &in, &out, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_TRUE(out.u.connack.session_present);
    CU_ASSERT_EQUAL(out.u.connack.reason, 0);
    assert_props_eq(&out.u.connack.props, &in.u.connack.props);
}

static void publish_roundtrip(uint8_t version, uint8_t qos)
{
    mqtt_packet_t in, out;
    memset(&in, 0, sizeof in);
    in.type = MQTT_PUBLISH;
    mqtt_publish_t *m = &in.u.publish;
    m->qos = qos;
    m->dup = qos > 0;
    m->retain = qos != 1;
    m->topic = S("devices/d7/telemetry/temp");
    m->packet_id = qos ? 0xBEEF : 0;
    m->payload = S("{\"t\":21.5}\0\xff");
    if (version == MQTT_V5) {
        mqtt_props_t *p = &m->props;
        p->present = PB(PAYLOAD_FORMAT) | PB(MESSAGE_EXPIRY) | PB(CONTENT_TYPE) |
                     PB(RESPONSE_TOPIC) | PB(CORRELATION_DATA) | PB(SUBSCRIPTION_ID) |
                     PB(TOPIC_ALIAS);
        p->payload_format = 0;
        p->message_expiry = 10;
        p->content_type = S("application/json");
        p->response_topic = S("r/1");
        p->correlation_data = S("corr");
        p->sub_id_count = 3;
        p->sub_ids[0] = 1;
        p->sub_ids[1] = 16384;
        p->sub_ids[2] = 268435455;
        p->topic_alias = 3;
        add_user(p);
    }
    int n = roundtrip(version, &in, &out, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    const mqtt_publish_t *d = &out.u.publish;
    CU_ASSERT_EQUAL(d->qos, qos);
    CU_ASSERT_EQUAL(d->dup, m->dup);
    CU_ASSERT_EQUAL(d->retain, m->retain);
    CU_ASSERT(str_eq(d->topic, m->topic));
    CU_ASSERT_EQUAL(d->packet_id, m->packet_id);
    CU_ASSERT(str_eq(d->payload, m->payload));
    assert_props_eq(&d->props, &m->props);
}

static void ack_roundtrip(uint8_t version, mqtt_type_t type, uint8_t reason, bool props)
{
    mqtt_packet_t in, out;
    memset(&in, 0, sizeof in);
    in.type = type;
    in.u.ack.packet_id = 0x0102;
    if (version == MQTT_V5) {
        in.u.ack.reason = reason;
        if (props) {
            in.u.ack.props.present = PB(REASON_STRING);
            in.u.ack.props.reason_string = S("why");
            add_user(&in.u.ack.props);
        }
    }
    int n = roundtrip(version, &in, &out, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_EQUAL(out.u.ack.packet_id, 0x0102);
    CU_ASSERT_EQUAL(out.u.ack.reason, in.u.ack.reason);
    assert_props_eq(&out.u.ack.props, &in.u.ack.props);
    if (version < MQTT_V5) CU_ASSERT_EQUAL(n, 4);
}

static void subscribe_roundtrip(uint8_t version, mqtt_type_t type)
{
    static const mqtt_sub_entry_t entries[] = {
        {{(const uint8_t *)"a/+/c", 5}, 0x01},
        {{(const uint8_t *)"$share/g/x/#", 12}, 0x02},
        {{(const uint8_t *)"caf\xc3\xa9", 5}, 0x00},
    };
    mqtt_packet_t in, out;
    memset(&in, 0, sizeof in);
    in.type = type;
    in.u.sub.packet_id = 77;
    in.u.sub.entries = entries;
    in.u.sub.count = 3;
    if (version == MQTT_V5) {
        if (type == MQTT_SUBSCRIBE) {
            in.u.sub.props.present = PB(SUBSCRIPTION_ID);
            in.u.sub.props.sub_id_count = 1;
            in.u.sub.props.sub_ids[0] = 200;
        }
        add_user(&in.u.sub.props);
    }
    int n = roundtrip(version, &in, &out, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_EQUAL(out.u.sub.packet_id, 77);
    CU_ASSERT_EQUAL(out.u.sub.count, 3);
    assert_props_eq(&out.u.sub.props, &in.u.sub.props);
    mqtt_sub_entry_t e;
    uint32_t off = 0;
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_TRUE_FATAL(mqtt_sub_next(&out.u.sub, type == MQTT_SUBSCRIBE, &off, &e));
        CU_ASSERT(str_eq(e.filter, entries[i].filter));
        CU_ASSERT_EQUAL(e.options, type == MQTT_SUBSCRIBE ? entries[i].options : 0);
    }
    CU_ASSERT_FALSE(mqtt_sub_next(&out.u.sub, type == MQTT_SUBSCRIBE, &off, &e));
}

static void suback_roundtrip(uint8_t version, mqtt_type_t type)
{
    mqtt_packet_t in, out;
    memset(&in, 0, sizeof in);
    in.type = type;
    in.u.suback.packet_id = 9;
    bool has_reasons = type == MQTT_SUBACK || version == MQTT_V5;
    if (type == MQTT_SUBACK)
        in.u.suback.reasons = S("\x00\x01\x02\x80");
    else
        in.u.suback.reasons = S("\x00\x11");
    if (version == MQTT_V5) {
        in.u.suback.props.present = PB(REASON_STRING);
        in.u.suback.props.reason_string = S("ok");
        add_user(&in.u.suback.props);
    }
    int n = roundtrip(version, &in, &out, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_EQUAL(out.u.suback.packet_id, 9);
    if (has_reasons) {
        CU_ASSERT(str_eq(out.u.suback.reasons, in.u.suback.reasons));
    } else {
        CU_ASSERT_EQUAL(out.u.suback.reasons.len, 0);
    }
    assert_props_eq(&out.u.suback.props, &in.u.suback.props);
}

static void empty_roundtrip(uint8_t version, mqtt_type_t type)
{
    mqtt_packet_t in, out;
    memset(&in, 0, sizeof in);
    in.type = type;
    CU_ASSERT_EQUAL(roundtrip(version, &in, &out, buf, sizeof buf), 2);
    CU_ASSERT_EQUAL(buf[0], (uint8_t)(type << 4));
    CU_ASSERT_EQUAL(buf[1], 0);
}

static void reason_roundtrip(uint8_t version, mqtt_type_t type, uint8_t reason, bool props)
{
    mqtt_packet_t in, out;
    memset(&in, 0, sizeof in);
    in.type = type;
    in.u.reason.reason = reason;
    if (props) {
        mqtt_props_t *p = &in.u.reason.props;
        if (type == MQTT_DISCONNECT) {
            p->present = PB(SESSION_EXPIRY) | PB(SERVER_REFERENCE) | PB(REASON_STRING);
            p->session_expiry = 5;
            p->server_reference = S("b:1883");
        } else {
            p->present = PB(AUTH_METHOD) | PB(AUTH_DATA) | PB(REASON_STRING);
            p->auth_method = S("SCRAM");
            p->auth_data = S("\x00\x01\x02");
        }
        p->reason_string = S("bye");
        add_user(p);
    }
    int n = roundtrip(version, &in, &out, buf, sizeof buf);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_EQUAL(out.u.reason.reason, reason);
    assert_props_eq(&out.u.reason.props, &in.u.reason.props);
}

/* X(name, call) - one test per packet type and protocol level. */
#define ROUNDTRIP_CASES(X)                                                                         \
    X(connect_minimal_roundtrip_v31, connect_roundtrip(3, false))                                  \
    X(connect_minimal_roundtrip_v311, connect_roundtrip(4, false))                                 \
    X(connect_minimal_roundtrip_v5, connect_roundtrip(5, false))                                   \
    X(connect_will_and_credentials_roundtrip_v31, connect_roundtrip(3, true))                      \
    X(connect_will_and_credentials_roundtrip_v311, connect_roundtrip(4, true))                     \
    X(connect_all_properties_roundtrip_v5, connect_roundtrip(5, true))                             \
    X(connack_roundtrip_v31, connack_roundtrip(3))                                                 \
    X(connack_roundtrip_v311, connack_roundtrip(4))                                                \
    X(connack_all_properties_roundtrip_v5, connack_roundtrip(5))                                   \
    X(publish_qos0_roundtrip_v31, publish_roundtrip(3, 0))                                         \
    X(publish_qos1_roundtrip_v31, publish_roundtrip(3, 1))                                         \
    X(publish_qos2_roundtrip_v31, publish_roundtrip(3, 2))                                         \
    X(publish_qos0_roundtrip_v311, publish_roundtrip(4, 0))                                        \
    X(publish_qos1_roundtrip_v311, publish_roundtrip(4, 1))                                        \
    X(publish_qos2_roundtrip_v311, publish_roundtrip(4, 2))                                        \
    X(publish_qos0_all_properties_roundtrip_v5, publish_roundtrip(5, 0))                           \
    X(publish_qos1_all_properties_roundtrip_v5, publish_roundtrip(5, 1))                           \
    X(publish_qos2_all_properties_roundtrip_v5, publish_roundtrip(5, 2))                           \
    X(puback_roundtrip_v31, ack_roundtrip(3, MQTT_PUBACK, 0, false))                               \
    X(puback_roundtrip_v311, ack_roundtrip(4, MQTT_PUBACK, 0, false))                              \
    X(puback_short_roundtrip_v5, ack_roundtrip(5, MQTT_PUBACK, 0, false))                          \
    X(puback_reason_roundtrip_v5, ack_roundtrip(5, MQTT_PUBACK, 0x10, false))                      \
    X(puback_properties_roundtrip_v5, ack_roundtrip(5, MQTT_PUBACK, 0x97, true))                   \
    X(pubrec_roundtrip_v31, ack_roundtrip(3, MQTT_PUBREC, 0, false))                               \
    X(pubrec_roundtrip_v311, ack_roundtrip(4, MQTT_PUBREC, 0, false))                              \
    X(pubrec_properties_roundtrip_v5, ack_roundtrip(5, MQTT_PUBREC, 0x80, true))                   \
    X(pubrel_roundtrip_v31, ack_roundtrip(3, MQTT_PUBREL, 0, false))                               \
    X(pubrel_roundtrip_v311, ack_roundtrip(4, MQTT_PUBREL, 0, false))                              \
    X(pubrel_reason_roundtrip_v5, ack_roundtrip(5, MQTT_PUBREL, 0x92, false))                      \
    X(pubcomp_roundtrip_v31, ack_roundtrip(3, MQTT_PUBCOMP, 0, false))                             \
    X(pubcomp_roundtrip_v311, ack_roundtrip(4, MQTT_PUBCOMP, 0, false))                            \
    X(pubcomp_properties_roundtrip_v5, ack_roundtrip(5, MQTT_PUBCOMP, 0, true))                    \
    X(subscribe_roundtrip_v31, subscribe_roundtrip(3, MQTT_SUBSCRIBE))                             \
    X(subscribe_roundtrip_v311, subscribe_roundtrip(4, MQTT_SUBSCRIBE))                            \
    X(subscribe_roundtrip_v5, subscribe_roundtrip(5, MQTT_SUBSCRIBE))                              \
    X(unsubscribe_roundtrip_v31, subscribe_roundtrip(3, MQTT_UNSUBSCRIBE))                         \
    X(unsubscribe_roundtrip_v311, subscribe_roundtrip(4, MQTT_UNSUBSCRIBE))                        \
    X(unsubscribe_roundtrip_v5, subscribe_roundtrip(5, MQTT_UNSUBSCRIBE))                          \
    X(suback_roundtrip_v31, suback_roundtrip(3, MQTT_SUBACK))                                      \
    X(suback_roundtrip_v311, suback_roundtrip(4, MQTT_SUBACK))                                     \
    X(suback_roundtrip_v5, suback_roundtrip(5, MQTT_SUBACK))                                       \
    X(unsuback_roundtrip_v31, suback_roundtrip(3, MQTT_UNSUBACK))                                  \
    X(unsuback_roundtrip_v311, suback_roundtrip(4, MQTT_UNSUBACK))                                 \
    X(unsuback_roundtrip_v5, suback_roundtrip(5, MQTT_UNSUBACK))                                   \
    X(pingreq_roundtrip_v31, empty_roundtrip(3, MQTT_PINGREQ))                                     \
    X(pingreq_roundtrip_v311, empty_roundtrip(4, MQTT_PINGREQ))                                    \
    X(pingreq_roundtrip_v5, empty_roundtrip(5, MQTT_PINGREQ))                                      \
    X(pingresp_roundtrip_v31, empty_roundtrip(3, MQTT_PINGRESP))                                   \
    X(pingresp_roundtrip_v311, empty_roundtrip(4, MQTT_PINGRESP))                                  \
    X(pingresp_roundtrip_v5, empty_roundtrip(5, MQTT_PINGRESP))                                    \
    X(disconnect_roundtrip_v31, empty_roundtrip(3, MQTT_DISCONNECT))                               \
    X(disconnect_roundtrip_v311, empty_roundtrip(4, MQTT_DISCONNECT))                              \
    X(disconnect_empty_roundtrip_v5, empty_roundtrip(5, MQTT_DISCONNECT))                          \
    X(disconnect_reason_roundtrip_v5, reason_roundtrip(5, MQTT_DISCONNECT, 0x8B, false))           \
    X(disconnect_properties_roundtrip_v5, reason_roundtrip(5, MQTT_DISCONNECT, 0x9C, true))        \
    X(auth_empty_roundtrip_v5, empty_roundtrip(5, MQTT_AUTH))                                      \
    X(auth_properties_roundtrip_v5, reason_roundtrip(5, MQTT_AUTH, 0x18, true))

#define DEFINE_ROUNDTRIP(name, call)                                                               \
    static void name(void)                                                                         \
    {                                                                                              \
        call;                                                                                      \
    }
ROUNDTRIP_CASES(DEFINE_ROUNDTRIP)

CU_TestInfo codec_roundtrip_tests[] = {
    ROUNDTRIP_CASES(CODEC_TEST_INFO) CU_TEST_INFO_NULL,
};
