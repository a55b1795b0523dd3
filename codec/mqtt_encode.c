/*
 * mqtt_encode.c - packets to bytes. Sizes are computed arithmetically in
 * one plan (no trial encoding, no UTF-8 re-validation: the caller owns the
 * contents), then the packet is written in one pass. The broker's hot
 * path, a PUBLISH built from a stored message's parts, is mqtt_publish.c.
 */
#include "mqtt_internal.h"

#define TRY_PLAN(expr)                                                                             \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ < 0) return rc_;                                                                   \
    } while (0)

/* What one packet needs: body length and property list lengths. */
typedef struct plan {
    uint32_t rem;  /* remaining length */
    uint32_t plen; /* property list length (5.0) */
    uint32_t wlen; /* will property list length (5.0 CONNECT) */
} plan_t;

/* Adds the property section (length varint + list) of *pr to *n. */
static int encode_props_plan(const mqtt_props_t *pr, uint64_t allowed, uint32_t *plen, uint64_t *n)
{
    int64_t len = 0;
    if (pr->present || pr->user.len) {
        len = mqtt__props_size(pr, allowed);
        if (len < 0) return (int)len;
    }
    *plen = (uint32_t)len;
    *n += mqtt__varsize((uint32_t)len) + (uint64_t)len;
    return 0;
}

static bool str_ok(mqtt_str_t s)
{
    return s.len <= MQTT_STR_MAX;
}

/* Entry i of a SUBSCRIBE/UNSUBSCRIBE to encode: from `entries` when given,
 * else from the encoded `list` of a decoded packet. */
static bool encode_sub_entry(const mqtt_subscribe_t *s, bool with_options, uint32_t i,
                             uint32_t *off, mqtt_sub_entry_t *e)
{
    if (s->entries) {
        if (i >= s->count) return false;
        *e = s->entries[i];
        return true;
    }
    return mqtt_sub_next(s, with_options, off, e);
}

static int encode_plan(uint8_t version, const mqtt_packet_t *pkt, plan_t *pl)
{
    uint64_t n = 0;
    bool v5 = version == MQTT_V5;
    mqtt_type_t type = pkt->type;
    if (version < MQTT_V31 || version > MQTT_V5) return MQTT_ERR_INVALID;
    pl->plen = pl->wlen = 0;
    switch (type) {
    case MQTT_CONNECT: {
        const mqtt_connect_t *c = &pkt->u.connect;
        n = (version == MQTT_V31 ? 8 : 6) + 1 + 1 + 2;
        if (v5) TRY_PLAN(encode_props_plan(&c->props, mqtt__props_allowed(type), &pl->plen, &n));
        if (!str_ok(c->client_id)) return MQTT_ERR_INVALID;
        n += 2 + c->client_id.len;
        if (c->will) {
            if (c->will_qos > 2 || !str_ok(c->will_topic) || !str_ok(c->will_payload))
                return MQTT_ERR_INVALID;
            if (v5) TRY_PLAN(encode_props_plan(&c->will_props, MQTT_PROPS_WILL, &pl->wlen, &n));
            n += 4 + c->will_topic.len + c->will_payload.len;
        }
        if (c->has_password && !c->has_username && !v5) return MQTT_ERR_INVALID;
        if (c->has_username) n += 2 + c->username.len;
        if (c->has_password) n += 2 + c->password.len;
        if (!str_ok(c->username) || !str_ok(c->password)) return MQTT_ERR_INVALID;
        break;
    }
    case MQTT_CONNACK:
        n = 2;
        if (v5)
            TRY_PLAN(
                encode_props_plan(&pkt->u.connack.props, mqtt__props_allowed(type), &pl->plen, &n));
        break;
    case MQTT_PUBLISH: {
        const mqtt_publish_t *p = &pkt->u.publish;
        if (p->qos > 2 || (p->dup && p->qos == 0) || !str_ok(p->topic)) return MQTT_ERR_INVALID;
        n = 2u + p->topic.len + (p->qos ? 2u : 0u) + p->payload.len;
        if (v5) {
            const mqtt_props_t *pr = &p->props;
            if (p->topic.len == 0 && !(pr->present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)))
                return MQTT_ERR_INVALID;
            if (pr->present == 0 && pr->user.len == 0)
                n += 1; /* the common case: empty property list */
            else
                TRY_PLAN(encode_props_plan(pr, mqtt__props_allowed(type), &pl->plen, &n));
        } else if (p->topic.len == 0) {
            return MQTT_ERR_INVALID;
        }
        break;
    }
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: {
        const mqtt_ack_t *a = &pkt->u.ack;
        n = 2;
        /* 5.0 omits what is default: reason 0 and no properties. */
        if (v5 && (a->props.present || a->props.user.len)) {
            n += 1;
            TRY_PLAN(encode_props_plan(&a->props, mqtt__props_allowed(type), &pl->plen, &n));
        } else if (v5 && a->reason) {
            n += 1;
        }
        break;
    }
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: {
        const mqtt_subscribe_t *s = &pkt->u.sub;
        bool opts = type == MQTT_SUBSCRIBE;
        mqtt_sub_entry_t e;
        uint32_t off = 0, i = 0;
        n = 2;
        if (v5) TRY_PLAN(encode_props_plan(&s->props, mqtt__props_allowed(type), &pl->plen, &n));
        while (encode_sub_entry(s, opts, i, &off, &e)) {
            if (!str_ok(e.filter)) return MQTT_ERR_INVALID;
            n += 2u + e.filter.len + (opts ? 1u : 0u);
            i++;
        }
        if (i == 0) return MQTT_ERR_INVALID;
        break;
    }
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: {
        const mqtt_suback_t *s = &pkt->u.suback;
        n = 2;
        if (v5) TRY_PLAN(encode_props_plan(&s->props, mqtt__props_allowed(type), &pl->plen, &n));
        if (v5 || type == MQTT_SUBACK) n += s->reasons.len;
        break;
    }
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        break;
    case MQTT_AUTH:
        if (!v5) return MQTT_ERR_INVALID;
        /* fall through */
    case MQTT_DISCONNECT: {
        const mqtt_reason_pkt_t *r = &pkt->u.reason;
        if (!v5) break;
        if (r->props.present || r->props.user.len) {
            n = 1;
            TRY_PLAN(encode_props_plan(&r->props, mqtt__props_allowed(type), &pl->plen, &n));
        } else if (r->reason) {
            n = 1;
        }
        break;
    }
    default:
        return MQTT_ERR_INVALID;
    }
    if (n > MQTT_VARINT_MAX) return MQTT_ERR_INVALID;
    pl->rem = (uint32_t)n;
    return 0;
}

