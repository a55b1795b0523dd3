/*
 * sluice-kafka-mock - librdkafka's mock cluster as a standalone process, so
 * that integration tests can kill -9 the broker without losing the Kafka
 * side. Options: --brokers N, --topic NAME:PARTITIONS (repeatable: the topic
 * is created, replication factor 1, before BOOTSTRAP is printed). Prints
 * "BOOTSTRAP <addr>", then reads commands from stdin, one a line, each
 * answered "OK" or "ERR ...": down | up (all brokers), rtt MS,
 * topic NAME PARTITIONS, quit. Exits on EOF.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quiet(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

/* "NAME:PARTITIONS" -> name (copied into buf) and partitions; 0 if malformed. */
static int parse_topic(const char *arg, char *buf, size_t size, int *parts)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || (size_t)(colon - arg) >= size) return 0;
    char *end;
    long n = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || n < 1 || n > 10000) return 0;
    memcpy(buf, arg, (size_t)(colon - arg));
    buf[colon - arg] = 0;
    *parts = (int)n;
    return 1;
}

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *name, int parts)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, name, parts, 1);
    if (e) {
        fprintf(stderr, "KAFKA-MOCK-FAIL topic %s: %s\n", name, rd_kafka_err2str(e));
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    int brokers = 1;
    char name[200];
    int parts;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--brokers") && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--topic") && i + 1 < argc &&
                 parse_topic(argv[i + 1], name, sizeof(name), &parts))
            i++; /* checked here, created once the cluster exists */
        else {
            fprintf(stderr, "usage: %s [--brokers N] [--topic NAME:PARTITIONS]...\n", argv[0]);
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
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--topic")) {
            parse_topic(argv[++i], name, sizeof(name), &parts);
            if (!create_topic(mc, name, parts)) return 1;
        } else if (!strcmp(argv[i], "--brokers"))
            i++;
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
        } else if (!strncmp(line, "topic ", 6)) {
            char extra;
            if (sscanf(line + 6, "%199s %d %c", name, &parts, &extra) != 2 || parts < 1 ||
                !create_topic(mc, name, parts)) {
                printf("ERR bad topic command: %s\n", line);
                fflush(stdout);
                continue;
            }
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
