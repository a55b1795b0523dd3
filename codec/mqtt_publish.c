/*
 * mqtt_publish.c - a PUBLISH assembled from parts, for a server forwarding
 * one stored message to many subscribers: the topic, payload and a block of
 * already encoded properties are copied as they are, and the properties that
 * differ per subscriber (subscription ids, message expiry left, topic alias)
 * are written around them. The whole PUBLISH wire format for that use lives
 * here; mqtt_encode() keeps the struct-driven form for clients and tests.
 */
#include "mqtt_internal.h"

/* Property list length (without its length varint), or above
 * MQTT_VARINT_MAX when it cannot be encoded. */
static uint64_t parts_props_len(const mqtt_publish_parts_t *p)
{
    uint64_t n = p->props.len;
    if (p->topic_alias) n += 3;
    if (p->has_expiry) n += 5;
    for (uint32_t i = 0; i < p->n_sub_ids; i++) {
        uint32_t id = p->sub_ids[i];
        if (id == 0 || id > MQTT_VARINT_MAX) return (uint64_t)MQTT_VARINT_MAX + 1;
        n += 1u + mqtt__varsize(id);
    }
    return n;
}

/* Remaining length and property list length, or MQTT_ERR_INVALID. */
static int parts_plan(const mqtt_publish_parts_t *p, uint32_t *rem, uint32_t *plen)
{
    if (p->qos > 2 || p->topic.len > MQTT_STR_MAX) return MQTT_ERR_INVALID;
    uint64_t n = 2u + (uint64_t)p->topic.len + (p->qos ? 2u : 0u) + p->payload.len;
    uint64_t pl = 0;
    if (p->version == MQTT_V5) {
        if (p->topic.len == 0 && p->topic_alias == 0) return MQTT_ERR_INVALID;
        pl = parts_props_len(p);
        if (pl > MQTT_VARINT_MAX) return MQTT_ERR_INVALID;
        n += mqtt__varsize((uint32_t)pl) + pl;
    } else if (p->topic.len == 0) {
        return MQTT_ERR_INVALID;
    }
    if (n > MQTT_VARINT_MAX) return MQTT_ERR_INVALID;
    *rem = (uint32_t)n;
    *plen = (uint32_t)pl;
    return 0;
}

int mqtt_encode_publish_size(const mqtt_publish_parts_t *p)
{
    uint32_t rem, plen;
    int rc = parts_plan(p, &rem, &plen);
    if (rc < 0) return rc;
    return (int)(1 + mqtt__varsize(rem) + rem);
}

/* The property list: what parts_props_len() counted, in the order topic
 * alias, message expiry, subscription ids, then the caller's block. */
static uint8_t *parts_props_write(uint8_t *d, const mqtt_publish_parts_t *p, uint32_t plen)
{
    d = mqtt__wrvar(d, plen);
    if (p->topic_alias) {
        *d++ = MQTT_PROP_TOPIC_ALIAS;
        d = mqtt__wr16(d, p->topic_alias);
    }
    if (p->has_expiry) {
        *d++ = MQTT_PROP_MESSAGE_EXPIRY;
        d = mqtt__wr32(d, p->expiry);
    }
    for (uint32_t i = 0; i < p->n_sub_ids; i++) {
        *d++ = MQTT_PROP_SUBSCRIPTION_ID;
        d = mqtt__wrvar(d, p->sub_ids[i]);
    }
    if (p->props.len) memcpy(d, p->props.p, p->props.len);
    return d + p->props.len;
}

int mqtt_encode_publish(uint8_t *dst, size_t cap, const mqtt_publish_parts_t *p, uint32_t *pid_off)
{
    uint32_t rem, plen;
    int rc = parts_plan(p, &rem, &plen);
    if (rc < 0) return rc;
    if (1 + mqtt__varsize(rem) + (size_t)rem > cap) return MQTT_ERR_NOSPACE;
    uint8_t *d = dst;
    *d++ = (uint8_t)((MQTT_PUBLISH << 4) | (p->dup ? 0x08 : 0) | (p->qos << 1) |
                     (p->retain ? 0x01 : 0));
    d = mqtt__wrvar(d, rem);
    d = mqtt__wrstr(d, p->topic);
    uint32_t off = (uint32_t)(d - dst);
    if (p->qos) d = mqtt__wr16(d, p->packet_id);
    if (p->version == MQTT_V5) d = parts_props_write(d, p, plen);
    if (p->payload.len) memcpy(d, p->payload.p, p->payload.len);
    d += p->payload.len;
    if (pid_off) *pid_off = p->qos ? off : 0;
    return (int)(d - dst);
}

int mqtt_publish_pid_offset(const uint8_t *buf, size_t len)
{
    uint32_t total;
    if (len < 2 || (buf[0] >> 4) != MQTT_PUBLISH || (buf[0] & 0x06) == 0) return MQTT_ERR_INVALID;
    int hl = mqtt_frame_len(buf, len, 0, &total);
    if (hl <= 0 || total > len || total < (uint32_t)hl + 2) return MQTT_ERR_INVALID;
    uint32_t off = (uint32_t)hl + 2u + mqtt__rd16(buf + hl);
    return off + 2 <= total ? (int)off : MQTT_ERR_INVALID;
}
