/*
 * sluice-analytics - the consumer side of the demo (docs/EXAMPLES.md).
 *
 * A Kafka consumer group on the telemetry topic (records as the bridge's
 * "raw" rule writes them: key = device id, value = the device's JSON
 * {"id","metric","value","ts"}). Per device and metric it keeps a sliding
 * window (window.c) and produces, for each device seen in a batch, one JSON
 * result to the results topic, keyed by device id; a from_kafka rule brings
 * them back to MQTT as analytics/<id>.
 *
 * It is also the demo's command service: records of the console's command
 * topic (console/commands/<id> mirrored to Kafka by a to_kafka rule) are
 * produced again, key and value unchanged, to the commands topic that a
 * from_kafka rule delivers to devices/<id>/commands. The hop is needed, not
 * decoration: sluice skips records carrying its own sluice.node header
 * (loop prevention, docs/KAFKA.md), and in a real deployment this is where
 * a backend checks and records a command before a device sees it.
 *
 * Offsets: auto-commit is off. A batch's offsets are committed only after
 * every result computed from it is acknowledged by Kafka (the same
 * discipline the bridge follows); while Kafka refuses, the batch's results
 * are produced again, and a crash replays the batch rather than losing it.
 * SIGINT/SIGTERM end the loop after the current batch; exit 0.
 */
#include <getopt.h>
#include <search.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include "window.h"

static volatile sig_atomic_t stopping; /* the one global: set by the signal handler */

enum { N_METRICS = 3 };
static const char *const metric_names[N_METRICS] = {"temperature", "humidity", "battery"};

typedef struct device {
    char id[64];
    bool dirty, anomaly;
    win_stats_t st[N_METRICS];
    bool have[N_METRICS];
    win_t w[N_METRICS];
} device_t;

typedef struct app {
    const char *brokers, *in, *out, *group, *cmd_in, *cmd_out;
    int64_t window_ms;
    double z;
    rd_kafka_t *cons, *prod;
    void *devices; /* tsearch tree of device_t, by id */
    device_t **dirty;
    size_t n_dirty, cap_dirty;
    int failed; /* delivery failures in the current flush */
    unsigned long long results, commits, relayed;
} app_t;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const device_t *)a)->id, ((const device_t *)b)->id);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    app_t *a = opaque;
    if (m->err) a->failed++;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        printf("ASSIGNED %d\n", parts->cnt); /* a sync point for tests and scripts */
        fflush(stdout);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static device_t *device(app_t *a, const char *id)
{
    device_t key;
    snprintf(key.id, sizeof(key.id), "%s", id);
    device_t **found = tfind(&key, &a->devices, by_id);
    if (found) return *found;
    device_t *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    memcpy(d->id, key.id, sizeof(d->id));
    if (!tsearch(d, &a->devices, by_id)) {
        free(d);
        return NULL;
    }
    return d;
}

