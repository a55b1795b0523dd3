/*
 * bridge_bench - MQTT->Kafka ingestion through the bridge into the mock
 * cluster: QoS 1-style offers (ack: kafka) of 100-byte payloads, at most
 * WINDOW unacknowledged at a time (like a broker's in-flight limit);
 * prints records/s acknowledged.  Usage: bridge_bench [N] [keys] [window]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge.h"

static atomic_long acked, bad;

static void on_ack(void *arg, int status)
{
    atomic_fetch_add(&acked, 1);
    if (status) atomic_fetch_add(&bad, 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int keys = argc > 2 ? atoi(argv[2]) : 100;
    long window = argc > 3 ? atol(argv[3]) : 20000;
    char bs[256], err[512], json[1024];
    bridge_dev_kafka_t *dk;
    if (bridge_dev_kafka_start(3, &dk, bs, sizeof(bs))) return 1;
    snprintf(json, sizeof(json),
             "{\"node_id\":\"bench\",\"kafka\":{\"bootstrap\":\"%s\"},\"bridge\":{"
             "\"to_kafka\":[{\"match\":\"devices/+/telemetry\",\"topic\":\"telemetry\","
             "\"key\":\"{2}\"}]}}",
             bs);
    cfg_t *cfg;
    if (cfg_parse("bench", json, strlen(json), &cfg, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    bridge_t *br;
    if (bridge_new(cfg, NULL, NULL, &br, err, sizeof(err)) || bridge_start(br)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    uint8_t payload[100];
    memset(payload, 'p', sizeof(payload));
    /* warm up: metadata, producer id */
    bridge_msg_t w = {.topic = "devices/w/telemetry",
                      .topic_len = 19,
                      .payload = payload,
                      .payload_len = 100,
                      .qos = 1,
                      .clientid = "bench"};
    if (bridge_offer(br, &w, on_ack, NULL) != BRIDGE_PENDING) {
        fprintf(stderr, "bridge_bench: warm-up record refused\n");
        return 1;
    }
    while (atomic_load(&acked) < 1) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&acked, 0);
    double t0 = now_s();
    char topic[64];
    for (long i = 0; i < n; i++) {
        while (i - atomic_load(&acked) >= window) {
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
        int tl = snprintf(topic, sizeof(topic), "devices/d%ld/telemetry", i % keys);
        bridge_msg_t m = {.topic = topic,
                          .topic_len = (uint16_t)tl,
                          .payload = payload,
                          .payload_len = 100,
                          .qos = 1,
                          .clientid = "bench"};
        if (bridge_offer(br, &m, on_ack, NULL) != BRIDGE_PENDING) {
            fprintf(stderr, "offer refused at %ld\n", i);
            return 1;
        }
    }
    while (atomic_load(&acked) < n) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    double dt = now_s() - t0;
    bridge_stats_t s;
    bridge_get_stats(br, &s);
    printf("bridge_bench: %ld records (100 B, %d keys, window %ld) acked in %.2f s: %.0f "
           "records/s; failed %ld, spooled %llu\n",
           n, keys, window, dt, (double)n / dt, atomic_load(&bad), (unsigned long long)s.spooled);
    bridge_free(br);
    cfg_free(cfg);
    bridge_dev_kafka_stop(dk);
    return 0;
}
