/*
 * mqtt_internal.h - helpers shared by the codec's own .c files. Not part of
 * the public API and not on the public include path (codec/include/ is):
 * nothing outside codec/ includes it.
 */
#ifndef SLUICE_MQTT_INTERNAL_H
#define SLUICE_MQTT_INTERNAL_H

#include "mqtt.h"

#include <string.h>

#define MQTT_VARINT_MAX 268435455u
#define MQTT_STR_MAX 65535u

/* Property value types (MQTT 5 section 2.2.2.2). */
enum {
    MQTT_PT_NONE = 0, /* not a property identifier */
    MQTT_PT_BYTE,
    MQTT_PT_U16,
    MQTT_PT_U32,
    MQTT_PT_VARINT,
    MQTT_PT_STR,  /* UTF-8 string */
    MQTT_PT_BIN,  /* binary data */
    MQTT_PT_PAIR, /* UTF-8 string pair */
};

/* Which properties may appear in a packet of `type` (will properties:
 * mqtt__will_props_allowed). */
uint64_t mqtt__props_allowed(mqtt_type_t type);
#define MQTT_PROPS_WILL                                                                            \
    (MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) | MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY) |           \
     MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) | MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |             \
     MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA) | MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY) |             \
     MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY))

/* Parse the property list p[0..len) (the bytes after the property length)
 * into *out (zeroed by the caller). `many_sub_ids` allows repeated
 * Subscription Identifiers (PUBLISH). Returns 0 or a negative mqtt_err_t. */
int mqtt__props_parse(const uint8_t *p, uint32_t len, uint64_t allowed, bool many_sub_ids,
                      mqtt_props_t *out);

/* Length of the property list of *pr (without its length prefix), or
 * MQTT_ERR_INVALID when a property cannot be encoded or is not in `allowed`. */
int64_t mqtt__props_size(const mqtt_props_t *pr, uint64_t allowed);
/* Write the property list (length prefix included, plen = list length). */
uint8_t *mqtt__props_write(uint8_t *d, const mqtt_props_t *pr, uint32_t plen);

/* Length of the UTF-8 sequence at p[0..len) if it is one well-formed code
 * point other than U+0000, else 0. */
size_t mqtt__utf8_seq(const uint8_t *p, size_t len);
/* Topic name check without the length rule: 0, MQTT_ERR_BAD_UTF8 or
 * MQTT_ERR_BAD_TOPIC (wildcard). One pass. */
int mqtt__topic_check(const uint8_t *p, size_t len);

static inline uint16_t mqtt__rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t mqtt__rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint8_t *mqtt__wr16(uint8_t *d, uint16_t v)
{
    d[0] = (uint8_t)(v >> 8);
    d[1] = (uint8_t)v;
    return d + 2;
}

static inline uint8_t *mqtt__wr32(uint8_t *d, uint32_t v)
{
    d[0] = (uint8_t)(v >> 24);
    d[1] = (uint8_t)(v >> 16);
    d[2] = (uint8_t)(v >> 8);
    d[3] = (uint8_t)v;
    return d + 4;
}

static inline uint8_t *mqtt__wrvar(uint8_t *d, uint32_t v)
{
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        *d++ = v ? (uint8_t)(b | 0x80) : b;
    } while (v);
    return d;
}

static inline uint32_t mqtt__varsize(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

/* Write a two-byte length prefixed string or binary field. */
static inline uint8_t *mqtt__wrstr(uint8_t *d, mqtt_str_t s)
{
    d = mqtt__wr16(d, (uint16_t)s.len);
    if (s.len) memcpy(d, s.p, s.len);
    return d + s.len;
}

#endif
