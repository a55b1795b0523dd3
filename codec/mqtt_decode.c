/*
 * mqtt_decode.c - bytes to packets. Every read is bounds-checked against
 * the packet's remaining length, every field must fit, and bytes left over
 * after the last field make the packet malformed. Decoded strings point
 * into the caller's buffer. Rules are cited by their specification number
 * (MQTT-x.y.z-n: 3.1.1 or 5.0 as named in the comment).
 */
#include "mqtt_internal.h"

#define MQTT_PACKET_MAX (1u + 4u + MQTT_VARINT_MAX)

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ < 0) return rc_;                                                                   \
    } while (0)

/* A cursor over the rest of one packet. */
typedef struct reader {
    const uint8_t *p;
    uint32_t n;
} reader_t;

static int reader_u8(reader_t *r, uint8_t *v)
{
    if (r->n < 1) return MQTT_ERR_MALFORMED;
    *v = r->p[0];
    r->p++;
    r->n--;
    return 0;
}

static int reader_u16(reader_t *r, uint16_t *v)
{
    if (r->n < 2) return MQTT_ERR_MALFORMED;
    *v = mqtt__rd16(r->p);
    r->p += 2;
    r->n -= 2;
    return 0;
}

/* Two-byte length prefixed binary data. */
static int reader_bin(reader_t *r, mqtt_str_t *s)
{
    if (r->n < 2 || r->n - 2 < mqtt__rd16(r->p)) return MQTT_ERR_MALFORMED;
    s->len = mqtt__rd16(r->p);
    s->p = r->p + 2;
    r->p += 2 + s->len;
    r->n -= 2 + s->len;
    return 0;
}

static int reader_utf8(reader_t *r, mqtt_str_t *s)
{
    TRY(reader_bin(r, s));
    return mqtt_utf8_valid(s->p, s->len) ? 0 : MQTT_ERR_BAD_UTF8;
}

/* Packet identifier: nonzero wherever one is carried (MQTT-2.3.1-1). */
static int reader_pid(reader_t *r, uint16_t *pid)
{
    TRY(reader_u16(r, pid));
    return *pid ? 0 : MQTT_ERR_PROTOCOL;
}

/* Property length then properties, all within the packet. */
static int reader_props(reader_t *r, uint64_t allowed, bool many_sub_ids, mqtt_props_t *pr)
{
    uint32_t plen;
    int n = mqtt_varint_decode(r->p, r->n, &plen);
    if (n <= 0) return MQTT_ERR_MALFORMED;
    if (r->n - (uint32_t)n < plen) return MQTT_ERR_MALFORMED;
    TRY(mqtt__props_parse(r->p + n, plen, allowed, many_sub_ids, pr));
    r->p += (uint32_t)n + plen;
    r->n -= (uint32_t)n + plen;
    return 0;
}

static bool rc_in(const uint8_t *set, size_t n, uint8_t rc)
{
    return memchr(set, rc, n) != NULL;
}