static uint8_t *encode_connect(uint8_t *d, uint8_t version, const mqtt_connect_t *c,
                               const plan_t *pl)
{
    static const mqtt_str_t mqisdp = {(const uint8_t *)"MQIsdp", 6};
    static const mqtt_str_t mqtt = {(const uint8_t *)"MQTT", 4};
    d = mqtt__wrstr(d, version == MQTT_V31 ? mqisdp : mqtt);
    *d++ = version;
    uint8_t flags = (uint8_t)((c->clean_start ? 0x02 : 0) | (c->has_password ? 0x40 : 0) |
                              (c->has_username ? 0x80 : 0));
    if (c->will) flags |= (uint8_t)(0x04 | (c->will_qos << 3) | (c->will_retain ? 0x20 : 0));
    *d++ = flags;
    d = mqtt__wr16(d, c->keepalive);
    if (version == MQTT_V5) d = mqtt__props_write(d, &c->props, pl->plen);
    d = mqtt__wrstr(d, c->client_id);
    if (c->will) {
        if (version == MQTT_V5) d = mqtt__props_write(d, &c->will_props, pl->wlen);
        d = mqtt__wrstr(d, c->will_topic);
        d = mqtt__wrstr(d, c->will_payload);
    }
    if (c->has_username) d = mqtt__wrstr(d, c->username);
    if (c->has_password) d = mqtt__wrstr(d, c->password);
    return d;
}

