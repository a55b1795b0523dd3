/* sluice-bench: options, phases (setup, warmup, measure, drain, close) and
 * the report. See tests/bench/README.md for scenarios and output. */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice-bench SCENARIO [options]\n"
               "scenarios: pairs | fanout | fanin | conns | bridge\n"
               "  --host IP (127.0.0.1)  --port N (1883)  -t/--threads N (2)\n"
               "  --sub-host IP  --sub-port N (subscribers' broker, e.g. another cluster\n"
               "            node; default --host / --port)\n"
               "  --ready-cmd CMD (sh -c CMD once every connection is ready and subscribed,\n"
               "            before the warmup; exit != 0 fails the setup)\n"
               "  --qos 0|1|2  --size BYTES (>=16)  --rate MSGS/S total (0 = max)\n"
               "  --duration S (10)  --warmup S (2)  --drain S (5)  --setup-timeout S (60)\n"
               "  --ws [--ws-path /mqtt]  --v5  --inflight N (64)  --keepalive S (60)\n"
               "  --tls (TLS under MQTT or WebSocket; no certificate check)\n"
               "  --persistent (persistent sessions: clean session 0 / session expiry max)\n"
               "  --window N (deliveries not yet seen, all publishers, 8192;\n"
               "            0 = none: only each publisher's --inflight limits it)\n"
               "  --pairs N (100)  --subs M (1000)  --pubs N (fanout 1, fanin 1000)\n"
               "  --clients C (conns: 1000)  --src-ips A-B (conns: bind source addresses)\n"
               "  --prefix TOPIC/ (bench/<pid>/)  --connect-window N (per thread, 32)  --quiet\n"
               "  --user NAME  --pass PASSWORD (CONNECT credentials, every connection)\n"
               "bridge (--pairs N = N QoS 1 publishers, records read back from Kafka):\n"
               "  --kafka BOOTSTRAP (required)  --kafka-topic T (sluice-bench)\n");
}

static int parse_ip(const char *s, uint32_t *host_order)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1) return -1;
    *host_order = ntohl(a.s_addr);
    return 0;
}

static int parse_src(struct bench_opts *o, const char *arg)
{
    char first[32];
    const char *dash = strchr(arg, '-');
    size_t n = dash ? (size_t)(dash - arg) : strlen(arg);
    if (n >= sizeof(first)) return -1;
    memcpy(first, arg, n);
    first[n] = 0;
    if (parse_ip(first, &o->src_first) < 0) return -1;
    o->src_last = o->src_first;
    if (dash && parse_ip(dash + 1, &o->src_last) < 0) return -1;
    /* Loopback only: this tool is not for loading other people's hosts. */
    if ((o->src_first >> 24) != 127 || (o->src_last >> 24) != 127 || o->src_last < o->src_first)
        return -1;
    return 0;
}