/* MQTT 5 reason codes each packet may carry (section 2.4). */
static const uint8_t rc_connack[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                                     0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
                                     0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
static const uint8_t rc_puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
static const uint8_t rc_pubrel[] = {0x00, 0x92};
static const uint8_t rc_suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
                                    0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
static const uint8_t rc_unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
static const uint8_t rc_disconnect[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                        0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                        0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
static const uint8_t rc_auth[] = {0x00, 0x18, 0x19};
static const uint8_t rc_suback_v311[] = {0x00, 0x01, 0x02, 0x80};

static int decode_connect(reader_t *r, mqtt_connect_t *c)
{
    mqtt_str_t name;
    uint8_t level, flags;
    TRY(reader_bin(r, &name));
    TRY(reader_u8(r, &level));
    bool mqtt = name.len == 4 && memcmp(name.p, "MQTT", 4) == 0;
    bool mqisdp = name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0;
    if (!((mqtt && (level == MQTT_V311 || level == MQTT_V5)) || (mqisdp && level == MQTT_V31)))
        return MQTT_ERR_BAD_PROTOCOL;
    c->version = level;
    TRY(reader_u8(r, &flags));
    if (flags & 0x01) /* MQTT-3.1.2-3 (3.1.1) / 3.1.2.3 (5.0): reserved flag */
        return MQTT_ERR_MALFORMED;
    c->clean_start = flags & 0x02;
    c->will = flags & 0x04;
    c->will_qos = (flags >> 3) & 0x03;
    c->will_retain = flags & 0x20;
    c->has_password = flags & 0x40;
    c->has_username = flags & 0x80;
    if (c->will_qos == 3) /* MQTT-3.1.2-14 (3.1.1): will QoS 3 */
        return MQTT_ERR_MALFORMED;
    if (!c->will && (c->will_qos || c->will_retain)) /* MQTT-3.1.2-13/15 (3.1.1) */
        return MQTT_ERR_PROTOCOL;
    if (c->has_password && !c->has_username && level < MQTT_V5) /* MQTT-3.1.2-22 (3.1.1) */
        return MQTT_ERR_PROTOCOL;
    TRY(reader_u16(r, &c->keepalive));
    if (level == MQTT_V5) TRY(reader_props(r, mqtt__props_allowed(MQTT_CONNECT), false, &c->props));
    /* MQTT-3.1.3-3: the client id is present; a zero-length one is the
     * broker's decision (MQTT-3.1.3-7/8), not a decode error. */
    TRY(reader_utf8(r, &c->client_id));
    if (c->will) {
        if (level == MQTT_V5) TRY(reader_props(r, MQTT_PROPS_WILL, false, &c->will_props));
        TRY(reader_bin(r, &c->will_topic));
        if (c->will_topic.len == 0) /* MQTT-4.7.3-1: topics are not empty */
            return MQTT_ERR_BAD_TOPIC;
        TRY(mqtt__topic_check(c->will_topic.p, c->will_topic.len));
        TRY(reader_bin(r, &c->will_payload));
    }
    /* Some 3.1 clients set the user name / password flag and omit the
     * field; like mosquitto, read that as "not given". */
    if (c->has_username) {
        if (level == MQTT_V31 && r->n == 0)
            c->has_username = c->has_password = false;
        else
            TRY(reader_utf8(r, &c->username));
    }
    if (c->has_password) {
        if (level == MQTT_V31 && r->n == 0)
            c->has_password = false;
        else
            TRY(reader_bin(r, &c->password));
    }
    return 0;
}

static int decode_connack(reader_t *r, uint8_t version, mqtt_connack_t *c)
{
    uint8_t flags;
    TRY(reader_u8(r, &flags));
    TRY(reader_u8(r, &c->reason));
    if (flags & 0xFE) /* MQTT-3.2.2-1 (3.1.1): reserved acknowledge flags */
        return MQTT_ERR_MALFORMED;
    c->session_present = flags & 0x01;
    if (c->session_present && c->reason != 0) /* MQTT-3.2.2-4 (3.1.1), -6 (5.0) */
        return MQTT_ERR_PROTOCOL;
    if (version == MQTT_V5) {
        if (!rc_in(rc_connack, sizeof rc_connack, c->reason)) return MQTT_ERR_PROTOCOL;
        TRY(reader_props(r, mqtt__props_allowed(MQTT_CONNACK), false, &c->props));
    } else if (c->reason > MQTT_CONNACK_NOT_AUTHORIZED) {
        return MQTT_ERR_PROTOCOL;
    }
    return 0;
}

static int decode_publish(reader_t *r, uint8_t version, uint8_t flags, mqtt_publish_t *p)
{
    p->dup = flags & 0x08;
    p->qos = (flags >> 1) & 0x03;
    p->retain = flags & 0x01;
    TRY(reader_bin(r, &p->topic));
    TRY(mqtt__topic_check(p->topic.p, p->topic.len)); /* MQTT-3.3.2-2: no wildcards */
    if (p->qos) TRY(reader_pid(r, &p->packet_id));
    if (version == MQTT_V5)
        TRY(reader_props(r, mqtt__props_allowed(MQTT_PUBLISH), true, &p->props));
    /* MQTT-4.7.3-1; in 5.0 an empty topic goes with a Topic Alias (3.3.2.1). */
    if (p->topic.len == 0 && !(p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)))
        return MQTT_ERR_BAD_TOPIC;
    p->payload.p = r->p;
    p->payload.len = r->n;
    r->p += r->n;
    r->n = 0;
    return 0;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP. In 5.0 the reason code and properties
 * may be omitted (3.4.2.1: remaining length 2 means success). */
static int decode_ack(reader_t *r, uint8_t version, mqtt_type_t type, mqtt_ack_t *a)
{
    TRY(reader_pid(r, &a->packet_id));
    if (version != MQTT_V5 || r->n == 0) return 0;
    TRY(reader_u8(r, &a->reason));
    bool rel = type == MQTT_PUBREL || type == MQTT_PUBCOMP;
    if (rel ? !rc_in(rc_pubrel, sizeof rc_pubrel, a->reason)
            : !rc_in(rc_puback, sizeof rc_puback, a->reason))
        return MQTT_ERR_PROTOCOL;
    if (r->n) TRY(reader_props(r, mqtt__props_allowed(type), false, &a->props));
    return 0;
}

static int decode_subscribe(reader_t *r, uint8_t version, mqtt_type_t type, mqtt_subscribe_t *s)
{
    TRY(reader_pid(r, &s->packet_id));
    if (version == MQTT_V5) TRY(reader_props(r, mqtt__props_allowed(type), false, &s->props));
    s->list.p = r->p;
    s->list.len = r->n;
    while (r->n) {
        mqtt_str_t filter;
        TRY(reader_utf8(r, &filter));
        s->count++;
        if (type == MQTT_UNSUBSCRIBE) continue;
        uint8_t o;
        TRY(reader_u8(r, &o));
        if (version < MQTT_V5) {
            if ((o & 0xFC) || (o & 0x03) == 3) /* MQTT-3.8.3-4 (3.1.1): reserved bits, QoS 3 */
                return MQTT_ERR_MALFORMED;
            continue;
        }
        if (o & 0xC0) /* MQTT-3.8.3-5 (5.0): reserved bits */
            return MQTT_ERR_MALFORMED;
        if (MQTT_SUBOPT_QOS(o) == 3 || MQTT_SUBOPT_RH(o) == 3) /* 3.8.3.1 (5.0) */
            return MQTT_ERR_PROTOCOL;
        /* MQTT-3.8.3-4 (5.0): No Local on a shared subscription */
        mqtt_str_t g, rest;
        if ((o & MQTT_SUBOPT_NO_LOCAL) && mqtt_share_split(filter.p, filter.len, &g, &rest))
            return MQTT_ERR_PROTOCOL;
    }
    /* MQTT-3.8.3-3 / MQTT-3.10.3-2: at least one entry */
    return s->count ? 0 : MQTT_ERR_PROTOCOL;
}

static int decode_suback(reader_t *r, uint8_t version, mqtt_type_t type, mqtt_suback_t *s)
{
    TRY(reader_pid(r, &s->packet_id));
    if (version == MQTT_V5)
        TRY(reader_props(r, mqtt__props_allowed(type), false, &s->props));
    else if (type == MQTT_UNSUBACK)
        return 0; /* 3.1.1 UNSUBACK is the packet id alone */
    s->reasons.p = r->p;
    s->reasons.len = r->n;
    if (r->n == 0) return MQTT_ERR_PROTOCOL;
    for (uint32_t i = 0; i < r->n; i++) {
        uint8_t rc = r->p[i];
        bool ok = version < MQTT_V5     ? rc_in(rc_suback_v311, sizeof rc_suback_v311, rc)
                  : type == MQTT_SUBACK ? rc_in(rc_suback, sizeof rc_suback, rc)
                                        : rc_in(rc_unsuback, sizeof rc_unsuback, rc);
        if (!ok) return MQTT_ERR_PROTOCOL;
    }
    r->p += r->n;
    r->n = 0;
    return 0;
}

/* DISCONNECT and AUTH: empty before 5.0; in 5.0 an empty body means
 * reason 0 and no properties (3.14.2.1, 3.15.2.1). */
static int decode_reason(reader_t *r, uint8_t version, mqtt_type_t type, mqtt_reason_pkt_t *p)
{
    if (version != MQTT_V5 || r->n == 0) return 0;
    TRY(reader_u8(r, &p->reason));
    if (type == MQTT_AUTH ? !rc_in(rc_auth, sizeof rc_auth, p->reason)
                          : !rc_in(rc_disconnect, sizeof rc_disconnect, p->reason))
        return MQTT_ERR_PROTOCOL;
    if (r->n) TRY(reader_props(r, mqtt__props_allowed(type), false, &p->props));
    return 0;
}

/* Fixed header rules that need only the first byte (section 2.1.3 / 2.2.2). */
static int decode_check_first_byte(uint8_t b, uint8_t version)
{
    uint8_t type = b >> 4, flags = b & 0x0F;
    if (type == 0) return MQTT_ERR_BAD_PACKET_TYPE;
    if (type == MQTT_AUTH && version != 0 && version != MQTT_V5) return MQTT_ERR_BAD_PACKET_TYPE;
    if (version == 0 && type != MQTT_CONNECT) /* MQTT-3.1.0-1: CONNECT first */
        return MQTT_ERR_PROTOCOL;
    switch (type) {
    case MQTT_PUBLISH:
        if (((flags >> 1) & 0x03) == 3) /* MQTT-3.3.1-4: QoS 3 */
            return MQTT_ERR_MALFORMED;
        if ((flags & 0x08) && ((flags >> 1) & 0x03) == 0) /* MQTT-3.3.1-2: DUP with QoS 0 */
            return MQTT_ERR_PROTOCOL;
        return 0;
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        /* MQTT-3.6.1-1, 3.8.1-1, 3.10.1-1. 3.1 sent these at QoS 1 and
         * could set DUP on a retry, so accept 0xA there. */
        if (flags == 0x02 || (version == MQTT_V31 && flags == 0x0A)) return 0;
        return MQTT_ERR_MALFORMED;
    default:
        return flags ? MQTT_ERR_MALFORMED : 0; /* MQTT-2.2.2-1/2 */
    }
}

int mqtt_frame_len(const uint8_t *buf, size_t len, uint32_t max_packet_size, uint32_t *total)
{
    uint32_t rem;
    if (len < 2) return MQTT_ERR_INCOMPLETE;
    int n = mqtt_varint_decode(buf + 1, len - 1, &rem);
    if (n <= 0) return n;
    uint32_t t = 1u + (uint32_t)n + rem;
    if (t > (max_packet_size ? max_packet_size : MQTT_PACKET_MAX)) return MQTT_ERR_TOO_LARGE;
    *total = t;
    return 1 + n;
}

int mqtt_decode(const uint8_t *buf, size_t len, const mqtt_limits_t *limits, mqtt_packet_t *pkt)
{
    uint8_t version = limits ? limits->version : 0;
    uint32_t total;
    if (version != 0 && (version < MQTT_V31 || version > MQTT_V5)) return MQTT_ERR_BAD_PROTOCOL;
    int hl = mqtt_frame_len(buf, len, limits ? limits->max_packet_size : 0, &total);
    if (hl <= 0) return hl;
    TRY(decode_check_first_byte(buf[0], version));
    if (len < total) return MQTT_ERR_INCOMPLETE;

    mqtt_packet_t out;
    memset(&out, 0, sizeof out);
    out.type = (mqtt_type_t)(buf[0] >> 4);
    out.flags = buf[0] & 0x0F;
    reader_t r = {buf + hl, total - (uint32_t)hl};
    switch (out.type) {
    case MQTT_CONNECT:
        TRY(decode_connect(&r, &out.u.connect));
        break;
    case MQTT_CONNACK:
        TRY(decode_connack(&r, version, &out.u.connack));
        break;
    case MQTT_PUBLISH:
        TRY(decode_publish(&r, version, out.flags, &out.u.publish));
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        TRY(decode_ack(&r, version, out.type, &out.u.ack));
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        TRY(decode_subscribe(&r, version, out.type, &out.u.sub));
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        TRY(decode_suback(&r, version, out.type, &out.u.suback));
        break;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        TRY(decode_reason(&r, version, out.type, &out.u.reason));
        break;
    }
    if (r.n) /* leftover bytes after the last field */
        return MQTT_ERR_MALFORMED;
    *pkt = out;
    return (int)total;
}

int mqtt_varint_decode(const uint8_t *p, size_t len, uint32_t *value)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len) return MQTT_ERR_INCOMPLETE;
        v |= (uint32_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (i > 0 && p[i] == 0) /* MQTT-1.5.5-1 (5.0): minimum number of bytes */
                return MQTT_ERR_MALFORMED;
            *value = v;
            return (int)i + 1;
        }
    }
    return MQTT_ERR_MALFORMED; /* a fifth byte */
}