static uint8_t *encode_body(uint8_t *d, uint8_t version, const mqtt_packet_t *pkt, const plan_t *pl)
{
    bool v5 = version == MQTT_V5;
    switch (pkt->type) {
    case MQTT_CONNECT:
        return encode_connect(d, version, &pkt->u.connect, pl);
    case MQTT_CONNACK:
        *d++ = pkt->u.connack.session_present ? 1 : 0;
        *d++ = pkt->u.connack.reason;
        if (v5) d = mqtt__props_write(d, &pkt->u.connack.props, pl->plen);
        return d;
    case MQTT_PUBLISH: {
        const mqtt_publish_t *p = &pkt->u.publish;
        d = mqtt__wrstr(d, p->topic);
        if (p->qos) d = mqtt__wr16(d, p->packet_id);
        if (v5) d = mqtt__props_write(d, &p->props, pl->plen);
        if (p->payload.len) memcpy(d, p->payload.p, p->payload.len);
        return d + p->payload.len;
    }
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: {
        const mqtt_ack_t *a = &pkt->u.ack;
        d = mqtt__wr16(d, a->packet_id);
        if (pl->rem > 2) *d++ = a->reason;
        if (pl->rem > 3) d = mqtt__props_write(d, &a->props, pl->plen);
        return d;
    }
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: {
        const mqtt_subscribe_t *s = &pkt->u.sub;
        bool opts = pkt->type == MQTT_SUBSCRIBE;
        mqtt_sub_entry_t e;
        uint32_t off = 0, i = 0;
        d = mqtt__wr16(d, s->packet_id);
        if (v5) d = mqtt__props_write(d, &s->props, pl->plen);
        while (encode_sub_entry(s, opts, i++, &off, &e)) {
            d = mqtt__wrstr(d, e.filter);
            if (opts) /* before 5.0 only the QoS bits exist */
                *d++ = v5 ? e.options : MQTT_SUBOPT_QOS(e.options);
        }
        return d;
    }
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: {
        const mqtt_suback_t *s = &pkt->u.suback;
        d = mqtt__wr16(d, s->packet_id);
        if (v5) d = mqtt__props_write(d, &s->props, pl->plen);
        if ((v5 || pkt->type == MQTT_SUBACK) && s->reasons.len) {
            memcpy(d, s->reasons.p, s->reasons.len);
            d += s->reasons.len;
        }
        return d;
    }
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        if (pl->rem > 0) *d++ = pkt->u.reason.reason;
        if (pl->rem > 1) d = mqtt__props_write(d, &pkt->u.reason.props, pl->plen);
        return d;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        break;
    }
    return d;
}

static uint8_t encode_first_byte(const mqtt_packet_t *pkt)
{
    uint8_t b = (uint8_t)(pkt->type << 4);
    switch (pkt->type) {
    case MQTT_PUBLISH:
        return (uint8_t)(b | (pkt->u.publish.dup ? 0x08 : 0) | (pkt->u.publish.qos << 1) |
                         (pkt->u.publish.retain ? 0x01 : 0));
    case MQTT_PUBREL:
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return b | 0x02;
    default:
        return b;
    }
}

int mqtt_encode_size(uint8_t version, const mqtt_packet_t *pkt)
{
    plan_t pl;
    TRY_PLAN(encode_plan(version, pkt, &pl));
    return (int)(1 + mqtt__varsize(pl.rem) + pl.rem);
}

int mqtt_encode(uint8_t *dst, size_t cap, uint8_t version, const mqtt_packet_t *pkt)
{
    plan_t pl;
    TRY_PLAN(encode_plan(version, pkt, &pl));
    size_t total = 1 + mqtt__varsize(pl.rem) + pl.rem;
    if (total > cap) return MQTT_ERR_NOSPACE;
    uint8_t *d = dst;
    *d++ = encode_first_byte(pkt);
    d = mqtt__wrvar(d, pl.rem);
    d = encode_body(d, version, pkt, &pl);
    return (int)(d - dst);
}

int mqtt_varint_encode(uint8_t *dst, uint32_t value)
{
    if (value > MQTT_VARINT_MAX) return MQTT_ERR_INVALID;
    return (int)(mqtt__wrvar(dst, value) - dst);
}

int mqtt_varint_size(uint32_t value)
{
    return value > MQTT_VARINT_MAX ? MQTT_ERR_INVALID : (int)mqtt__varsize(value);
}

bool mqtt_sub_next(const mqtt_subscribe_t *s, bool with_options, uint32_t *off,
                   mqtt_sub_entry_t *out)
{
    uint32_t need = with_options ? 3 : 2;
    if (*off >= s->list.len || s->list.len - *off < need) return false;
    const uint8_t *p = s->list.p + *off;
    uint32_t flen = mqtt__rd16(p);
    if (s->list.len - *off - need < flen) return false;
    out->filter.p = p + 2;
    out->filter.len = flen;
    out->options = with_options ? p[2 + flen] : 0;
    *off += need + flen;
    return true;
}
