/* WebSocket client side (RFC 6455) for MQTT over WebSocket: the upgrade
 * request, masked client frames, unmasked server frames. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ws_request(char *d, size_t cap, const char *host, int port, const char *path, uint32_t seed)
{
    uint8_t key[16];
    for (int i = 0; i < 16; i++) {
        seed = seed * 1103515245u + 12345u;
        key[i] = (uint8_t)(seed >> 16);
    }
    char k64[25];
    size_t n = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)key[i] << 16;
        if (i + 1 < 16) v |= (uint32_t)key[i + 1] << 8;
        if (i + 2 < 16) v |= key[i + 2];
        k64[n++] = b64[(v >> 18) & 63];
        k64[n++] = b64[(v >> 12) & 63];
        k64[n++] = i + 1 < 16 ? b64[(v >> 6) & 63] : '=';
        k64[n++] = i + 2 < 16 ? b64[v & 63] : '=';
    }
    k64[n] = 0;
    int r = snprintf(d, cap,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n"
                     "Origin: http://%s:%d\r\n\r\n",
                     path, host, port, k64, host, port);
    return r < 0 || (size_t)r >= cap ? 0 : (size_t)r;
}

int ws_response(const uint8_t *b, size_t len, size_t *used)
{
    for (size_t i = 3; i < len; i++) {
        if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
            if (len < 12 || memcmp(b, "HTTP/1.1 101", 12) != 0) return -1;
            *used = i + 1;
            return 1;
        }
    }
    return len > 8192 ? -1 : 0;
}

size_t ws_frame_header(uint8_t *d, int op, size_t plen, const uint8_t mask[4])
{
    size_t n;
    d[0] = (uint8_t)(0x80 | op);
    if (plen < 126) {
        d[1] = (uint8_t)(0x80 | plen);
        n = 2;
    } else if (plen < 65536) {
        d[1] = 0x80 | 126;
        d[2] = (uint8_t)(plen >> 8);
        d[3] = (uint8_t)plen;
        n = 4;
    } else {
        d[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            d[2 + i] = (uint8_t)((uint64_t)plen >> (56 - 8 * i));
        n = 10;
    }
    memcpy(d + n, mask, 4);
    return n + 4;
}

void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4])
{
    uint32_t m;
    memcpy(&m, mask, 4);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t v;
        memcpy(&v, p + i, 4);
        v ^= m;
        memcpy(p + i, &v, 4);
    }
    for (; i < n; i++)
        p[i] ^= mask[i & 3];
}

long ws_parse(uint8_t *b, size_t len, struct ws_frame *f)
{
    if (len < 2) return 0;
    size_t off = 2;
    uint64_t pl = b[1] & 127u;
    bool masked = b[1] & 128u;
    if (pl == 126) {
        if (len < 4) return 0;
        pl = (uint64_t)b[2] << 8 | b[3];
        off = 4;
    } else if (pl == 127) {
        if (len < 10) return 0;
        pl = 0;
        for (int i = 0; i < 8; i++)
            pl = pl << 8 | b[2 + i];
        off = 10;
    }
    if (pl > 64u * 1024 * 1024) return -1;
    uint8_t mask[4] = {0};
    if (masked) {
        if (len < off + 4) return 0;
        memcpy(mask, b + off, 4);
        off += 4;
    }
    if (len - off < pl) return 0;
    f->op = b[0] & 15u;
    f->fin = b[0] & 128u;
    f->payload = b + off;
    f->len = (size_t)pl;
    if (masked) ws_mask(f->payload, f->len, mask);
    return (long)(off + pl);
}
