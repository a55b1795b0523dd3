/*
 * msg.c - immutable, refcounted messages and their shared encoded frames.
 *
 * A message is built once per inbound PUBLISH (one allocation holding
 * topic, payload and forwardable properties) and referenced by every
 * delivery. The PUBLISH bytes for each (protocol family, QoS, retain)
 * variant are encoded at most once and shared: the first worker to need a
 * variant builds it and publishes it with a compare-and-swap; a loser frees
 * its copy. Frames are freed with the message. Both come from the
 * allocating worker's pool (pool.c), not malloc.
 */
#include <stdlib.h>
#include <string.h>

#include "msg.h"

brk_msg_t *brk_msg_new(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
                       uint32_t payload_len, uint32_t props_len, uint8_t qos, bool retain)
{
    brk_msg_t *m = brk_pool_alloc(sizeof(*m) + (size_t)topic_len + 1 + payload_len + props_len);
    if (!m) return NULL;
    memset(m, 0, sizeof(*m));
    atomic_init(&m->refs, 1);
    m->qos = qos;
    m->retain = retain;
    m->topic_len = topic_len;
    m->payload_len = payload_len;
    m->props_len = props_len;
    uint8_t *p = m->data;
    memcpy(p, topic, topic_len);
    p[topic_len] = 0;
    m->topic = (const char *)p;
    p += topic_len + 1;
    if (payload_len) memcpy(p, payload, payload_len);
    m->payload = p;
    m->props = p + payload_len;
    return m;
}

void brk_msg_unref(brk_msg_t **mp)
{
    brk_msg_t *m = *mp;
    *mp = NULL;
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) return;
    for (int v = 0; v < 2; v++)
        for (int q = 0; q < 3; q++)
            for (int r = 0; r < 2; r++)
                brk_pool_free(atomic_load(&m->frames[v][q][r]));
    brk_pool_free(m);
}

static uint32_t str_prop(const mqtt_props_t *p, int id, const mqtt_str_t *s)
{
    return (p->present & MQTT_PROP_BIT(id)) ? 3 + s->len : 0;
}

uint32_t brk_msg_props_size(const mqtt_props_t *p)
{
    uint32_t n = 0;
    if (p->present & MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT)) n += 2;
    n += str_prop(p, MQTT_PROP_CONTENT_TYPE, &p->content_type);
    n += str_prop(p, MQTT_PROP_RESPONSE_TOPIC, &p->response_topic);
    n += str_prop(p, MQTT_PROP_CORRELATION_DATA, &p->correlation_data);
    n += mqtt_user_props_size(p);
    return n;
}

static uint8_t *put_str_prop(uint8_t *d, const mqtt_props_t *p, int id, const mqtt_str_t *s)
{
    if (!(p->present & MQTT_PROP_BIT(id))) return d;
    *d++ = (uint8_t)id;
    *d++ = (uint8_t)(s->len >> 8);
    *d++ = (uint8_t)s->len;
    memcpy(d, s->p, s->len);
    return d + s->len;
}

void brk_msg_props_write(const mqtt_props_t *p, uint8_t *d, uint32_t len)
{
    uint8_t *end = d + len;
    if (p->present & MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT)) {
        *d++ = MQTT_PROP_PAYLOAD_FORMAT;
        *d++ = p->payload_format;
    }
    d = put_str_prop(d, p, MQTT_PROP_CONTENT_TYPE, &p->content_type);
    d = put_str_prop(d, p, MQTT_PROP_RESPONSE_TOPIC, &p->response_topic);
    d = put_str_prop(d, p, MQTT_PROP_CORRELATION_DATA, &p->correlation_data);
    if (d < end) mqtt_user_props_copy(p, d, (size_t)(end - d));
}

/* Length of the MQTT 5 property section (without its length varint). */
static uint32_t props_section(const brk_msg_t *m, const uint32_t *sub_ids, uint32_t n_sub_ids,
                              uint32_t expiry_left)
{
    uint32_t n = m->props_len;
    if (m->expire_at_ms) n += 5;
    (void)expiry_left;
    for (uint32_t i = 0; i < n_sub_ids; i++)
        n += 1 + (uint32_t)mqtt_varint_size(sub_ids[i]);
    return n;
}

