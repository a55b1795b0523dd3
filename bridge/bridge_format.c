/*
 * bridge_format.c - the Kafka record built from an MQTT message: "raw"
 * (payload as is, metadata in headers) or "json" (a versioned envelope),
 * both described in docs/KAFKA.md, and the blob that carries a record
 * through the producer, the spool and the quarantine.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"

/* ---- MQTT 5 properties of a PUBLISH ---- */
typedef struct pprops {
    bool has_pf, has_exp;
    uint8_t pf;
    uint32_t exp;
    mqtt_str_t ctype, rtopic, corr;
    mqtt_str_t user; /* the well-formed part of the list, iterated for 0x26 */
} pprops_t;

/* Walk the list with the codec; stop quietly at anything malformed or
 * unknown (the broker already validated it; a bridge never refuses a
 * message for it). */
static void props_parse(const uint8_t *p, uint32_t len, pprops_t *pp)
{
    memset(pp, 0, sizeof(*pp));
    uint32_t off = 0;
    mqtt_prop_t pr;
    while (mqtt_prop_next(p, len, &off, &pr)) {
        switch (pr.id) {
        case MQTT_PROP_PAYLOAD_FORMAT:
            pp->has_pf = true;
            pp->pf = (uint8_t)pr.num;
            break;
        case MQTT_PROP_MESSAGE_EXPIRY:
            pp->has_exp = true;
            pp->exp = pr.num;
            break;
        case MQTT_PROP_CONTENT_TYPE:
            pp->ctype = pr.str;
            break;
        case MQTT_PROP_RESPONSE_TOPIC:
            pp->rtopic = pr.str;
            break;
        case MQTT_PROP_CORRELATION_DATA:
            pp->corr = pr.str;
            break;
        default: /* user properties: iterated from pp->user */
            break;
        }
    }
    pp->user = (mqtt_str_t){p, off};
}

/* ---- JSON ---- */
static void json_str(store_buf_t *b, const uint8_t *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    store_buf_u8(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        store_buf_raw(b, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            store_buf_raw(b, esc, 2);
        } else
            store_buf_raw(b, esc, 6);
    }
    store_buf_raw(b, s + run, len - run);
    store_buf_u8(b, '"');
}

static void base64_put(store_buf_t *b, const uint8_t *p, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len) v |= p[i + 2];
        char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], i + 1 < len ? tab[(v >> 6) & 63] : '=',
                     i + 2 < len ? tab[v & 63] : '='};
        store_buf_raw(b, o, 4);
    }
}

typedef struct jp {
    const uint8_t *p, *end;
    int depth;
} jp_t;

static void jp_ws(jp_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool jp_value(jp_t *j);

/* The 4 hex digits after "\\u": their value, or -1. */
static long jp_hex4(jp_t *j)
{
    long v = 0;
    for (int i = 0; i < 4; i++, j->p++) {
        if (j->p >= j->end || !*j->p || !strchr("0123456789abcdefABCDEF", *j->p)) return -1;
        uint8_t c = *j->p;
        v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

/* A \\u escape (the "u" read): a UTF-16 surrogate must come in a pair, high
 * then low, as cJSON (and every strict consumer) requires; RFC 8259 allows a
 * lone one only in its grammar, and the envelope must parse everywhere. */
static bool jp_unicode(jp_t *j)
{
    long v = jp_hex4(j);
    if (v < 0 || (v >= 0xDC00 && v <= 0xDFFF)) return false;
    if (v < 0xD800 || v > 0xDBFF) return true;
    if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') return false;
    j->p += 2;
    long lo = jp_hex4(j);
    return lo >= 0xDC00 && lo <= 0xDFFF;
}

static bool jp_string(jp_t *j)
{
    if (j->p >= j->end || *j->p != '"') return false;
    j->p++;
    while (j->p < j->end) {
        uint8_t c = *j->p++;
        if (c == '"') return true;
        if (c < 0x20) return false;
        if (c == '\\') {
            if (j->p >= j->end) return false;
            c = *j->p++;
            if (c == 'u') {
                if (!jp_unicode(j)) return false;
            } else if (!strchr("\"\\/bfnrt", c) || !c)
                return false;
        }
    }
    return false;
}

static bool jp_digits(jp_t *j)
{
    const uint8_t *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s;
}

static bool jp_number(jp_t *j)
{
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!jp_digits(j))
        return false;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!jp_digits(j)) return false;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (!jp_digits(j)) return false;
    }
    return true;
}

