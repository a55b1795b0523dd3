/*
 * dev_mqtt.h - the few MQTT 3.1.1 / 5.0 packets the device simulator needs,
 * written into and read from caller buffers. It is the simulator's own small
 * client code on purpose: an example must not link the broker's codec, and a
 * reader should see every byte a device sends. No I/O, no globals; any
 * thread may call it.
 */
#ifndef SLUICE_DEV_MQTT_H
#define SLUICE_DEV_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { DEV_CONNACK = 2, DEV_PUBLISH = 3, DEV_PUBACK = 4, DEV_SUBACK = 9, DEV_PINGRESP = 13 };

typedef struct dev_will {
    const char *topic;
    const uint8_t *payload;
    size_t len;
    int qos;
    bool retain;
} dev_will_t;

typedef struct dev_pkt {
    int type;
    uint8_t flags; /* low nibble of the fixed header */
    const uint8_t *body;
    size_t blen;
    /* PUBLISH */
    const char *topic; /* not NUL-terminated */
    size_t tlen;
    uint16_t pid;
    const uint8_t *payload;
    size_t plen;
    /* CONNACK */
    int rc;
} dev_pkt_t;

/* Each returns the bytes written, or 0 when cap is too small. */
size_t dev_mqtt_connect(uint8_t *d, size_t cap, bool v5, const char *cid, int keepalive,
                        const dev_will_t *will, const char *user, const char *pass);
size_t dev_mqtt_publish(uint8_t *d, size_t cap, bool v5, const char *topic, const uint8_t *p,
                        size_t plen, int qos, bool retain, uint16_t pid);
size_t dev_mqtt_subscribe(uint8_t *d, size_t cap, bool v5, uint16_t pid, const char *filter,
                          int qos);
size_t dev_mqtt_puback(uint8_t *d, size_t cap, uint16_t pid);
size_t dev_mqtt_simple(uint8_t *d, size_t cap, int type); /* PINGREQ 12, DISCONNECT 14 */

/* One packet from b: bytes consumed, 0 if incomplete, -1 if malformed. */
long dev_mqtt_parse(const uint8_t *b, size_t len, bool v5, dev_pkt_t *p);

#endif