/* Remaining length of the PUBLISH (everything after the fixed header). */
static uint64_t remaining(const brk_msg_t *m, uint8_t version, uint8_t qos, const uint32_t *sub_ids,
                          uint32_t n_sub_ids, uint32_t expiry_left)
{
    uint64_t rem = 2u + (uint64_t)m->topic_len + (qos ? 2u : 0u) + m->payload_len;
    if (version == MQTT_V5) {
        uint32_t pl = props_section(m, sub_ids, n_sub_ids, expiry_left);
        rem += (uint64_t)mqtt_varint_size(pl) + pl;
    }
    return rem;
}

/* The property section's content: what props_section() counted. */
static uint8_t *put_props(uint8_t *d, const brk_msg_t *m, const uint32_t *sub_ids,
                          uint32_t n_sub_ids, uint32_t expiry_left)
{
    if (m->expire_at_ms) {
        *d++ = MQTT_PROP_MESSAGE_EXPIRY;
        *d++ = (uint8_t)(expiry_left >> 24);
        *d++ = (uint8_t)(expiry_left >> 16);
        *d++ = (uint8_t)(expiry_left >> 8);
        *d++ = (uint8_t)expiry_left;
    }
    for (uint32_t i = 0; i < n_sub_ids; i++) {
        *d++ = MQTT_PROP_SUBSCRIPTION_ID;
        d += mqtt_varint_encode(d, sub_ids[i]);
    }
    memcpy(d, m->props, m->props_len);
    return d + m->props_len;
}

int brk_msg_encode_size(brk_msg_t *m, uint8_t version, uint8_t qos, bool retain,
                        const uint32_t *sub_ids, uint32_t n_sub_ids, uint32_t expiry_left)
{
    (void)retain;
    uint64_t rem = remaining(m, version, qos, sub_ids, n_sub_ids, expiry_left);
    if (rem > 268435455u) return MQTT_ERR_INVALID;
    return 1 + mqtt_varint_size((uint32_t)rem) + (int)rem;
}

int brk_msg_encode(brk_msg_t *m, uint8_t version, uint8_t qos, bool retain, bool dup, uint16_t pid,
                   const uint32_t *sub_ids, uint32_t n_sub_ids, uint32_t expiry_left, uint8_t *dst,
                   size_t cap)
{
    int total = brk_msg_encode_size(m, version, qos, retain, sub_ids, n_sub_ids, expiry_left);
    if (total < 0) return total;
    if ((size_t)total > cap) return MQTT_ERR_NOSPACE;
    uint8_t *d = dst;
    *d++ = (uint8_t)((MQTT_PUBLISH << 4) | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0));
    d += mqtt_varint_encode(d,
                            (uint32_t)remaining(m, version, qos, sub_ids, n_sub_ids, expiry_left));
    *d++ = (uint8_t)(m->topic_len >> 8);
    *d++ = (uint8_t)m->topic_len;
    memcpy(d, m->topic, m->topic_len);
    d += m->topic_len;
    if (qos) {
        *d++ = (uint8_t)(pid >> 8);
        *d++ = (uint8_t)pid;
    }
    if (version == MQTT_V5) {
        uint32_t pl = props_section(m, sub_ids, n_sub_ids, expiry_left);
        d += mqtt_varint_encode(d, pl);
        d = put_props(d, m, sub_ids, n_sub_ids, expiry_left);
    }
    if (m->payload_len) memcpy(d, m->payload, m->payload_len);
    d += m->payload_len;
    return (int)(d - dst);
}

/* MQTT 5 only: the same PUBLISH carrying Topic Alias `alias`, with the
 * topic name (the alias is being set) or an empty one (it is being used). */
static uint64_t alias_remaining(const brk_msg_t *m, uint8_t qos, const uint32_t *sub_ids,
                                uint32_t n_sub_ids, uint32_t expiry_left, bool send_topic)
{
    uint32_t pl = props_section(m, sub_ids, n_sub_ids, expiry_left) + 3;
    return 2u + (send_topic ? (uint64_t)m->topic_len : 0u) + (qos ? 2u : 0u) + m->payload_len +
           (uint64_t)mqtt_varint_size(pl) + pl;
}

