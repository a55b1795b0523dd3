/* Minimal MQTT 3.1.1 / 5.0 client codec: just the packets a load generator
 * sends and receives. Written independently of codec/ on purpose. */
#include <string.h>

#include "bench.h"

#define MQ_MAX_REMAINING (16u * 1024 * 1024)

static size_t put_varint(uint8_t *d, size_t v)
{
    size_t n = 0;
    do {
        uint8_t c = v & 127u;
        v >>= 7;
        if (v) c |= 128u;
        d[n++] = c;
    } while (v);
    return n;
}

static size_t varint_len(size_t v)
{
    return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

/* 0: incomplete, -1: malformed, else bytes used. */
static int get_varint(const uint8_t *b, size_t len, size_t *v)
{
    size_t r = 0;
    for (int i = 0; i < 4; i++) {
        if ((size_t)i >= len) return 0;
        r |= (size_t)(b[i] & 127u) << (7 * i);
        if (!(b[i] & 128u)) {
            *v = r;
            return i + 1;
        }
    }
    return -1;
}

static size_t put_str(uint8_t *d, const char *s, size_t n)
{
    d[0] = (uint8_t)(n >> 8);
    d[1] = (uint8_t)n;
    memcpy(d + 2, s, n);
    return n + 2;
}

size_t mq_connect(uint8_t *d, size_t cap, const char *cid, int keepalive, bool v5, bool persistent,
                  const char *user, const char *pass)
{
    size_t cl = strlen(cid), ul = user ? strlen(user) : 0, wl = pass ? strlen(pass) : 0;
    size_t pl = v5 && persistent ? 5 : 0; /* session expiry interval */
    size_t rl = 10 + (v5 ? 1 + pl : 0) + 2 + cl + (user ? 2 + ul : 0) + (user && pass ? 2 + wl : 0);
    if (cap < 1 + varint_len(rl) + rl) return 0;
    size_t n = 0;
    d[n++] = 0x10;
    n += put_varint(d + n, rl);
    n += put_str(d + n, "MQTT", 4);
    d[n++] = v5 ? 5 : 4;
    d[n++] = (uint8_t)((persistent ? 0x00 : 0x02) | (user ? 0x80 : 0) | (user && pass ? 0x40 : 0));
    d[n++] = (uint8_t)(keepalive >> 8);
    d[n++] = (uint8_t)keepalive;
    if (v5) {
        d[n++] = (uint8_t)pl;
        if (pl) {
            d[n++] = 0x11; /* session expiry: never */
            memset(d + n, 0xFF, 4);
            n += 4;
        }
    }
    n += put_str(d + n, cid, cl);
    if (user) n += put_str(d + n, user, ul);
    if (user && pass) n += put_str(d + n, pass, wl);
    return n;
}

size_t mq_subscribe(uint8_t *d, size_t cap, uint16_t pid, const char *filter, int qos, bool v5)
{
    size_t fl = strlen(filter);
    size_t rl = 2 + (v5 ? 1 : 0) + 2 + fl + 1;
    if (cap < 1 + varint_len(rl) + rl) return 0;
    size_t n = 0;
    d[n++] = 0x82;
    n += put_varint(d + n, rl);
    d[n++] = (uint8_t)(pid >> 8);
    d[n++] = (uint8_t)pid;
    if (v5) d[n++] = 0;
    n += put_str(d + n, filter, fl);
    d[n++] = (uint8_t)qos;
    return n;
}

size_t mq_publish(uint8_t *d, size_t cap, const char *topic, int qos, size_t plen, bool v5,
                  size_t *pid_off, size_t *pay_off)
{
    size_t tl = strlen(topic);
    size_t rl = 2 + tl + (qos ? 2 : 0) + (v5 ? 1 : 0) + plen;
    if (cap < 1 + varint_len(rl) + rl) return 0;
    size_t n = 0;
    d[n++] = (uint8_t)(0x30 | (qos << 1));
    n += put_varint(d + n, rl);
    n += put_str(d + n, topic, tl);
    *pid_off = n;
    if (qos) {
        d[n++] = 0;
        d[n++] = 1;
    }
    if (v5) d[n++] = 0;
    *pay_off = n;
    memset(d + n, 0, plen);
    return n + plen;
}

size_t mq_ack(uint8_t *d, size_t cap, int type, uint16_t pid)
{
    if (cap < 4) return 0;
    d[0] = (uint8_t)(type << 4 | (type == MQ_PUBREL ? 2 : 0));
    d[1] = 2;
    d[2] = (uint8_t)(pid >> 8);
    d[3] = (uint8_t)pid;
    return 4;
}

size_t mq_simple(uint8_t *d, size_t cap, int type)
{
    if (cap < 2) return 0;
    d[0] = (uint8_t)(type << 4);
    d[1] = 0;
    return 2;
}

/* Bytes taken by the value of property id at b (without the id), -1 unknown. */
static long prop_size(uint8_t id, const uint8_t *b, size_t len)
{
    switch (id) {
    case 0x01:
    case 0x17:
    case 0x19:
    case 0x24:
    case 0x25:
    case 0x28:
    case 0x29:
    case 0x2A:
        return 1;
    case 0x13:
    case 0x21:
    case 0x22:
    case 0x23:
        return 2;
    case 0x02:
    case 0x11:
    case 0x18:
    case 0x27:
        return 4;
    case 0x0B: {
        size_t v;
        int k = get_varint(b, len, &v);
        return k > 0 ? k : -1;
    }
    case 0x03:
    case 0x08:
    case 0x09:
    case 0x12:
    case 0x15:
    case 0x16:
    case 0x1A:
    case 0x1C:
    case 0x1F:
        return len < 2 ? -1 : 2 + (long)((b[0] << 8) | b[1]);
    case 0x26: {
        if (len < 2) return -1;
        long a = 2 + ((b[0] << 8) | b[1]);
        if ((size_t)a + 2 > len) return -1;
        return a + 2 + ((b[a] << 8) | b[a + 1]);
    }
    default:
        return -1;
    }
}

/* Skips a v5 property block at body[*off], reading Receive Maximum if asked. */
static int skip_props(const uint8_t *body, size_t blen, size_t *off, uint16_t *recv_max)
{
    size_t pl;
    int k = get_varint(body + *off, blen - *off, &pl);
    if (k <= 0 || pl > blen - *off - (size_t)k) return -1;
    size_t p = *off + (size_t)k, end = p + pl;
    while (recv_max && p < end) {
        uint8_t id = body[p++];
        long s = prop_size(id, body + p, end - p);
        if (s < 0 || (size_t)s > end - p) return -1;
        if (id == 0x21 && s == 2) *recv_max = (uint16_t)(body[p] << 8 | body[p + 1]);
        p += (size_t)s;
    }
    *off = end;
    return 0;
}

long mq_parse(const uint8_t *b, size_t len, bool v5, struct mq_pkt *p)
{
    if (len < 2) return 0;
    size_t rl;
    int k = get_varint(b + 1, len - 1, &rl);
    if (k <= 0) return k;
    if (rl > MQ_MAX_REMAINING) return -1;
    size_t hl = 1 + (size_t)k;
    if (len - hl < rl) return 0;
    const uint8_t *body = b + hl;
    memset(p, 0, sizeof(*p));
    p->type = b[0] >> 4;
    p->flags = b[0] & 15u;
    size_t off = 0;
    switch (p->type) {
    case MQ_CONNACK:
        if (rl < 2) return -1;
        p->rc = body[1];
        off = 2;
        if (v5 && rl > 2 && skip_props(body, rl, &off, &p->recv_max) < 0) return -1;
        break;
    case MQ_PUBLISH: {
        p->qos = (p->flags >> 1) & 3u;
        if (rl < 2) return -1;
        off = 2 + (size_t)(body[0] << 8 | body[1]);
        if (p->qos) {
            if (off + 2 > rl) return -1;
            p->pid = (uint16_t)(body[off] << 8 | body[off + 1]);
            off += 2;
        }
        if (off > rl || (v5 && skip_props(body, rl, &off, NULL) < 0)) return -1;
        p->payload = body + off;
        p->plen = rl - off;
        break;
    }
    case MQ_PUBACK:
    case MQ_PUBREC:
    case MQ_PUBREL:
    case MQ_PUBCOMP:
        if (rl < 2) return -1;
        p->pid = (uint16_t)(body[0] << 8 | body[1]);
        p->rc = rl > 2 ? body[2] : 0;
        break;
    case MQ_SUBACK:
        if (rl < 3) return -1;
        p->pid = (uint16_t)(body[0] << 8 | body[1]);
        off = 2;
        if (v5 && skip_props(body, rl, &off, NULL) < 0) return -1;
        if (off >= rl) return -1;
        p->rc = body[off];
        break;
    case MQ_DISCONNECT:
        p->rc = rl > 0 ? body[0] : 0;
        break;
    case MQ_PINGRESP:
        break;
    default:
        return -1; /* nothing else is expected from a broker here */
    }
    return (long)(hl + rl);
}
