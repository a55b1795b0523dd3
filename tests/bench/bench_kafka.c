/* The Kafka reader of the bridge scenario: a librdkafka consumer on its own
 * thread that reads back the records the broker's to_kafka rule produced,
 * and measures MQTT publish -> Kafka consumer latency from the timestamp in
 * the payload (raw record format: the value is the MQTT payload).
 *
 * No consumer group membership: every partition of the topic is assigned
 * explicitly at its current end (high watermark), before any publisher
 * connects. Nothing this run produces can be skipped, nothing an earlier run
 * left in the topic is read, and there is no rebalance to wait for.
 *
 * Threads: bench_kafka_start() and bench_kafka_stop() run on the main
 * thread; between them only the reader thread touches the consumer and its
 * counters, and publishes snapshots through relaxed atomics. The reader
 * writes row b->nw of b->echo (the end-to-end window of the publishers). */
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define KAFKA_SETUP_MS 10000 /* metadata, topic creation and offsets, in all */
#define KAFKA_POLL_MS 50
struct bench_kafka {
    struct bench *b;
    rd_kafka_t *rk;
    pthread_t th;
    bool running;
    _Atomic bool stop;
    /* owned by the reader thread until it is joined */
    struct seqmap *seen; /* [publisher]: records read */
    struct bench_kafka_stats st;
    uint64_t warm_end, meas_end;
    bool run_seen;
    /* snapshots for the main thread */
    _Atomic uint64_t a_recv_all, a_recv_match;
    /* written from librdkafka callbacks, read after the thread is joined */
    pthread_mutex_t lock;
    char last_error[160];
};

static void kafka_note(struct bench_kafka *k, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&k->lock);
    va_start(ap, fmt);
    vsnprintf(k->last_error, sizeof(k->last_error), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&k->lock);
}