static bool jp_lit(jp_t *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n)) return false;
    j->p += n;
    return true;
}

static bool jp_seq(jp_t *j, char close, bool object)
{
    j->p++;
    if (++j->depth > 64) return false;
    jp_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return true;
    }
    for (;;) {
        jp_ws(j);
        if (object) {
            if (!jp_string(j)) return false;
            jp_ws(j);
            if (j->p >= j->end || *j->p++ != ':') return false;
        }
        if (!jp_value(j)) return false;
        jp_ws(j);
        if (j->p >= j->end) return false;
        char c = (char)*j->p++;
        if (c == close) break;
        if (c != ',') return false;
    }
    j->depth--;
    return true;
}

static bool jp_value(jp_t *j)
{
    jp_ws(j);
    if (j->p >= j->end) return false;
    switch (*j->p) {
    case '{':
        return jp_seq(j, '}', true);
    case '[':
        return jp_seq(j, ']', false);
    case '"':
        return jp_string(j);
    case 't':
        return jp_lit(j, "true");
    case 'f':
        return jp_lit(j, "false");
    case 'n':
        return jp_lit(j, "null");
    default:
        return jp_number(j);
    }
}

bool bridge_json_valid(const uint8_t *p, size_t len)
{
    if (!mqtt_utf8_valid(p, len)) return false;
    jp_t j = {p, p + len, 0};
    if (!jp_value(&j)) return false;
    jp_ws(&j);
    return j.p == j.end;
}

/* ---- blobs ---- */
static void hdr_put(store_buf_t *b, uint16_t *n, const char *name, const void *v, size_t vlen)
{
    size_t nl = strlen(name);
    store_buf_u16(b, (uint16_t)nl);
    store_buf_raw(b, name, nl);
    store_buf_u32(b, (uint32_t)vlen);
    store_buf_raw(b, v, vlen);
    (*n)++;
}

static void envelope(const bridge_msg_t *m, const pprops_t *pp, int64_t ts, store_buf_t *b)
{
    char num[32];
    store_buf_cstr(b, "{\"v\":1,\"topic\":");
    json_str(b, (const uint8_t *)m->topic, m->topic_len);
    snprintf(num, sizeof(num), ",\"qos\":%u", m->qos);
    store_buf_cstr(b, num);
    store_buf_cstr(b, m->retain ? ",\"retain\":true,\"clientid\":"
                                : ",\"retain\":false,\"clientid\":");
    json_str(b, (const uint8_t *)(m->clientid ? m->clientid : ""),
             m->clientid ? strlen(m->clientid) : 0);
    store_buf_cstr(b, ",\"username\":");
    if (m->username)
        json_str(b, (const uint8_t *)m->username, strlen(m->username));
    else
        store_buf_cstr(b, "null");
    snprintf(num, sizeof(num), ",\"timestamp\":%lld", (long long)ts);
    store_buf_cstr(b, num);
    store_buf_cstr(b, ",\"properties\":{");
    const char *sep = "";
    if (pp->has_pf) {
        snprintf(num, sizeof(num), "\"payload_format\":%u", pp->pf);
        store_buf_cstr(b, num);
        sep = ",";
    }
    if (pp->has_exp) {
        snprintf(num, sizeof(num), "%s\"message_expiry\":%u", sep, pp->exp);
        store_buf_cstr(b, num);
        sep = ",";
    }
    if (pp->ctype.p) {
        store_buf_cstr(b, sep);
        store_buf_cstr(b, "\"content_type\":");
        json_str(b, pp->ctype.p, pp->ctype.len);
        sep = ",";
    }
    if (pp->rtopic.p) {
        store_buf_cstr(b, sep);
        store_buf_cstr(b, "\"response_topic\":");
        json_str(b, pp->rtopic.p, pp->rtopic.len);
        sep = ",";
    }
    if (pp->corr.p) {
        store_buf_cstr(b, sep);
        store_buf_cstr(b, "\"correlation_data\":\"");
        base64_put(b, pp->corr.p, pp->corr.len);
        store_buf_u8(b, '"');
        sep = ",";
    }
    uint32_t off = 0;
    mqtt_str_t k, v;
    bool first = true;
    while (mqtt_user_prop_next(&pp->user, &off, &k, &v)) {
        store_buf_cstr(b, first ? sep : ",");
        if (first) store_buf_cstr(b, "\"user\":[");
        first = false;
        store_buf_u8(b, '[');
        json_str(b, k.p, k.len);
        store_buf_u8(b, ',');
        json_str(b, v.p, v.len);
        store_buf_u8(b, ']');
    }
    if (!first) store_buf_u8(b, ']');
    store_buf_u8(b, '}');
    if (bridge_json_valid(m->payload, m->payload_len)) {
        store_buf_cstr(b, ",\"payload\":");
        store_buf_raw(b, m->payload, m->payload_len);
    } else {
        store_buf_cstr(b, ",\"payload_base64\":\"");
        base64_put(b, m->payload, m->payload_len);
        store_buf_u8(b, '"');
    }
    store_buf_u8(b, '}');
}

