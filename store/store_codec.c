/*
 * store_codec.c - keys and values of every record kind. Numbers are
 * big-endian so that keys sort numerically; strings inside values carry a
 * u32 length. docs/STORAGE.md lists the layouts.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

void store_buf_init(store_buf_t *b)
{
    b->p = b->inline_;
    b->len = 0;
    b->cap = sizeof(b->inline_);
    b->oom = false;
}

void store_buf_adopt(store_buf_t *b, uint8_t *heap, size_t cap, size_t len)
{
    b->p = heap;
    b->cap = cap;
    b->len = len;
    b->oom = false;
}

void store_buf_free(store_buf_t *b)
{
    if (b->p != b->inline_) free(b->p);
    store_buf_init(b);
}

static bool sbuf_grow(store_buf_t *b, size_t n)
{
    if (b->oom) return false;
    if (b->len + n <= b->cap) return true;
    size_t cap = b->cap * 2;
    while (cap < b->len + n)
        cap *= 2;
    uint8_t *p = b->p == b->inline_ ? malloc(cap) : realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    if (b->p == b->inline_) memcpy(p, b->inline_, b->len);
    b->p = p;
    b->cap = cap;
    return true;
}

void store_buf_raw(store_buf_t *b, const void *p, size_t n)
{
    if (n == 0 || !sbuf_grow(b, n)) return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void store_buf_cstr(store_buf_t *b, const char *s)
{
    store_buf_raw(b, s, strlen(s));
}

void store_buf_u8(store_buf_t *b, uint8_t v)
{
    store_buf_raw(b, &v, 1);
}

void store_buf_u16(store_buf_t *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    store_buf_raw(b, x, 2);
}

void store_buf_u32(store_buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    store_buf_raw(b, x, 4);
}

void store_buf_u64(store_buf_t *b, uint64_t v)
{
    store_buf_u32(b, (uint32_t)(v >> 32));
    store_buf_u32(b, (uint32_t)v);
}

/* u32 length + bytes */
static void sbuf_str(store_buf_t *b, mqtt_str_t s)
{
    store_buf_u32(b, s.len);
    store_buf_raw(b, s.p, s.len);
}

/* ---- reading ---- */

static const uint8_t *sread_take(sread_t *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint16_t store_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

uint64_t store_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint8_t sread_u8(sread_t *r)
{
    const uint8_t *p = sread_take(r, 1);
    return p ? p[0] : 0;
}

uint32_t store_read_u32(sread_t *r)
{
    const uint8_t *p = sread_take(r, 4);
    return p ? ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3] : 0;
}

static uint64_t sread_u64(sread_t *r)
{
    const uint8_t *p = sread_take(r, 8);
    return p ? store_be64(p) : 0;
}

static mqtt_str_t sread_str(sread_t *r)
{
    mqtt_str_t s = {NULL, 0};
    uint32_t n = store_read_u32(r);
    const uint8_t *p = sread_take(r, n);
    if (p) {
        s.p = p;
        s.len = n;
    }
    return s;
}

/* ---- keys ---- */

bool store_name_ok(const char *s, size_t len)
{
    return s && len > 0 && len <= STORE_NAME_MAX && !memchr(s, 0, len);
}

void store_key_name(store_buf_t *k, char kind, const char *name, size_t len)
{
    store_buf_u8(k, (uint8_t)kind);
    store_buf_u8(k, '/');
    store_buf_raw(k, name, len);
}

void store_key_client(store_buf_t *k, char kind, const char *client, size_t len)
{
    store_key_name(k, kind, client, len);
    store_buf_u8(k, 0);
}

void store_key_num(store_buf_t *k, char kind, uint64_t n)
{
    store_buf_u8(k, (uint8_t)kind);
    store_buf_u8(k, '/');
    store_buf_u64(k, n);
}

/* Split kind/<client>\0<rest>: the client id and what follows the NUL. */
static bool key_split(const uint8_t *k, size_t kl, mqtt_str_t *client, const uint8_t **rest,
                      size_t *restlen)
{
    if (kl < 3) return false;
    const uint8_t *nul = memchr(k + 2, 0, kl - 2);
    if (!nul || nul == k + 2) return false;
    client->p = k + 2;
    client->len = (uint32_t)(nul - (k + 2));
    *rest = nul + 1;
    *restlen = kl - (size_t)(nul + 1 - k);
    return true;
}

static bool key_name(const uint8_t *k, size_t kl, mqtt_str_t *name)
{
    if (kl < 3) return false;
    name->p = k + 2;
    name->len = (uint32_t)(kl - 2);
    return true;
}

/* ---- values ---- */

void store_enc_session(store_buf_t *v, const store_session_t *s)
{
    store_buf_u8(v, s->version);
    store_buf_u32(v, s->expiry_interval);
    store_buf_u64(v, (uint64_t)s->disconnect_time);
    store_buf_u8(v, (uint8_t)((s->has_will ? 1 : 0) | (s->will_retain ? 2 : 0)));
    store_buf_u8(v, s->will_qos);
    store_buf_u32(v, s->will_delay);
    sbuf_str(v, s->will_topic);
    sbuf_str(v, s->will_payload);
    sbuf_str(v, s->will_props);
}

