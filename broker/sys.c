/*
 * sys.c - the $SYS tree, published (retained, like Mosquitto) every
 * mqtt.sys_interval seconds by worker 0, and the periodic broker duties.
 */
#include <stdio.h>
#include <string.h>

#include "brk.h"

static void publish(brk_t *b, brk_worker_t *w, const char *topic, const char *value)
{
    brk_msg_t *m = brk_msg_new((const uint8_t *)topic, (uint16_t)strlen(topic),
                               (const uint8_t *)value, (uint32_t)strlen(value), 0, 0, true);
    if (!m) return;
    brk_route(b, w, m);
    brk_msg_unref(&m);
}

static void publish_u64(brk_t *b, brk_worker_t *w, const char *topic, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    publish(b, w, topic, buf);
}

static void publish_kafka(brk_t *b, const char *topic, uint64_t v)
{
    publish_u64(b, NULL, topic, v);
}

void brk_sys_tick(brk_t *b, brk_worker_t *w, int64_t now)
{
    uint64_t in = 0, out = 0, bin = 0, bout = 0, conns = 0, dropped = 0, bad = 0;
    for (int i = 0; i < b->n_workers; i++) {
        brk_wstats_t *st = &b->workers[i].st;
        in += brk_read(&st->msgs_in);
        out += brk_read(&st->msgs_out);
        bin += brk_read(&st->bytes_in);
        bout += brk_read(&st->bytes_out);
        conns += brk_read(&st->conns);
        dropped += brk_read(&st->dropped);
        bad += brk_read(&st->bad_packets);
    }
    pthread_mutex_lock(&b->reg_lock);
    uint64_t sessions = b->reg_len;
    pthread_mutex_unlock(&b->reg_lock);
    char up[48];
    snprintf(up, sizeof(up), "%lld seconds", (long long)((now - b->start_ms) / 1000));
    publish(b, w, "$SYS/broker/version", "sluice " SLUICE_VERSION);
    publish(b, w, "$SYS/broker/uptime", up);
    publish_u64(b, w, "$SYS/broker/clients/connected", conns);
    publish_u64(b, w, "$SYS/broker/clients/total", sessions);
    publish_u64(b, w, "$SYS/broker/messages/received", in);
    publish_u64(b, w, "$SYS/broker/messages/sent", out);
    publish_u64(b, w, "$SYS/broker/messages/dropped", dropped);
    publish_u64(b, w, "$SYS/broker/bytes/received", bin);
    publish_u64(b, w, "$SYS/broker/bytes/sent", bout);
    publish_u64(b, w, "$SYS/broker/subscriptions/count", brk_subs_count(b->subs));
    publish_u64(b, w, "$SYS/broker/retained messages/count", brk_retain_count(b->retain));
    publish_u64(b, w, "$SYS/broker/packets/malformed", bad);
    brk_kafka_sys(b, publish_kafka);
}