static int relay(app_t *a, const rd_kafka_message_t *m)
{
    rd_kafka_resp_err_t e =
        rd_kafka_producev(a->prod, RD_KAFKA_V_TOPIC(a->cmd_out), RD_KAFKA_V_KEY(m->key, m->key_len),
                          RD_KAFKA_V_VALUE(m->payload, m->len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e) return -1;
    a->relayed++;
    return 0;
}

static void consume(app_t *a, const rd_kafka_message_t *m)
{
    if (a->cmd_in && !strcmp(rd_kafka_topic_name(m->rkt), a->cmd_in)) {
        if (relay(a, m)) a->failed++; /* counted against the batch: no commit */
        return;
    }
    cJSON *j = cJSON_ParseWithLength(m->payload, m->len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *metric = cJSON_GetObjectItemCaseSensitive(j, "metric");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(j, "value");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "ts");
    int k = -1;
    for (int i = 0; cJSON_IsString(metric) && i < N_METRICS; i++)
        if (!strcmp(metric->valuestring, metric_names[i])) k = i;
    device_t *d = NULL;
    if (k >= 0 && cJSON_IsString(id) && cJSON_IsNumber(value) && (d = device(a, id->valuestring))) {
        int64_t t = cJSON_IsNumber(ts) ? (int64_t)ts->valuedouble : (int64_t)time(NULL) * 1000;
        win_add(&d->w[k], t, value->valuedouble, a->window_ms, a->z, &d->st[k]);
        d->have[k] = true;
        d->anomaly = d->anomaly || d->st[k].anomaly;
        if (!d->dirty && a->n_dirty < a->cap_dirty) {
            d->dirty = true;
            a->dirty[a->n_dirty++] = d;
        }
    }
    cJSON_Delete(j); /* records that are not telemetry are skipped, and still committed */
}

static char *result_json(const app_t *a, const device_t *d)
{
    cJSON *r = cJSON_CreateObject(), *ms = cJSON_AddObjectToObject(r, "metrics");
    cJSON_AddStringToObject(r, "id", d->id);
    cJSON_AddNumberToObject(r, "window_s", (double)a->window_ms / 1000);
    cJSON_AddNumberToObject(r, "ts", (double)time(NULL) * 1000);
    cJSON_AddBoolToObject(r, "anomaly", d->anomaly);
    for (int k = 0; k < N_METRICS; k++) {
        if (!d->have[k]) continue;
        const win_stats_t *s = &d->st[k];
        cJSON *m = cJSON_AddObjectToObject(ms, metric_names[k]);
        cJSON_AddNumberToObject(m, "count", (double)s->count);
        cJSON_AddNumberToObject(m, "mean", s->mean);
        cJSON_AddNumberToObject(m, "min", s->min);
        cJSON_AddNumberToObject(m, "max", s->max);
        cJSON_AddNumberToObject(m, "p95", s->p95);
        cJSON_AddNumberToObject(m, "last", s->last);
        cJSON_AddNumberToObject(m, "z", s->z);
        cJSON_AddBoolToObject(m, "anomaly", s->anomaly);
    }
    char *text = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return text;
}

/* Produce one result per dirty device and wait for Kafka's verdict on all
 * of them. 0 only when every one was acknowledged. */
static int publish_results(app_t *a, int timeout_ms)
{
    for (size_t i = 0; i < a->n_dirty; i++) {
        device_t *d = a->dirty[i];
        char *text = result_json(a, d);
        if (!text) return -1;
        rd_kafka_resp_err_t e = rd_kafka_producev(
            a->prod, RD_KAFKA_V_TOPIC(a->out), RD_KAFKA_V_KEY(d->id, strlen(d->id)),
            RD_KAFKA_V_VALUE(text, strlen(text)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        free(text);
        if (e) return -1;
    }
    if (rd_kafka_flush(a->prod, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR || a->failed) return -1;
    for (size_t i = 0; i < a->n_dirty; i++) {
        a->dirty[i]->dirty = false;
        a->dirty[i]->anomaly = false;
    }
    a->results += a->n_dirty;
    a->n_dirty = 0;
    return 0;
}

/* One batch: up to 500 ms or cap_dirty devices of records, their results
 * acknowledged, then the consumer's position committed. */
static void batch(app_t *a)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int got = 0;
    a->failed = 0;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(a->cons, 100);
        if (m) {
            if (!m->err) {
                consume(a, m);
                got++;
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "sluice-analytics: consumer: %s\n", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms >= 500 || stopping || a->n_dirty == a->cap_dirty) break;
    }
    if (!got) return;
    while (publish_results(a, 5000)) {
        a->failed = 0;
        fprintf(stderr, "sluice-analytics: results not acknowledged, retrying (offsets held)\n");
        if (stopping) return; /* not committed: the next start replays the batch */
        sleep(1);
    }
    /* position = next offset per assigned partition, i.e. what was consumed */
    rd_kafka_resp_err_t e = rd_kafka_commit(a->cons, NULL, 0);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        a->commits++;
    else /* the results are out; the records come again after a rebalance */
        fprintf(stderr, "sluice-analytics: commit: %s\n", rd_kafka_err2str(e));
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice-analytics [options]\n"
               "  -b, --brokers LIST   Kafka bootstrap servers (default 127.0.0.1:9092)\n"
               "  -t, --topic T        telemetry topic to consume (default telemetry)\n"
               "  -o, --out T          results topic to produce (default analytics)\n"
               "  -g, --group G        consumer group (default sluice-analytics)\n"
               "  -w, --window S       sliding window in seconds (default 60)\n"
               "  -c, --commands-in T  console command topic to relay (default console-commands;\n"
               "                       \"\" = no relay)\n"
               "  -C, --commands-out T topic the relayed commands go to (default commands)\n"
               "  -z, --z-limit Z      anomaly when |value - mean| >= Z standard deviations\n"
               "                       of the window before it (default 4)\n"
               "  -h, --help           this text\n"
               "Prints ASSIGNED <n> when the group gives it partitions. See docs/EXAMPLES.md.\n");
}

static int parse_opts(app_t *a, int argc, char **argv)
{
    static const struct option lo[] = {{"brokers", 1, 0, 'b'},     {"topic", 1, 0, 't'},
                                       {"out", 1, 0, 'o'},         {"group", 1, 0, 'g'},
                                       {"window", 1, 0, 'w'},      {"z-limit", 1, 0, 'z'},
                                       {"commands-in", 1, 0, 'c'}, {"commands-out", 1, 0, 'C'},
                                       {"help", 0, 0, 'h'},        {0, 0, 0, 0}};
    int c;
    a->brokers = "127.0.0.1:9092";
    a->in = "telemetry";
    a->out = "analytics";
    a->group = "sluice-analytics";
    a->window_ms = 60000;
    a->z = 4;
    a->cmd_in = "console-commands";
    a->cmd_out = "commands";
    while ((c = getopt_long(argc, argv, "b:t:o:g:w:z:c:C:h", lo, NULL)) != -1) {
        switch (c) {
        case 'b':
            a->brokers = optarg;
            break;
        case 't':
            a->in = optarg;
            break;
        case 'o':
            a->out = optarg;
            break;
        case 'g':
            a->group = optarg;
            break;
        case 'w':
            a->window_ms = (int64_t)(atof(optarg) * 1000);
            break;
        case 'z':
            a->z = atof(optarg);
            break;
        case 'c':
            a->cmd_in = *optarg ? optarg : NULL;
            break;
        case 'C':
            a->cmd_out = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc || a->window_ms <= 0 || a->z <= 0) {
        fprintf(stderr, "sluice-analytics: bad arguments; see --help\n");
        return -1;
    }
    return 0;
}

static rd_kafka_t *client(app_t *a, rd_kafka_type_t type)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_opaque(conf, a);
    /* a topic created after we start is seen within a second, not five minutes */
    const char *common[][2] = {{"bootstrap.servers", a->brokers},
                               {"client.id", "sluice-analytics"},
                               {"topic.metadata.refresh.interval.ms", "1000"}};
    const char *cons[][2] = {{"group.id", a->group},
                             {"enable.auto.commit", "false"},
                             {"auto.offset.reset", "earliest"},
                             {"enable.partition.eof", "false"}};
    const char *prod[][2] = {{"acks", "all"}, {"linger.ms", "20"}, {"enable.idempotence", "true"}};
    bool c = type == RD_KAFKA_CONSUMER;
    const size_t nc = sizeof(common) / sizeof(common[0]);
    const size_t n = c ? sizeof(cons) / sizeof(cons[0]) : sizeof(prod) / sizeof(prod[0]);
    for (size_t i = 0; i < nc + n; i++) {
        const char *const *kv = i < nc ? common[i] : c ? cons[i - nc] : prod[i - nc];
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK) goto fail;
    }
    if (c)
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    else
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (rk) return rk;
    conf = NULL; /* rd_kafka_new frees conf only on success; on failure it is ours */
fail:
    fprintf(stderr, "sluice-analytics: %s\n", err);
    if (conf) rd_kafka_conf_destroy(conf);
    return NULL;
}

int main(int argc, char **argv)
{
    app_t a = {0};
    if (parse_opts(&a, argc, argv)) return 2;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    a.cap_dirty = 4096;
    a.dirty = calloc(a.cap_dirty, sizeof(*a.dirty));
    if (!a.dirty || !(a.cons = client(&a, RD_KAFKA_CONSUMER)) ||
        !(a.prod = client(&a, RD_KAFKA_PRODUCER)))
        return 1;
    rd_kafka_poll_set_consumer(a.cons);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(topics, a.in, RD_KAFKA_PARTITION_UA);
    if (a.cmd_in) rd_kafka_topic_partition_list_add(topics, a.cmd_in, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(a.cons, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        fprintf(stderr, "sluice-analytics: subscribe %s: %s\n", a.in, rd_kafka_err2str(e));
        return 1;
    }
    fprintf(stderr, "sluice-analytics: %s -> %s, group %s, window %llds\n", a.in, a.out, a.group,
            (long long)(a.window_ms / 1000));
    while (!stopping)
        batch(&a);
    rd_kafka_consumer_close(a.cons);
    rd_kafka_destroy(a.cons);
    rd_kafka_flush(a.prod, 2000);
    rd_kafka_destroy(a.prod);
    tdestroy(a.devices, free);
    free(a.dirty);
    fprintf(stderr,
            "sluice-analytics: stopped (%llu results, %llu commands relayed, %llu commits)\n",
            a.results, a.relayed, a.commits);
    return 0;
}
