/*
 * mqtt_utf8.c - UTF-8 well-formedness as MQTT requires it (MQTT-1.5.4-1/2,
 * MQTT-1.5.3-1/2 in 3.1.1): no U+0000, no UTF-16 surrogates, no overlong
 * forms, nothing above U+10FFFF. ASCII runs are checked eight bytes at a
 * time because topics and client ids are nearly always ASCII.
 */
#include "mqtt_internal.h"

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull

size_t mqtt__utf8_seq(const uint8_t *p, size_t len)
{
    uint8_t c = p[0];
    if (c < 0x80) return c ? 1 : 0;
    if (c < 0xC2) /* stray continuation byte, or overlong C0/C1 lead */
        return 0;
    if (c < 0xE0) {
        if (len < 2 || (p[1] & 0xC0) != 0x80) return 0;
        return 2;
    }
    if (c < 0xF0) {
        if (len < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) /* overlong */
            return 0;
        if (c == 0xED && p[1] >= 0xA0) /* U+D800..U+DFFF */
            return 0;
        return 3;
    }
    if (c < 0xF5) {
        if (len < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90) /* overlong */
            return 0;
        if (c == 0xF4 && p[1] >= 0x90) /* above U+10FFFF */
            return 0;
        return 4;
    }
    return 0;
}

bool mqtt_utf8_valid(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            /* all ASCII and no zero byte */
            if (((w | ((w - ONES) & ~w)) & HIGH) == 0) {
                i += 8;
                continue;
            }
        }
        size_t n = mqtt__utf8_seq(p + i, len - i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}
