/* dev_mqtt.c - see dev_mqtt.h. Only what a device sends and receives. */
#include <string.h>

#include "dev_mqtt.h"

static size_t put_varint(uint8_t *d, size_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v % 128;
        v /= 128;
        d[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

static size_t put_bin(uint8_t *d, const void *s, size_t n)
{
    d[0] = (uint8_t)(n >> 8);
    d[1] = (uint8_t)n;
    memcpy(d + 2, s, n);
    return n + 2;
}

/* Fixed header in front of a body built at d + 5: moves the body down to
 * its final place so callers can build bodies before knowing the length. */
static size_t frame(uint8_t *d, uint8_t first, size_t body)
{
    uint8_t hdr[5];
    hdr[0] = first;
    size_t h = 1 + put_varint(hdr + 1, body);
    memmove(d + h, d + 5, body);
    memcpy(d, hdr, h);
    return h + body;
}

size_t dev_mqtt_connect(uint8_t *d, size_t cap, bool v5, const char *cid, int keepalive,
                        const dev_will_t *will, const char *user, const char *pass)
{
    size_t need = 64 + strlen(cid) + (will ? strlen(will->topic) + will->len : 0) +
                  (user ? strlen(user) : 0) + (pass ? strlen(pass) : 0);
    if (cap < need) return 0;
    uint8_t *b = d + 5;
    size_t n = put_bin(b, "MQTT", 4);
    b[n++] = v5 ? 5 : 4;
    uint8_t flags = 0x02; /* clean start: a device's subscriptions are made anew */
    if (will) flags |= (uint8_t)(0x04 | (will->qos << 3) | (will->retain ? 0x20 : 0));
    if (user) flags |= 0x80;
    if (pass) flags |= 0x40;
    b[n++] = flags;
    b[n++] = (uint8_t)(keepalive >> 8);
    b[n++] = (uint8_t)keepalive;
    if (v5) b[n++] = 0; /* no CONNECT properties */
    n += put_bin(b + n, cid, strlen(cid));
    if (will) {
        if (v5) b[n++] = 0; /* no will properties */
        n += put_bin(b + n, will->topic, strlen(will->topic));
        n += put_bin(b + n, will->payload, will->len);
    }
    if (user) n += put_bin(b + n, user, strlen(user));
    if (pass) n += put_bin(b + n, pass, strlen(pass));
    return frame(d, 0x10, n);
}

size_t dev_mqtt_publish(uint8_t *d, size_t cap, bool v5, const char *topic, const uint8_t *p,
                        size_t plen, int qos, bool retain, uint16_t pid)
{
    size_t tl = strlen(topic);
    if (cap < 16 + tl + plen) return 0;
    uint8_t *b = d + 5;
    size_t n = put_bin(b, topic, tl);
    if (qos) {
        b[n++] = (uint8_t)(pid >> 8);
        b[n++] = (uint8_t)pid;
    }
    if (v5) b[n++] = 0;
    memcpy(b + n, p, plen);
    n += plen;
    return frame(d, (uint8_t)(0x30 | (qos << 1) | (retain ? 1 : 0)), n);
}

size_t dev_mqtt_subscribe(uint8_t *d, size_t cap, bool v5, uint16_t pid, const char *filter,
                          int qos)
{
    size_t fl = strlen(filter);
    if (cap < 16 + fl) return 0;
    uint8_t *b = d + 5;
    size_t n = 0;
    b[n++] = (uint8_t)(pid >> 8);
    b[n++] = (uint8_t)pid;
    if (v5) b[n++] = 0;
    n += put_bin(b + n, filter, fl);
    b[n++] = (uint8_t)qos;
    return frame(d, 0x82, n);
}

size_t dev_mqtt_puback(uint8_t *d, size_t cap, uint16_t pid)
{
    if (cap < 4) return 0;
    d[0] = 0x40;
    d[1] = 2;
    d[2] = (uint8_t)(pid >> 8);
    d[3] = (uint8_t)pid;
    return 4;
}

size_t dev_mqtt_simple(uint8_t *d, size_t cap, int type)
{
    if (cap < 2) return 0;
    d[0] = (uint8_t)(type << 4);
    d[1] = 0;
    return 2;
}

/* MQTT 5 property block length at b: the whole block is skipped, the
 * simulator uses no property it receives. */
static long props_len(const uint8_t *b, size_t len)
{
    size_t v = 0, mul = 1;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len) return -1;
        v += (b[i] & 0x7f) * mul;
        mul *= 128;
        if (!(b[i] & 0x80)) return v + i + 1 <= len ? (long)(v + i + 1) : -1;
    }
    return -1;
}

static int parse_publish(dev_pkt_t *p, bool v5)
{
    const uint8_t *b = p->body;
    size_t n = p->blen, off;
    if (n < 2) return -1;
    p->tlen = (size_t)b[0] << 8 | b[1];
    if (2 + p->tlen > n) return -1;
    p->topic = (const char *)b + 2;
    off = 2 + p->tlen;
    int qos = (p->flags >> 1) & 3;
    if (qos) {
        if (off + 2 > n) return -1;
        p->pid = (uint16_t)(b[off] << 8 | b[off + 1]);
        off += 2;
    }
    if (v5) {
        long pl = props_len(b + off, n - off);
        if (pl < 0) return -1;
        off += (size_t)pl;
    }
    p->payload = b + off;
    p->plen = n - off;
    return 0;
}

long dev_mqtt_parse(const uint8_t *b, size_t len, bool v5, dev_pkt_t *p)
{
    if (len < 2) return 0;
    size_t v = 0, mul = 1, i = 1;
    for (;; i++) {
        if (i >= len) return 0;
        if (i > 4) return -1;
        v += (b[i] & 0x7f) * mul;
        mul *= 128;
        if (!(b[i] & 0x80)) break;
    }
    size_t total = i + 1 + v;
    if (total > len) return 0;
    memset(p, 0, sizeof(*p));
    p->type = b[0] >> 4;
    p->flags = b[0] & 0x0f;
    p->body = b + i + 1;
    p->blen = v;
    if (p->type == DEV_CONNACK) {
        if (v < 2) return -1;
        p->rc = p->body[1];
    } else if (p->type == DEV_PUBLISH && parse_publish(p, v5)) {
        return -1;
    }
    return (long)total;
}