/* librdkafka logs to stderr by default, once per reconnect attempt: the
 * reader keeps the last error instead and the report prints it once. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

static void kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct bench_kafka *k = opaque;
    k->st.errors++;
    kafka_note(k, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                     size_t errlen)
{
    return rd_kafka_conf_set(conf, name, value, err, errlen) == RD_KAFKA_CONF_OK ? 0 : -1;
}

static rd_kafka_t *kafka_consumer(struct bench_kafka *k, char *err, size_t errlen)
{
    const struct bench_opts *o = &k->b->o;
    char group[64];
    snprintf(group, sizeof(group), "sluice-bench-%d-%llu", (int)getpid(),
             (unsigned long long)bench_now());
    /* fetch.wait.max.ms: how long an empty fetch waits (the mock cluster
     * answers an empty fetch after this wait even when records arrive
     * meanwhile), so it is added to the latency of a record that finds the
     * reader idle: 1 ms costs ~2 % of a core at 10,000 records/s and takes
     * ~2 ms off the p50 measured with the default 5 ms. */
    const char *props[][2] = {
        {"bootstrap.servers", o->kafka},
        {"group.id", group},
        {"client.id", "sluice-bench"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"allow.auto.create.topics", "true"},
        {"enable.partition.eof", "false"},
        {"fetch.wait.max.ms", "1"},
        {"log.connection.close", "false"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
        if (kafka_set(conf, props[i][0], props[i][1], err, errlen) < 0) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_error_cb(conf, kafka_error);
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!rk) {
        rd_kafka_conf_destroy(conf); /* not taken over on failure */
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Serves librdkafka's callbacks (errors) for up to ms while nothing is
 * assigned yet; whatever error event comes back is kept as the last error. */
static void kafka_serve(struct bench_kafka *k, int ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, ms);
    if (!m) return;
    if (m->err) kafka_note(k, "%s: %s", rd_kafka_err2name(m->err), rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
}

static int ms_left(uint64_t deadline)
{
    uint64_t now = bench_now();
    return now >= deadline ? 0 : (int)((deadline - now) / 1000000ull);
}

/* Partition count of the topic; the metadata request creates the topic when
 * it does not exist yet (the mock cluster and brokers with auto-create on),
 * so that the reader is in place before the first record. */
static int kafka_partitions(struct bench_kafka *k, uint64_t deadline, char *err, size_t errlen)
{
    const char *topic = k->b->o.kafka_topic;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
    if (!rkt) {
        snprintf(err, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
    }
    int n = -1;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (n < 0 && ms_left(deadline) > 0) {
        const struct rd_kafka_metadata *md = NULL;
        int ms = ms_left(deadline) < 2000 ? ms_left(deadline) : 2000;
        e = rd_kafka_metadata(k->rk, 0, rkt, &md, ms);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
            e = md->topics[0].err;
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0)
                n = md->topics[0].partition_cnt;
        }
        if (md) rd_kafka_metadata_destroy(md);
        if (n < 0 && ms_left(deadline) > 0) kafka_serve(k, 100);
    }
    rd_kafka_topic_destroy(rkt);
    if (n < 0) {
        char last[160];
        pthread_mutex_lock(&k->lock);
        snprintf(last, sizeof(last), "%s", k->last_error);
        pthread_mutex_unlock(&k->lock);
        snprintf(err, errlen, "no metadata for topic %s from %s within %d s: %s%s%s", topic,
                 k->b->o.kafka, KAFKA_SETUP_MS / 1000, rd_kafka_err2name(e), last[0] ? "; " : "",
                 last);
    }
    return n;
}

/* Assigns every partition at its high watermark. */
static int kafka_assign(struct bench_kafka *k, int nparts, uint64_t deadline, char *err,
                        size_t errlen)
{
    const char *topic = k->b->o.kafka_topic;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    int rc = -1;
    for (int p = 0; p < nparts; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (ms_left(deadline) > 0)
            e = rd_kafka_query_watermark_offsets(k->rk, topic, p, &lo, &hi, ms_left(deadline));
        if (e) {
            snprintf(err, errlen, "offsets of %s [%d]: %s", topic, p, rd_kafka_err2name(e));
            goto out;
        }
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = hi;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(k->rk, l);
    if (e) {
        snprintf(err, errlen, "assign %s: %s", topic, rd_kafka_err2name(e));
        goto out;
    }
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

static void kafka_record(struct bench_kafka *k, const rd_kafka_message_t *m, uint64_t now)
{
    struct bench *b = k->b;
    k->st.recv_all++;
    uint64_t ts, tag;
    if (m->len < 16) {
        k->st.foreign++;
        return;
    }
    memcpy(&ts, m->payload, 8);
    memcpy(&tag, (const uint8_t *)m->payload + 8, 8);
    uint64_t pub = tag >> TAG_SEQ_BITS, seq = tag & TAG_SEQ_MASK;
    /* A publisher's records are read in order (one key, one partition), so
     * its sequence numbers grow one by one. */
    if (pub >= (uint64_t)b->npubs || !seqmap_plausible(&k->seen[pub], seq)) {
        k->st.foreign++;
        return;
    }
    if (seqmap_test_set(&k->seen[pub], seq)) {
        k->st.dups++;
        return;
    }
    if (k->run_seen && now >= k->warm_end && now < k->meas_end) k->st.recv_win++;
    /* single writer per slot: this thread */
    _Atomic uint64_t *e = &b->echo[(size_t)b->nw * (size_t)b->npubs + pub];
    atomic_store_explicit(e, atomic_load_explicit(e, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (k->run_seen && ts >= k->warm_end && ts < k->meas_end) {
        k->st.recv_match++;
        bench_hist_record(&k->st.hist, now > ts ? now - ts : 0);
    }
}

static void *kafka_main(void *arg)
{
    struct bench_kafka *k = arg;
    struct bench *b = k->b;
    while (!atomic_load_explicit(&k->stop, memory_order_relaxed)) {
        if (!k->run_seen && atomic_load_explicit(&b->phase, memory_order_acquire) >= PH_RUN) {
            k->warm_end = b->warm_end;
            k->meas_end = b->meas_end;
            k->run_seen = true;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, KAFKA_POLL_MS);
        if (!m) continue;
        uint64_t now = bench_now();
        if (m->err) {
            k->st.errors++;
            kafka_note(k, "%s: %s", rd_kafka_err2name(m->err), rd_kafka_message_errstr(m));
        } else {
            kafka_record(k, m, now);
        }
        rd_kafka_message_destroy(m);
        atomic_store_explicit(&k->a_recv_all, k->st.recv_all, memory_order_relaxed);
        atomic_store_explicit(&k->a_recv_match, k->st.recv_match, memory_order_relaxed);
    }
    return NULL;
}

struct bench_kafka *bench_kafka_start(struct bench *b, char *err, size_t errlen)
{
    struct bench_kafka *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->b = b;
    pthread_mutex_init(&k->lock, NULL);
    k->seen = calloc((size_t)b->npubs + 1, sizeof(*k->seen));
    if (!k->seen) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    k->rk = kafka_consumer(k, err, errlen);
    if (!k->rk) goto fail;
    uint64_t deadline = bench_now() + KAFKA_SETUP_MS * 1000000ull;
    int nparts = kafka_partitions(k, deadline, err, errlen);
    if (nparts < 0 || kafka_assign(k, nparts, deadline, err, errlen) < 0) goto fail;
    k->st.partitions = nparts;
    /* Connection errors before the topic was found are setup noise. */
    k->st.errors = 0;
    kafka_note(k, "%s", "");
    if (pthread_create(&k->th, NULL, kafka_main, k) != 0) {
        snprintf(err, errlen, "cannot start the reader thread");
        goto fail;
    }
    k->running = true;
    return k;
fail:
    bench_kafka_free(k);
    return NULL;
}

void bench_kafka_counts(struct bench_kafka *k, uint64_t *recv_all, uint64_t *recv_match)
{
    *recv_all = atomic_load_explicit(&k->a_recv_all, memory_order_relaxed);
    *recv_match = atomic_load_explicit(&k->a_recv_match, memory_order_relaxed);
}

const struct seqmap *bench_kafka_seen(const struct bench_kafka *k)
{
    return k->seen;
}

const struct bench_kafka_stats *bench_kafka_stop(struct bench_kafka *k)
{
    if (k->running) {
        atomic_store_explicit(&k->stop, true, memory_order_relaxed);
        pthread_join(k->th, NULL); /* bounded: one poll of KAFKA_POLL_MS */
        k->running = false;
    }
    pthread_mutex_lock(&k->lock);
    snprintf(k->st.last_error, sizeof(k->st.last_error), "%s", k->last_error);
    pthread_mutex_unlock(&k->lock);
    return &k->st;
}

void bench_kafka_free(struct bench_kafka *k)
{
    if (!k) return;
    bench_kafka_stop(k);
    /* No group to leave and nothing to commit: skip the consumer close,
     * which would wait for a coordinator that may be gone. */
    if (k->rk) rd_kafka_destroy_flags(k->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    for (int i = 0; k->seen && i < k->b->npubs; i++)
        seqmap_free(&k->seen[i]);
    free(k->seen);
    pthread_mutex_destroy(&k->lock);
    free(k);
}
