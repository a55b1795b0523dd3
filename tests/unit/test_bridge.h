/* test_bridge.h - helpers shared by the bridge suites (mock cluster, read
 * back with a real librdkafka consumer, ack capture, temp stores). */
#ifndef TEST_BRIDGE_H
#define TEST_BRIDGE_H

#include <CUnit/Basic.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>

#include "bridge.h"

#define TB_MAX_ACKS 4096

typedef struct tb_kafka {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
    int brokers;
} tb_kafka_t;

typedef struct tb_acks {
    atomic_int n;
    atomic_int bad;
    atomic_int done; /* acks whose at_ms is written: what tb_wait_acks waits for */
    int64_t at_ms[TB_MAX_ACKS];
} tb_acks_t;

typedef struct tb_rec {
    char topic[128];
    int partition;
    int64_t offset, ts;
    uint8_t *key, *val;
    size_t klen, vlen;
    rd_kafka_headers_t *hdrs;
} tb_rec_t;

int64_t tb_now(void);
void tb_sleep_ms(int ms);
void tb_kafka_start(tb_kafka_t *k, int brokers);
void tb_kafka_stop(tb_kafka_t *k);
void tb_kafka_down(tb_kafka_t *k, bool down);
cfg_t *tb_cfg(const char *json_fmt, ...);
void tb_ack(void *arg, int status);
bool tb_wait_acks(tb_acks_t *a, int n, int ms);
/* Read every record of topic (partitions 0..np-1) until n are read or ms
 * pass; returns the count; *out is an array to free with tb_recs_free. */
int tb_read(tb_kafka_t *k, const char *topic, int np, int n, int ms, tb_rec_t **out);
void tb_recs_free(tb_rec_t *r, int n);
bool tb_hdr_is(const tb_rec_t *r, const char *name, const char *val);
store_t *tb_store(char *dir, size_t len);
void tb_store_rm(store_t *st, const char *dir);
bridge_msg_t tb_msg(const char *topic, const char *payload, uint8_t qos);
void tb_produce(tb_kafka_t *k, const char *topic, const char *key, const char *val,
                const char *node);

void test_bridge_kafka_register(CU_pSuite s);

#endif