void bridge_blob_build(const rule_t *r, const bridge_msg_t *m, const blob_ids_t *ids, int64_t ts_ms,
                       store_buf_t *out)
{
    const char *node = ids->node ? ids->node : "";
    pprops_t pp;
    props_parse(m->props, m->props ? m->props_len : 0, &pp);
    store_buf_u8(out, BLOB_VERSION);
    store_buf_u8(out, 0);
    store_buf_u64(out, (uint64_t)ts_ms);

    size_t tat = out->len;
    store_buf_u16(out, 0);
    bridge_tmpl_expand_mqtt(&r->topic, m, node, out);
    size_t tl = out->len - tat - 2;
    store_buf_u8(out, 0);
    size_t kat = out->len;
    store_buf_u16(out, 0);
    bridge_tmpl_expand_mqtt(&r->key, m, node, out);
    size_t kl = out->len - kat - 2;
    if (out->oom || tl > 0xffff || kl > 0xffff) {
        out->oom = true;
        return;
    }
    out->p[tat] = (uint8_t)(tl >> 8);
    out->p[tat + 1] = (uint8_t)tl;
    out->p[kat] = (uint8_t)(kl >> 8);
    out->p[kat + 1] = (uint8_t)kl;

    store_buf_t h;
    store_buf_init(&h);
    uint16_t n = 0;
    hdr_put(&h, &n, "sluice.node", node, strlen(node));
    if (ids->cluster && *ids->cluster)
        hdr_put(&h, &n, "sluice.cluster", ids->cluster, strlen(ids->cluster));
    if (ids->inc && *ids->inc) hdr_put(&h, &n, "sluice.inc", ids->inc, strlen(ids->inc));
    if (r->cfg->format == CFG_FORMAT_RAW) {
        char q[4];
        snprintf(q, sizeof(q), "%u", m->qos);
        hdr_put(&h, &n, "mqtt.topic", m->topic, m->topic_len);
        hdr_put(&h, &n, "mqtt.qos", q, strlen(q));
        hdr_put(&h, &n, "mqtt.retain", m->retain ? "true" : "false", m->retain ? 4 : 5);
        hdr_put(&h, &n, "mqtt.clientid", m->clientid ? m->clientid : "",
                m->clientid ? strlen(m->clientid) : 0);
        if (m->username) hdr_put(&h, &n, "mqtt.username", m->username, strlen(m->username));
        if (pp.ctype.p) hdr_put(&h, &n, "mqtt.content_type", pp.ctype.p, pp.ctype.len);
        if (pp.corr.p) hdr_put(&h, &n, "mqtt.correlation_data", pp.corr.p, pp.corr.len);
        if (pp.rtopic.p) hdr_put(&h, &n, "mqtt.response_topic", pp.rtopic.p, pp.rtopic.len);
        uint32_t off = 0;
        mqtt_str_t k, v;
        /* Header count is 16 bits in the blob; MQTT allows more pairs. */
        while (n < 0xff00 && mqtt_user_prop_next(&pp.user, &off, &k, &v)) {
            store_buf_u16(&h, (uint16_t)k.len);
            store_buf_raw(&h, k.p, k.len);
            store_buf_u32(&h, v.len);
            store_buf_raw(&h, v.p, v.len);
            n++;
        }
    }
    for (size_t i = 0; i < r->cfg->n_headers; i++) {
        store_buf_t v;
        store_buf_init(&v);
        bridge_tmpl_expand_mqtt(&r->hdr_vals[i], m, node, &v);
        hdr_put(&h, &n, r->cfg->headers[i].key, v.p, v.len);
        if (v.oom) h.oom = true;
        store_buf_free(&v);
    }
    if (h.oom) out->oom = true;
    store_buf_u16(out, n);
    store_buf_raw(out, h.p, h.len);
    store_buf_free(&h);

    if (r->cfg->format == CFG_FORMAT_RAW) {
        store_buf_u32(out, m->payload_len);
        store_buf_raw(out, m->payload, m->payload_len);
    } else {
        size_t at = out->len;
        store_buf_u32(out, 0);
        envelope(m, &pp, ts_ms, out);
        if (out->oom) return;
        uint32_t vl = (uint32_t)(out->len - at - 4);
        uint8_t x[4] = {(uint8_t)(vl >> 24), (uint8_t)(vl >> 16), (uint8_t)(vl >> 8), (uint8_t)vl};
        memcpy(out->p + at, x, 4);
    }
}