bool store_dec_session(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                       store_session_t *out)
{
    store_session_t s;
    sread_t r = {v, vl, 0, false};
    if (!key_name(k, kl, &s.client_id)) return false;
    s.version = sread_u8(&r);
    s.expiry_interval = store_read_u32(&r);
    s.disconnect_time = (int64_t)sread_u64(&r);
    uint8_t flags = sread_u8(&r);
    s.has_will = flags & 1;
    s.will_retain = (flags & 2) != 0;
    s.will_qos = sread_u8(&r);
    s.will_delay = store_read_u32(&r);
    s.will_topic = sread_str(&r);
    s.will_payload = sread_str(&r);
    s.will_props = sread_str(&r);
    if (r.bad) return false;
    *out = s;
    return true;
}

void store_enc_sub(store_buf_t *v, const store_sub_t *s)
{
    store_buf_u8(v, s->options);
    store_buf_u32(v, s->sub_id);
}

bool store_dec_sub(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, store_sub_t *out)
{
    store_sub_t s;
    sread_t r = {v, vl, 0, false};
    const uint8_t *rest;
    size_t restlen;
    if (!key_split(k, kl, &s.client_id, &rest, &restlen) || restlen == 0) return false;
    s.filter.p = rest;
    s.filter.len = (uint32_t)restlen;
    s.options = sread_u8(&r);
    s.sub_id = store_read_u32(&r);
    if (r.bad) return false;
    *out = s;
    return true;
}

void store_enc_retained(store_buf_t *v, const store_retained_t *m)
{
    store_buf_u8(v, m->qos);
    store_buf_u64(v, (uint64_t)m->expiry_time);
    sbuf_str(v, m->payload);
    sbuf_str(v, m->props);
    sbuf_str(v, m->origin_client);
}

bool store_dec_retained(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                        store_retained_t *out)
{
    store_retained_t m;
    sread_t r = {v, vl, 0, false};
    if (!key_name(k, kl, &m.topic)) return false;
    m.qos = sread_u8(&r);
    m.expiry_time = (int64_t)sread_u64(&r);
    m.payload = sread_str(&r);
    m.props = sread_str(&r);
    m.origin_client = sread_str(&r);
    if (r.bad) return false;
    *out = m;
    return true;
}

void store_enc_msg(store_buf_t *v, const store_msg_t *m)
{
    store_buf_u8(v, m->qos);
    store_buf_u8(v, m->retain ? 1 : 0);
    store_buf_u64(v, (uint64_t)m->expiry_time);
    sbuf_str(v, m->topic);
    sbuf_str(v, m->payload);
    sbuf_str(v, m->props);
}

bool store_dec_msg(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, store_msg_t *out)
{
    store_msg_t m;
    sread_t r = {v, vl, 0, false};
    if (kl != 10) return false;
    m.id = store_be64(k + 2);
    m.qos = sread_u8(&r);
    m.retain = sread_u8(&r) != 0;
    m.expiry_time = (int64_t)sread_u64(&r);
    m.topic = sread_str(&r);
    m.payload = sread_str(&r);
    m.props = sread_str(&r);
    if (r.bad) return false;
    *out = m;
    return true;
}

void store_enc_qref(store_buf_t *v, const store_qref_t *q)
{
    store_buf_u64(v, q->msg_id);
    store_buf_u8(v, q->qos);
}

bool store_dec_qref(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, store_qref_t *out)
{
    store_qref_t q;
    sread_t r = {v, vl, 0, false};
    const uint8_t *rest;
    size_t restlen;
    if (!key_split(k, kl, &q.client_id, &rest, &restlen) || restlen != 8) return false;
    q.seq = store_be64(rest);
    q.msg_id = sread_u64(&r);
    q.qos = sread_u8(&r);
    if (r.bad) return false;
    *out = q;
    return true;
}

void store_enc_inflight(store_buf_t *v, const store_inflight_t *o)
{
    store_buf_u64(v, o->msg_id);
    store_buf_u8(v, o->qos);
    store_buf_u8(v, o->state);
    store_buf_u8(v, o->dup ? 1 : 0);
}

bool store_dec_inflight(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl,
                        store_inflight_t *out)
{
    store_inflight_t o;
    sread_t r = {v, vl, 0, false};
    const uint8_t *rest;
    size_t restlen;
    if (!key_split(k, kl, &o.client_id, &rest, &restlen) || restlen != 2) return false;
    o.packet_id = store_be16(rest);
    o.msg_id = sread_u64(&r);
    o.qos = sread_u8(&r);
    o.state = sread_u8(&r);
    o.dup = sread_u8(&r) != 0;
    if (r.bad) return false;
    *out = o;
    return true;
}

bool store_dec_inbound(const uint8_t *k, size_t kl, store_inbound_t *out)
{
    store_inbound_t in;
    const uint8_t *rest;
    size_t restlen;
    if (!key_split(k, kl, &in.client_id, &rest, &restlen) || restlen != 2) return false;
    in.packet_id = store_be16(rest);
    *out = in;
    return true;
}

bool store_dec_blob(const uint8_t *k, size_t kl, const uint8_t *v, size_t vl, store_blob_t *out)
{
    if (kl != 10) return false;
    out->seq = store_be64(k + 2);
    out->data.p = v;
    out->data.len = (uint32_t)vl;
    return true;
}
