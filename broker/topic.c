/*
 * topic.c - the operator's limits on topic names and filters
 * (mqtt.max_topic_length, mqtt.max_topic_levels), checked by the PUBLISH
 * and SUBSCRIBE handlers before anything is matched or stored. Pure; any
 * thread.
 */
#include <string.h>

#include "subs.h"

int brk_topic_limits(const cfg_t *cfg, const uint8_t *p, uint32_t len)
{
    if (len > cfg->mqtt.max_topic_length) return BRK_TOPIC_TOO_LONG;
    mqtt_str_t group, rest = {p, len};
    if (mqtt_share_split(p, len, &group, &rest)) {
        p = rest.p;
        len = rest.len;
    }
    uint32_t levels = 1;
    for (const uint8_t *q = p, *end = p + len; (q = memchr(q, '/', (size_t)(end - q))) != NULL; q++)
        if (++levels > cfg->mqtt.max_topic_levels) return BRK_TOPIC_TOO_DEEP;
    return BRK_TOPIC_OK;
}