static uint32_t be(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int bridge_blob_parse(const uint8_t *p, size_t len, blob_view_t *v)
{
    size_t off = 0;
#define NEED(n)                                                                                    \
    do {                                                                                           \
        if (len - off < (size_t)(n)) return -1;                                                    \
    } while (0)
    NEED(12);
    if (p[0] != BLOB_VERSION) return -1;
    v->flags = p[1];
    v->ts = (int64_t)((uint64_t)be(p + 2, 4) << 32 | be(p + 6, 4));
    off = 10;
    NEED(2);
    v->topic_len = (uint16_t)be(p + off, 2);
    off += 2;
    NEED(v->topic_len + 1);
    v->topic = (const char *)p + off;
    if (p[off + v->topic_len] != 0) return -1;
    off += v->topic_len + 1u;
    NEED(2);
    v->key_len = (uint16_t)be(p + off, 2);
    off += 2;
    NEED(v->key_len);
    v->key = p + off;
    off += v->key_len;
    NEED(2);
    v->n_hdrs = (uint16_t)be(p + off, 2);
    off += 2;
    v->hdrs = p + off;
    for (uint16_t i = 0; i < v->n_hdrs; i++) {
        NEED(2);
        uint32_t nl = be(p + off, 2);
        off += 2;
        NEED(nl); /* before adding it: off past len would wrap NEED's len - off */
        off += nl;
        NEED(4);
        off += 4;
        uint32_t vl = be(p + off - 4, 4);
        NEED(vl);
        off += vl;
    }
    NEED(4);
    v->value_len = be(p + off, 4);
    off += 4;
    NEED(v->value_len);
    v->value = p + off;
    return off + v->value_len == len ? 0 : -1;
#undef NEED
}

/* Headers of a parsed (validated) blob: *off and *i start at 0. */
bool bridge_blob_next_hdr(const blob_view_t *v, uint32_t *off, uint16_t *i, blob_hdr_t *h)
{
    if (*i >= v->n_hdrs) return false;
    const uint8_t *p = v->hdrs + *off;
    h->nlen = (uint16_t)be(p, 2);
    h->name = (const char *)p + 2;
    h->vlen = be(p + 2 + h->nlen, 4);
    h->val = p + 6 + h->nlen;
    *off += 6u + h->nlen + h->vlen;
    (*i)++;
    return true;
}
