/*
 * bridge_dev.c - development Kafka: librdkafka's mock cluster, in this
 * process and in memory only. For `sluice --dev-kafka`, `make run` and
 * tests; never for production.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"
/* after rdkafka.h (bridge_int.h), as it requires */
#include <librdkafka/rdkafka_mock.h>

struct bridge_dev_kafka {
    rd_kafka_t *rk; /* the mock cluster lives on this handle's threads */
    rd_kafka_mock_cluster_t *mc;
};

int bridge_dev_kafka_start(int brokers, bridge_dev_kafka_t **out, char *bootstrap, size_t len)
{
    bridge_dev_kafka_t *dk = calloc(1, sizeof(*dk));
    if (!dk) return BRIDGE_ERR;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char kerr[256];
    rd_kafka_conf_set_log_cb(conf, bridge_quiet_log);
    dk->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!dk->rk) {
        rd_kafka_conf_destroy(conf);
        free(dk);
        return BRIDGE_ERR;
    }
    dk->mc = rd_kafka_mock_cluster_new(dk->rk, brokers < 1 ? 1 : brokers);
    if (!dk->mc) {
        rd_kafka_destroy(dk->rk);
        free(dk);
        return BRIDGE_ERR;
    }
    snprintf(bootstrap, len, "%s", rd_kafka_mock_cluster_bootstraps(dk->mc));
    *out = dk;
    return 0;
}

void bridge_dev_kafka_stop(bridge_dev_kafka_t *dk)
{
    if (!dk) return;
    rd_kafka_mock_cluster_destroy(dk->mc);
    rd_kafka_destroy(dk->rk);
    free(dk);
}