int brk_msg_encode_alias_size(brk_msg_t *m, uint8_t qos, const uint32_t *sub_ids,
                              uint32_t n_sub_ids, uint32_t expiry_left, bool send_topic)
{
    uint64_t rem = alias_remaining(m, qos, sub_ids, n_sub_ids, expiry_left, send_topic);
    if (rem > 268435455u) return MQTT_ERR_INVALID;
    return 1 + mqtt_varint_size((uint32_t)rem) + (int)rem;
}

int brk_msg_encode_alias(brk_msg_t *m, uint8_t qos, bool retain, bool dup, uint16_t pid,
                         const uint32_t *sub_ids, uint32_t n_sub_ids, uint32_t expiry_left,
                         uint16_t alias, bool send_topic, uint8_t *dst, size_t cap)
{
    int total = brk_msg_encode_alias_size(m, qos, sub_ids, n_sub_ids, expiry_left, send_topic);
    if (total < 0) return total;
    if ((size_t)total > cap) return MQTT_ERR_NOSPACE;
    uint8_t *d = dst;
    uint16_t tl = send_topic ? m->topic_len : 0;
    *d++ = (uint8_t)((MQTT_PUBLISH << 4) | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0));
    d += mqtt_varint_encode(
        d, (uint32_t)alias_remaining(m, qos, sub_ids, n_sub_ids, expiry_left, send_topic));
    *d++ = (uint8_t)(tl >> 8);
    *d++ = (uint8_t)tl;
    memcpy(d, m->topic, tl);
    d += tl;
    if (qos) {
        *d++ = (uint8_t)(pid >> 8);
        *d++ = (uint8_t)pid;
    }
    d += mqtt_varint_encode(d, props_section(m, sub_ids, n_sub_ids, expiry_left) + 3);
    *d++ = MQTT_PROP_TOPIC_ALIAS;
    *d++ = (uint8_t)(alias >> 8);
    *d++ = (uint8_t)alias;
    d = put_props(d, m, sub_ids, n_sub_ids, expiry_left);
    if (m->payload_len) memcpy(d, m->payload, m->payload_len);
    d += m->payload_len;
    return (int)(d - dst);
}

const brk_frame_t *brk_msg_frame(brk_msg_t *m, uint8_t version, uint8_t qos, bool retain)
{
    int v5 = version == MQTT_V5;
    _Atomic(brk_frame_t *) *slot = &m->frames[v5][qos][retain ? 1 : 0];
    brk_frame_t *f = atomic_load_explicit(slot, memory_order_acquire);
    if (f) return f;
    int n = brk_msg_encode_size(m, version, qos, retain, NULL, 0, 0);
    if (n < 0) return NULL;
    f = brk_pool_alloc(sizeof(*f) + (size_t)n);
    if (!f) return NULL;
    f->len = (uint32_t)brk_msg_encode(m, version, qos, retain, false, 0, NULL, 0, 0, f->bytes,
                                      (size_t)n);
    /* pid follows the fixed header and the topic */
    f->pid_off = 1u + (uint32_t)mqtt_varint_size((uint32_t)remaining(m, version, qos, NULL, 0, 0)) +
                 2u + m->topic_len;
    brk_frame_t *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(slot, &expected, f, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        brk_pool_free(f);
        return expected;
    }
    return f;
}

int brk_subids_set(brk_subids_t *x, uint32_t *n, const uint32_t *ids, uint32_t count)
{
    *n = 0;
    uint32_t *dst = x->v;
    if (count > BRK_SUBIDS_INLINE && !(dst = x->heap = malloc(count * sizeof(*ids)))) return -1;
    if (count) memcpy(dst, ids, count * sizeof(*ids));
    *n = count;
    return 0;
}

void brk_subids_free(brk_subids_t *x, uint32_t *n)
{
    if (*n > BRK_SUBIDS_INLINE) free(x->heap);
    *n = 0;
}
