/*
 * sluice-kafka-mock - librdkafka's mock cluster as a standalone process, so
 * that integration tests can kill -9 the broker without losing the Kafka
 * side. Prints "BOOTSTRAP <addr>", then reads commands from stdin, one a
 * line: down | up (all brokers), rtt MS, quit. Exits on EOF.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

int main(int argc, char **argv)
{
    int brokers = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--brokers N]\n", argv[0]);
            return 2;
        }
    }
    if (brokers < 1) brokers = 1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet);
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "KAFKA-MOCK-FAIL %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "KAFKA-MOCK-FAIL cannot create the mock cluster\n");
        return 1;
    }
    printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!strcmp(line, "quit")) break;
        if (!strcmp(line, "down") || !strcmp(line, "up")) {
            for (int b = 1; b <= brokers; b++) {
                if (line[0] == 'd')
                    rd_kafka_mock_broker_set_down(mc, b);
                else
                    rd_kafka_mock_broker_set_up(mc, b);
            }
        } else if (!strncmp(line, "rtt ", 4)) {
            int ms = atoi(line + 4);
            for (int b = 1; b <= brokers; b++)
                rd_kafka_mock_broker_set_rtt(mc, b, ms);
        } else if (line[0]) {
            printf("ERR unknown command: %s\n", line);
            fflush(stdout);
            continue;
        }
        printf("OK\n");
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
