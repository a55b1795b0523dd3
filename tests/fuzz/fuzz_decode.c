/* fuzz_decode.c - decode at every protocol level with a size limit; every
 * packet that decodes must re-encode, decode again and keep its fields. */
#include "mqtt.h"

#include <assert.h>
#include <string.h>

static bool same(mqtt_str_t a, mqtt_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t versions[] = {0, MQTT_V31, MQTT_V311, MQTT_V5};
    static uint8_t out[1 << 20];
    mqtt_packet_t a, b;
    /* a property block as a cluster record carries it: any bytes */
    (void)mqtt_props_forwardable(data, size < UINT32_MAX ? (uint32_t)size : 0);
    for (size_t i = 0; i < sizeof versions && size < sizeof out; i++) {
        mqtt_limits_t lim = {.version = versions[i], .max_packet_size = i & 1 ? 0 : 2048};
        int n = mqtt_decode(data, size, &lim, &a);
        assert(n <= (int)size);
        if (n <= 0) continue;
        uint8_t v = a.type == MQTT_CONNECT ? a.u.connect.version : versions[i];
        int m = mqtt_encode(out, sizeof out, v, &a);
        assert(m > 0 && m <= n && m == mqtt_encode_size(v, &a));
        mqtt_limits_t lim2 = {.version = a.type == MQTT_CONNECT ? 0 : v};
        assert(mqtt_decode(out, (size_t)m, &lim2, &b) == m && a.type == b.type);
        if (a.type == MQTT_PUBLISH)
            assert(same(a.u.publish.topic, b.u.publish.topic) &&
                   same(a.u.publish.payload, b.u.publish.payload) &&
                   a.u.publish.qos == b.u.publish.qos &&
                   a.u.publish.packet_id == b.u.publish.packet_id &&
                   a.u.publish.props.present == b.u.publish.props.present &&
                   a.u.publish.props.user_count == b.u.publish.props.user_count);
        if (a.type == MQTT_CONNECT)
            assert(same(a.u.connect.client_id, b.u.connect.client_id) &&
                   same(a.u.connect.password, b.u.connect.password) &&
                   a.u.connect.will == b.u.connect.will &&
                   a.u.connect.props.present == b.u.connect.props.present);
        if (a.type == MQTT_SUBSCRIBE || a.type == MQTT_UNSUBSCRIBE)
            assert(a.u.sub.count == b.u.sub.count && a.u.sub.packet_id == b.u.sub.packet_id);
        /* last: it reuses out, which b points into */
        if (a.type == MQTT_PUBLISH) { /* what a node forwards, another accepts */
            uint32_t fl = mqtt_props_forward_size(&a.u.publish.props);
            if (fl < sizeof out) {
                mqtt_props_forward_write(&a.u.publish.props, out, fl);
                assert(mqtt_props_forwardable(out, fl));
            }
        }
    }
    return 0;
}
