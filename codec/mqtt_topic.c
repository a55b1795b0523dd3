/*
 * mqtt_topic.c - topic names, topic filters, shared subscription syntax and
 * the matcher (MQTT 5 section 4.7 / 4.8.2, 3.1.1 section 4.7).
 */
#include "mqtt_internal.h"

#define ONES 0x0101010101010101ull
#define HIGH 0x8080808080808080ull
#define HAS_ZERO(w) (((w)-ONES) & ~(w)&HIGH)

static const char share_prefix[] = "$share/";
#define SHARE_PREFIX_LEN (sizeof share_prefix - 1)

int mqtt__topic_check(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (len - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            /* ASCII, no NUL, no '+' (0x2B), no '#' (0x23) */
            if (((w & HIGH) | HAS_ZERO(w) | HAS_ZERO(w ^ (0x2Bull * ONES)) |
                 HAS_ZERO(w ^ (0x23ull * ONES))) == 0) {
                i += 8;
                continue;
            }
        }
        if (p[i] == '+' || p[i] == '#') return MQTT_ERR_BAD_TOPIC;
        size_t n = mqtt__utf8_seq(p + i, len - i);
        if (n == 0) return MQTT_ERR_BAD_UTF8;
        i += n;
    }
    return 0;
}

bool mqtt_topic_valid(const uint8_t *p, size_t len)
{
    return len >= 1 && len <= MQTT_STR_MAX && mqtt__topic_check(p, len) == 0;
}

bool mqtt_share_split(const uint8_t *p, size_t len, mqtt_str_t *group, mqtt_str_t *rest)
{
    if (len < SHARE_PREFIX_LEN || memcmp(p, share_prefix, SHARE_PREFIX_LEN) != 0) return false;
    const uint8_t *g = p + SHARE_PREFIX_LEN;
    const uint8_t *slash = memchr(g, '/', len - SHARE_PREFIX_LEN);
    if (!slash) return false;
    group->p = g;
    group->len = (uint32_t)(slash - g);
    rest->p = slash + 1;
    rest->len = (uint32_t)(len - (size_t)(slash + 1 - p));
    return true;
}

/* Wildcard placement: '+' fills a whole level, '#' fills the last level. */
static bool topic_filter_syntax(const uint8_t *p, size_t len)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (c != '+' && c != '#') continue;
        if (i > 0 && p[i - 1] != '/') return false;
        if (c == '#' ? i + 1 != len : (i + 1 < len && p[i + 1] != '/')) return false;
    }
    return true;
}

bool mqtt_filter_valid(const uint8_t *p, size_t len)
{
    if (len == 0 || len > MQTT_STR_MAX || !mqtt_utf8_valid(p, len)) return false;
    mqtt_str_t group, rest;
    if (len >= SHARE_PREFIX_LEN && memcmp(p, share_prefix, SHARE_PREFIX_LEN) == 0) {
        /* MQTT-4.8.2-1/2: a non-empty ShareName without wildcards, then a filter. */
        if (!mqtt_share_split(p, len, &group, &rest) || group.len == 0) return false;
        for (uint32_t i = 0; i < group.len; i++)
            if (group.p[i] == '+' || group.p[i] == '#') return false;
        return topic_filter_syntax(rest.p, rest.len);
    }
    return topic_filter_syntax(p, len);
}

bool mqtt_topic_match(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen)
{
    /* MQTT-4.7.2-1: a first-level wildcard does not match "$..." topics. */
    if (tlen > 0 && topic[0] == '$' && flen > 0 && (filter[0] == '+' || filter[0] == '#'))
        return false;
    size_t f = 0, t = 0;
    while (f < flen) {
        uint8_t c = filter[f];
        if (c == '#') return true;
        if (c == '+') {
            while (t < tlen && topic[t] != '/')
                t++;
            f++;
            continue;
        }
        if (t < tlen && topic[t] == c) {
            f++;
            t++;
            continue;
        }
        /* "a/#" also matches the parent level "a". */
        return t == tlen && c == '/' && f + 2 == flen && filter[f + 1] == '#';
    }
    return t == tlen;
}
