/*
 * msg.c - immutable, refcounted messages and their shared encoded frames.
 *
 * A message is built once per inbound PUBLISH (one allocation holding
 * topic, payload and forwardable properties) and referenced by every
 * delivery. The PUBLISH bytes for each (protocol family, QoS, retain)
 * variant are encoded at most once and shared: the first worker to need a
 * variant builds it and publishes it with a compare-and-swap; a loser frees
 * its copy. Frames are freed with the message. Both come from the
 * allocating worker's pool (pool.c), not malloc. The bytes themselves are
 * written by the codec (mqtt_encode_publish()); only the choice of parts,
 * the frame cache and the packet id offset to patch live here.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "msg.h"

_Atomic uint32_t brk_msg_epoch;

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
    m->epoch = atomic_load_explicit(&brk_msg_epoch, memory_order_acquire);
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

brk_msg_t *brk_msg_copy(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
                        uint32_t payload_len, const uint8_t *props, uint32_t props_len, uint8_t qos,
                        bool retain)
{
    brk_msg_t *m = brk_msg_new(topic, topic_len, payload, payload_len, props_len, qos, retain);
    if (m && props_len) memcpy((uint8_t *)m->props, props, props_len);
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

/* The parts of m's PUBLISH for (version, qos, retain) with these
 * per-delivery properties; dup clear, packet id 0 (the caller sets them).
 * The message expiry interval is written whenever the message has one. */
static mqtt_publish_parts_t msg_parts(const brk_msg_t *m, uint8_t version, uint8_t qos, bool retain,
                                      const uint32_t *sub_ids, uint32_t n_sub_ids,
                                      uint32_t expiry_left)
{
    return (mqtt_publish_parts_t){
        .version = version,
        .qos = qos,
        .retain = retain,
        .topic = {(const uint8_t *)m->topic, m->topic_len},
        .sub_ids = sub_ids,
        .n_sub_ids = n_sub_ids,
        .has_expiry = m->expire_at_ms != 0,
        .expiry = expiry_left,
        .props = {m->props, m->props_len},
        .payload = {m->payload, m->payload_len},
    };
}

int brk_msg_encode_size(brk_msg_t *m, uint8_t version, uint8_t qos, bool retain,
                        const uint32_t *sub_ids, uint32_t n_sub_ids, uint32_t expiry_left)
{
    mqtt_publish_parts_t p = msg_parts(m, version, qos, retain, sub_ids, n_sub_ids, expiry_left);
    return mqtt_encode_publish_size(&p);
}

int brk_msg_encode(brk_msg_t *m, uint8_t version, uint8_t qos, bool retain, bool dup, uint16_t pid,
                   const uint32_t *sub_ids, uint32_t n_sub_ids, uint32_t expiry_left, uint8_t *dst,
                   size_t cap)
{
    mqtt_publish_parts_t p = msg_parts(m, version, qos, retain, sub_ids, n_sub_ids, expiry_left);
    p.dup = dup;
    p.packet_id = pid;
    return mqtt_encode_publish(dst, cap, &p, NULL);
}

/* MQTT 5 only: the same PUBLISH carrying Topic Alias `alias`, with the
 * topic name (the alias is being set) or an empty one (it is being used). */
int brk_msg_encode_alias_size(brk_msg_t *m, uint8_t qos, const uint32_t *sub_ids,
                              uint32_t n_sub_ids, uint32_t expiry_left, bool send_topic)
{
    mqtt_publish_parts_t p = msg_parts(m, MQTT_V5, qos, false, sub_ids, n_sub_ids, expiry_left);
    p.topic_alias = 1; /* any alias takes 3 bytes */
    if (!send_topic) p.topic.len = 0;
    return mqtt_encode_publish_size(&p);
}

int brk_msg_encode_alias(brk_msg_t *m, uint8_t qos, bool retain, bool dup, uint16_t pid,
                         const uint32_t *sub_ids, uint32_t n_sub_ids, uint32_t expiry_left,
                         uint16_t alias, bool send_topic, uint8_t *dst, size_t cap)
{
    mqtt_publish_parts_t p = msg_parts(m, MQTT_V5, qos, retain, sub_ids, n_sub_ids, expiry_left);
    p.dup = dup;
    p.packet_id = pid;
    p.topic_alias = alias;
    if (!send_topic) p.topic.len = 0;
    return mqtt_encode_publish(dst, cap, &p, NULL);
}

const brk_frame_t *brk_msg_frame(brk_msg_t *m, uint8_t version, uint8_t qos, bool retain)
{
    int v5 = version == MQTT_V5;
    _Atomic(brk_frame_t *) *slot = &m->frames[v5][qos][retain ? 1 : 0];
    brk_frame_t *f = atomic_load_explicit(slot, memory_order_acquire);
    if (f) return f;
    /* No per-delivery properties: a 5.0 message with an expiry goes out
     * through brk_msg_encode() with the time left, never from a frame. */
    mqtt_publish_parts_t p = msg_parts(m, version, qos, retain, NULL, 0, 0);
    int n = mqtt_encode_publish_size(&p);
    if (n < 0) return NULL;
    f = brk_pool_alloc(sizeof(*f) + (size_t)n);
    if (!f) return NULL;
    f->len = (uint32_t)mqtt_encode_publish(f->bytes, (size_t)n, &p, &f->pid_off);
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

/* Base64 (RFC 4648, padded) through OpenSSL; false if malformed. */
bool brk_b64_decode(const char *s, uint8_t **out, uint32_t *len)
{
    size_t n = strlen(s);
    if (n % 4) return false;
    uint8_t *buf = malloc(n / 4 * 3 + 1);
    if (!buf) return false;
    int got = n ? EVP_DecodeBlock(buf, (const uint8_t *)s, (int)n) : 0;
    if (got < 0) {
        free(buf);
        return false;
    }
    if (n && s[n - 1] == '=') got--; /* DecodeBlock counts the padding */
    if (n > 1 && s[n - 2] == '=') got--;
    *out = buf;
    *len = (uint32_t)got;
    return true;
}

char *brk_b64_encode(const uint8_t *p, uint32_t n)
{
    char *out = malloc((size_t)(n + 2) / 3 * 4 + 1);
    if (out) EVP_EncodeBlock((uint8_t *)out, p, (int)n);
    return out;
}