static int parse_opts(struct bench_opts *o, int argc, char **argv)
{
    static char prefix[64];
    /* One option a line, whatever the count. */
    // clang-format off
    static const struct option lo[] = {
        {"host", 1, 0, 'h'},
        {"port", 1, 0, 'p'},
        {"threads", 1, 0, 't'},
        {"qos", 1, 0, 'q'},
        {"size", 1, 0, 's'},
        {"rate", 1, 0, 'r'},
        {"duration", 1, 0, 'd'},
        {"warmup", 1, 0, 'w'},
        {"drain", 1, 0, 'D'},
        {"ws", 0, 0, 'W'},
        {"ws-path", 1, 0, 'P'},
        {"tls", 0, 0, 'L'},
        {"v5", 0, 0, '5'},
        {"pairs", 1, 0, 'n'},
        {"subs", 1, 0, 'm'},
        {"pubs", 1, 0, 'N'},
        {"clients", 1, 0, 'c'},
        {"src-ips", 1, 0, 'S'},
        {"inflight", 1, 0, 'i'},
        {"prefix", 1, 0, 'x'},
        {"keepalive", 1, 0, 'k'},
        {"setup-timeout", 1, 0, 'T'},
        {"window", 1, 0, 'O'},
        {"connect-window", 1, 0, 'C'},
        {"quiet", 0, 0, 'Q'},
        {"persistent", 0, 0, 'E'},
        {"help", 0, 0, 'H'},
        {"kafka", 1, 0, 'K'},
        {"kafka-topic", 1, 0, 'U'},
        {"user", 1, 0, 'u'},
        {"pass", 1, 0, 'y'},
        {"sub-host", 1, 0, 'j'},
        {"sub-port", 1, 0, 'J'},
        {"ready-cmd", 1, 0, 'R'},
        {0, 0, 0, 0},
    };
    // clang-format on
    if (argc < 2 || argv[1][0] == '-') {
        usage(stderr);
        return -1;
    }
    const char *s = argv[1];
    if (!strcmp(s, "pairs"))
        o->scen = SCEN_PAIRS;
    else if (!strcmp(s, "fanout"))
        o->scen = SCEN_FANOUT;
    else if (!strcmp(s, "fanin"))
        o->scen = SCEN_FANIN;
    else if (!strcmp(s, "conns"))
        o->scen = SCEN_CONNS;
    else if (!strcmp(s, "bridge"))
        o->scen = SCEN_BRIDGE;
    else {
        fprintf(stderr, "sluice-bench: unknown scenario '%s'\n", s);
        return -1;
    }
    *o = (struct bench_opts){
        .scen = o->scen,
        .host = "127.0.0.1",
        .port = 1883,
        .threads = 2,
        .qos = 0,
        .size = 16,
        .duration = 10,
        .warmup = 2,
        .drain = 5,
        .setup_timeout = 60,
        .ws_path = "/mqtt",
        .pairs = 100,
        .subs = 1000,
        .pubs = -1,
        .clients = 1000,
        .inflight = 64,
        .window = 8192,
        .keepalive = 60,
        .connect_window = 32,
        .rbuf = 64 * 1024,
        .kafka_topic = "sluice-bench",
    };
    if (o->scen == SCEN_BRIDGE) o->qos = 1;
    if (o->scen == SCEN_CONNS) {
        o->keepalive = 300;
        o->rbuf = 1024;
        o->connect_window = 32;
    }
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "t:", lo, NULL)) != -1) {
        switch (ch) {
        case 'h':
            o->host = optarg;
            break;
        case 'p':
            o->port = atoi(optarg);
            break;
        case 'j':
            o->sub_host = optarg;
            break;
        case 'J':
            o->sub_port = atoi(optarg);
            break;
        case 'R':
            o->ready_cmd = optarg;
            break;
        case 't':
            o->threads = atoi(optarg);
            break;
        case 'q':
            o->qos = atoi(optarg);
            break;
        case 's':
            o->size = (size_t)atol(optarg);
            break;
        case 'r':
            o->rate = atof(optarg);
            break;
        case 'd':
            o->duration = atof(optarg);
            break;
        case 'w':
            o->warmup = atof(optarg);
            break;
        case 'D':
            o->drain = atof(optarg);
            break;
        case 'W':
            o->ws = true;
            break;
        case 'L':
            o->tls = true;
            break;
        case 'P':
            o->ws_path = optarg;
            break;
        case '5':
            o->v5 = true;
            break;
        case 'n':
            o->pairs = atoi(optarg);
            break;
        case 'm':
            o->subs = atoi(optarg);
            break;
        case 'N':
            o->pubs = atoi(optarg);
            break;
        case 'c':
            o->clients = atoi(optarg);
            break;
        case 'i':
            o->inflight = atoi(optarg);
            break;
        case 'x':
            o->prefix = optarg;
            break;
        case 'u':
        case 'y':
            if (strlen(optarg) > 200) {
                fprintf(stderr, "sluice-bench: --user / --pass: at most 200 bytes\n");
                return -1;
            }
            *(ch == 'u' ? &o->user : &o->pass) = optarg;
            break;
        case 'k':
            o->keepalive = atoi(optarg);
            break;
        case 'E':
            o->persistent = true;
            break;
        case 'T':
            o->setup_timeout = atof(optarg);
            break;
        case 'C':
            o->connect_window = atoi(optarg);
            break;
        case 'Q':
            o->quiet = true;
            break;
        case 'O':
            o->window = atoi(optarg);
            break;
        case 'K':
            o->kafka = optarg;
            break;
        case 'U':
            o->kafka_topic = optarg;
            break;
        case 'S':
            if (parse_src(o, optarg) < 0) {
                fprintf(stderr, "sluice-bench: --src-ips wants 127.a.b.c-127.d.e.f\n");
                return -1;
            }
            break;
        case 'H':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (o->pubs < 0) o->pubs = o->scen == SCEN_FANIN ? 1000 : 1;
    if (!o->prefix) {
        snprintf(prefix, sizeof(prefix), "bench/%d/", (int)getpid());
        o->prefix = prefix;
    }
    if (!strcmp(o->host, "localhost")) o->host = "127.0.0.1";
    uint32_t hip;
    if (parse_ip(o->host, &hip) < 0 || (hip >> 24) != 127) {
        fprintf(stderr, "sluice-bench: --host must be a loopback IPv4 address\n");
        return -1;
    }
    o->host_ip = htonl(hip);
    if (!o->sub_host) o->sub_host = o->host;
    if (!o->sub_port) o->sub_port = o->port;
    if (!strcmp(o->sub_host, "localhost")) o->sub_host = "127.0.0.1";
    if (parse_ip(o->sub_host, &hip) < 0 || (hip >> 24) != 127) {
        fprintf(stderr, "sluice-bench: --sub-host must be a loopback IPv4 address\n");
        return -1;
    }
    o->sub_host_ip = htonl(hip);
    if ((o->scen == SCEN_BRIDGE) != (o->kafka != NULL)) {
        fprintf(stderr, "sluice-bench: %s\n",
                o->kafka
                    ? "--kafka is for the bridge scenario"
                    : "bridge needs --kafka BOOTSTRAP (the cluster the broker's rule writes to)");
        return -1;
    }
    if (!o->kafka_topic[0]) {
        fprintf(stderr, "sluice-bench: --kafka-topic must not be empty\n");
        return -1;
    }
    if (o->qos < 0 || o->qos > 2 || o->size < 16 || o->size > 1024 * 1024 || o->threads < 1 ||
        o->threads > 64 || o->duration <= 0 || o->duration > 3600 || o->warmup < 0 ||
        o->drain < 0 || o->drain > 600 || o->inflight < 1 || o->inflight > 65000 || o->window < 0 ||
        o->connect_window < 1 || o->port <= 0 || o->port > 65535 || o->sub_port <= 0 ||
        o->sub_port > 65535 || o->rate < 0 || o->keepalive < 0 || o->keepalive > 65535) {
        fprintf(stderr, "sluice-bench: option out of range (see --help)\n");
        return -1;
    }
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct totals {
    uint64_t sent_win, recv_all, recv_match, inflight, outq;
    int ready, failed;
};

static struct totals snapshot(struct bench *b)
{
    struct totals t = {0};
    for (int i = 0; i < b->nw; i++) {
        struct worker *w = &b->w[i];
        t.sent_win += atomic_load_explicit(&w->a_sent_win, memory_order_relaxed);
        t.recv_all += atomic_load_explicit(&w->a_recv_all, memory_order_relaxed);
        t.recv_match += atomic_load_explicit(&w->a_recv_match, memory_order_relaxed);
        t.inflight += atomic_load_explicit(&w->a_inflight, memory_order_relaxed);
        t.outq += atomic_load_explicit(&w->a_outq, memory_order_relaxed);
        t.ready += atomic_load_explicit(&w->a_ready, memory_order_relaxed);
        t.failed += atomic_load_explicit(&w->a_failed, memory_order_relaxed);
    }
    if (b->kafka) {
        /* The Kafka reader is the subscriber side of the bridge scenario. */
        uint64_t all, match;
        bench_kafka_counts(b->kafka, &all, &match);
        t.recv_all += all;
        t.recv_match += match;
    }
    return t;
}

/* Waits for all deliveries of what was sent in the window, or for the
 * stream to go quiet with nothing in flight (QoS 0 may drop; at QoS > 0 a
 * broker that dropped acknowledged messages will not deliver them later),
 * bounded by --drain. Quiet is 2 s: Mosquitto pauses for up to about a
 * second while it works off a queue, and a backlog still coming must not be
 * counted as lost. Without loss the drain ends as soon as all arrived. */
static void drain(struct bench *b)
{
    uint64_t deadline = bench_now() + (uint64_t)(b->o.drain * 1e9);
    const uint64_t quiet = 2000000000ull;
    uint64_t last = ~0ull, quiet_since = bench_now();
    while (bench_now() < deadline) {
        struct totals t = snapshot(b);
        uint64_t expected = t.sent_win * b->factor;
        if (t.inflight == 0 && t.outq == 0 && t.recv_match >= expected) return;
        if (t.recv_all != last) {
            last = t.recv_all;
            quiet_since = bench_now();
        } else if (t.inflight == 0 && t.outq == 0 && bench_now() - quiet_since > quiet) {
            return;
        }
        sleep_ms(10);
    }
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

/* The bridge's Kafka side in the human summary. */
static void report_kafka(const struct bench *b, const struct bench_kafka_stats *ks)
{
    const struct bench_opts *o = &b->o;
    double d = o->duration;
    printf("  kafka       %llu records read back in window (%.0f records/s), topic %s, "
           "%d partition(s) at %s\n",
           (unsigned long long)ks->recv_win, (double)ks->recv_win / d, o->kafka_topic,
           ks->partitions, o->kafka);
    if (ks->foreign)
        printf("  foreign     %llu records not from this run's publishers (is the rule's format "
               "raw?)\n",
               (unsigned long long)ks->foreign);
    if (ks->errors || ks->last_error[0])
        printf("  kafka errs  %llu, last: %s\n", (unsigned long long)ks->errors,
               ks->last_error[0] ? ks->last_error : "-");
}

/* After the RESULT line, so that it does not split the summary. */
static void warn_kafka(const struct bench *b, const struct bench_kafka_stats *ks,
                       const struct bench_loss *l)
{
    const struct bench_opts *o = &b->o;
    if (l->sent && ks->recv_all == 0)
        fprintf(stderr,
                "sluice-bench: no record read back from Kafka topic %s at %s: does a to_kafka "
                "rule map %s# to it (format raw)?\n",
                o->kafka_topic, o->kafka, o->prefix);
    else if (l->lost)
        fprintf(stderr,
                "sluice-bench: %llu of %llu acknowledged records sent in the window missing in "
                "Kafka\n",
                (unsigned long long)l->lost, (unsigned long long)l->acked);
}

/* sent, acked, delivered, lost, duplicated: every scenario, same words. */
static void report_loss(const struct bench *b, const struct bench_loss *l, uint64_t recv_win)
{
    const struct bench_opts *o = &b->o;
    double d = o->duration;
    uint64_t base = o->qos ? l->acked * b->factor : l->expected;
    printf("  sent        %llu in window (%.0f msg/s)\n", (unsigned long long)l->sent,
           (double)l->sent / d);
    if (o->qos)
        printf("  acked       %llu of them (%llu never acknowledged)\n",
               (unsigned long long)l->acked, (unsigned long long)(l->sent - l->acked));
    printf("  delivered   %llu of %llu expected by the end of the drain; %llu arrived in the "
           "window (%.0f msg/s)\n",
           (unsigned long long)l->delivered, (unsigned long long)l->expected,
           (unsigned long long)recv_win, (double)recv_win / d);
    printf("  lost        %llu of %llu %s (%.4f%%)%s\n", (unsigned long long)l->lost,
           (unsigned long long)base, o->qos ? "acknowledged deliveries" : "expected",
           base ? 100.0 * (double)l->lost / (double)base : 0,
           o->qos ? (l->lost ? "  ** ACKNOWLEDGED, THEN LOST **" : "") : " (QoS 0 may drop)");
    printf("  duplicated  %llu", (unsigned long long)l->dups);
    if (l->foreign) printf(", foreign %llu", (unsigned long long)l->foreign);
    if (l->bad_acks) printf(", acks for nothing outstanding %llu", (unsigned long long)l->bad_acks);
    printf("\n");
}

/* Prints the summary and the RESULT line; returns the messages lost. */
static uint64_t report(struct bench *b, double setup_s, int failed_setup)
{
    const struct bench_opts *o = &b->o;
    struct bench_hist *h = calloc(1, sizeof(*h));
    uint64_t recv_win = 0, acked_win = 0, errors = 0, ready = 0, total = 0;
    for (int i = 0; i < b->nw && h; i++) {
        struct worker *w = &b->w[i];
        bench_hist_merge(h, &w->hist);
        total += w->recv_all;
        recv_win += w->recv_win;
        acked_win += w->acked_win;
        errors += w->errors;
        ready += (uint64_t)w->ready;
    }
    if (!h) return 0;
    const struct bench_kafka_stats *ks = b->kafka ? bench_kafka_stop(b->kafka) : NULL;
    if (ks) {
        /* Read back from Kafka: the records are the deliveries. */
        bench_hist_merge(h, &ks->hist);
        total += ks->recv_all;
        recv_win += ks->recv_win;
    }
    struct bench_loss l;
    bench_loss_tally(b, &l);
    double d = o->duration;
    double setup_rate = setup_s > 0 ? (double)ready / setup_s : 0;
    const char *tr = o->ws ? (o->tls ? "wss" : "ws") : (o->tls ? "tls" : "tcp");
    const char *pv = o->v5 ? "5.0" : "3.1.1";
    printf("sluice-bench %s: %s MQTT %s qos%d size=%zu pubs=%d subs=%d conns=%d threads=%d "
           "rate=%s%.0f window=%d inflight=%d warmup=%.1fs duration=%.1fs\n",
           bench_scen_name(o->scen), tr, pv, o->qos, o->size, b->npubs, b->nsubs, b->nconns, b->nw,
           o->rate > 0 ? "" : "max/", o->rate, o->window, o->inflight, o->warmup, d);
    printf("  connections %llu of %d ready in %.3f s (%.0f conns/s)\n", (unsigned long long)ready,
           b->nconns, setup_s, setup_rate);
    if (o->scen != SCEN_CONNS) {
        report_loss(b, &l, recv_win);
        if (o->qos)
            printf("  acks/s      %.0f (acks received in the window)\n", (double)acked_win / d);
        if (ks) report_kafka(b, ks);
        printf("  latency us  %sp50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%llu samples)\n",
               ks ? "MQTT publish -> Kafka consumer: " : "", us(bench_hist_quantile(h, 0.5)),
               us(bench_hist_quantile(h, 0.99)), us(bench_hist_quantile(h, 0.999)), us(h->max),
               (unsigned long long)h->count);
    }
    /* msgs_per_s: first deliveries that arrived during the window, per
     * second: what a broker acknowledged but did not deliver is no rate. */
    printf("RESULT scenario=%s transport=%s proto=%s qos=%d size=%zu conns=%d pubs=%d subs=%d "
           "threads=%d rate=%.0f window=%d inflight=%d duration=%.1f sent=%llu acked=%llu "
           "expected=%llu delivered=%llu lost=%llu dups=%llu received=%llu msgs_per_s=%.0f "
           "sent_per_s=%.0f acks_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
           "ready=%llu setup_s=%.3f setup_conns_per_s=%.0f errors=%llu setup_failed=%d "
           "delivered_total=%llu foreign=%llu bad_acks=%llu",
           bench_scen_name(o->scen), tr, pv, o->qos, o->size, b->nconns, b->npubs, b->nsubs, b->nw,
           o->rate, o->window, o->inflight, d, (unsigned long long)l.sent,
           (unsigned long long)l.acked, (unsigned long long)l.expected,
           (unsigned long long)l.delivered, (unsigned long long)l.lost, (unsigned long long)l.dups,
           (unsigned long long)recv_win, (double)recv_win / d, (double)l.sent / d,
           (double)acked_win / d, us(bench_hist_quantile(h, 0.5)), us(bench_hist_quantile(h, 0.99)),
           us(bench_hist_quantile(h, 0.999)), us(h->max), (unsigned long long)ready, setup_s,
           setup_rate, (unsigned long long)errors, failed_setup, (unsigned long long)total,
           (unsigned long long)l.foreign, (unsigned long long)l.bad_acks);
    if (ks)
        printf(" kafka_per_s=%.0f kafka_errors=%llu", (double)ks->recv_win / d,
               (unsigned long long)ks->errors);
    printf("\n");
    fflush(stdout);
    if (ks) warn_kafka(b, ks, &l);
    free(h);
    return l.lost;
}

int main(int argc, char **argv)
{
    struct bench *b = calloc(1, sizeof(*b));
    if (!b || parse_opts(&b->o, argc, argv) < 0) return 2;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (bench_plan(b) < 0) return 2;
    if (b->o.tls && bench_tls_init() < 0) {
        fprintf(stderr, "sluice-bench: TLS: cannot create the client context\n");
        return 2;
    }
    if (b->o.scen == SCEN_BRIDGE) {
        /* Before any publisher connects: the reader must not miss a record. */
        char err[256];
        b->kafka = bench_kafka_start(b, err, sizeof(err));
        if (!b->kafka) {
            fprintf(stderr, "sluice-bench: Kafka: %s\n", err);
            return 3;
        }
    }
    atomic_store(&b->phase, PH_SETUP);
    int started = 0;
    for (; started < b->nw; started++)
        if (pthread_create(&b->w[started].th, NULL, bench_worker_main, &b->w[started]) != 0) break;
    uint64_t t_setup = bench_now();
    uint64_t deadline = t_setup + (uint64_t)(b->o.setup_timeout * 1e9);
    int failed_setup = started < b->nw;
    for (;;) {
        struct totals t = snapshot(b);
        if (t.failed || failed_setup) {
            fprintf(stderr, "sluice-bench: %d connection(s) failed during setup\n", t.failed);
            failed_setup = 1;
            break;
        }
        if (t.ready == b->nconns) break;
        if (bench_now() > deadline) {
            fprintf(stderr, "sluice-bench: setup timed out: %d of %d connections ready\n", t.ready,
                    b->nconns);
            failed_setup = 1;
            break;
        }
        sleep_ms(2);
    }
    uint64_t first = ~0ull, last = 0;
    for (int i = 0; i < b->nw; i++) {
        if (b->w[i].setup_first && b->w[i].setup_first < first) first = b->w[i].setup_first;
        if (b->w[i].setup_last > last) last = b->w[i].setup_last;
    }
    double setup_s = last > first ? (double)(last - first) / 1e9 : 0;
    if (!failed_setup && b->o.ready_cmd) {
        /* e.g. until another cluster node knows the subscriptions: the
         * connections stay up (workers answer, ping) while it runs. */
        int rc = system(b->o.ready_cmd);
        if (rc != 0) {
            fprintf(stderr, "sluice-bench: --ready-cmd failed (status %d): %s\n", rc,
                    b->o.ready_cmd);
            failed_setup = 1;
        }
    }
    if (!failed_setup) {
        b->t0 = bench_now();
        b->warm_end = b->t0 + (uint64_t)(b->o.warmup * 1e9);
        b->meas_end = b->warm_end + (uint64_t)(b->o.duration * 1e9);
        b->pub_rate_ns = b->npubs ? b->o.rate / b->npubs / 1e9 : 0;
        atomic_store_explicit(&b->phase, PH_RUN, memory_order_release);
        if (b->o.scen == SCEN_CONNS) printf("READY conns=%d setup_s=%.3f\n", b->nconns, setup_s);
        while (bench_now() < b->meas_end)
            sleep_ms(5);
        atomic_store_explicit(&b->phase, PH_DRAIN, memory_order_release);
        if (b->o.scen != SCEN_CONNS) drain(b);
    }
    atomic_store_explicit(&b->phase, PH_QUIT, memory_order_release);
    for (int i = 0; i < started; i++)
        pthread_join(b->w[i].th, NULL);
    uint64_t lost = report(b, setup_s, failed_setup);
    bench_kafka_free(b->kafka);
    uint64_t errors = 0;
    for (int i = 0; i < b->nw; i++)
        errors += b->w[i].errors;
    if (failed_setup || errors) return 1;
    /* A QoS 1 record acknowledged with ack: kafka is in Kafka: missing ones
     * are a failure of the bridge (or of the set-up), not noise. */
    return b->o.scen == SCEN_BRIDGE && lost ? 3 : 0;
}
