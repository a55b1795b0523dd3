/* fuzz_topic.c - input is "<filter>\n<topic>": run the validators and the
 * matcher, and check what a match implies. */
#include "mqtt.h"

#include <assert.h>
#include <string.h>

static size_t levels(const uint8_t *p, size_t n)
{
    size_t c = 1;
    for (size_t i = 0; i < n; i++)
        c += p[i] == '/';
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    const uint8_t *sep = memchr(d, '\n', n);
    if (!sep) return 0;
    const uint8_t *f = d, *t = sep + 1;
    size_t fl = (size_t)(sep - d), tl = n - fl - 1;
    bool fv = mqtt_filter_valid(f, fl), tv = mqtt_topic_valid(t, tl);
    bool m = mqtt_topic_match(f, fl, t, tl); /* must be memory-safe on anything */
    mqtt_str_t g, r;
    bool shared = mqtt_share_split(f, fl, &g, &r);
    if (shared) assert(r.p + r.len == f + fl && g.p + g.len + 1 == r.p);
    if (tv) /* a topic is a filter that matches itself */
        assert(mqtt_topic_match(t, tl, t, tl) &&
               (mqtt_filter_valid(t, tl) || (tl >= 7 && memcmp(t, "$share/", 7) == 0)));
    if (!fv || !tv || shared || !m) return 0;
    bool wild = memchr(f, '+', fl) || memchr(f, '#', fl);
    assert(wild || (fl == tl && memcmp(f, t, fl) == 0));
    assert(t[0] != '$' || (f[0] != '+' && f[0] != '#')); /* MQTT-4.7.2-1 */
    if (!memchr(f, '#', fl))
        assert(levels(f, fl) == levels(t, tl));
    else
        assert(levels(t, tl) + 1 >= levels(f, fl));
    return 0;
}
