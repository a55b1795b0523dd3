/*
 * bridge_cluster.c - the cluster's producer (bridge_cluster.h): one
 * idempotent acks=all producer for the four internal topics, its poll
 * thread, and the API the broker calls. The reader is
 * bridge_cluster_read.c.
 *
 * No message timeout: a record waits for Kafka as long as it takes, so an
 * acknowledgement that waits for it (QoS 1/2) is late, never wrong; what
 * cannot even be queued (librdkafka's queue is full) is refused at once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge_int.h"
#include "cluster_int.h"

/* A delivery report's opaque: a waiter, or which counter a record bumps. */
typedef struct waiter {
    bridge_ack_fn fn;
    void *arg;
    int t;
    /* stored with release as the last write before rd_kafka_producev and
     * loaded with acquire first in the delivery report: librdkafka's
     * queues order the two, but ThreadSanitizer cannot see inside the
     * library (the bridge's rec_t does the same) */
    atomic_bool handed;
} waiter_t;

int64_t bridge_cluster_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_acked(struct bridge_cluster *c, int t, bool ok)
{
    if (t == CT_MSGS) atomic_fetch_add(ok ? &c->msgs_acked : &c->msgs_failed, 1);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rm, void *opaque)
{
    struct bridge_cluster *c = opaque;
    bool ok = rm->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (ok) atomic_store(&c->down_since, 0);
    uintptr_t o = (uintptr_t)rm->_private;
    if (o < CT_N) {
        count_acked(c, (int)o, ok);
        return;
    }
    waiter_t *w = rm->_private;
    (void)atomic_load_explicit(&w->handed, memory_order_acquire);
    count_acked(c, w->t, ok);
    w->fn(w->arg, ok ? 0 : -1);
    free(w);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct bridge_cluster *c = opaque;
    int64_t zero = 0;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__RESOLVE ||
        err == RD_KAFKA_RESP_ERR__TRANSPORT)
        atomic_compare_exchange_strong(&c->down_since, &zero, bridge_now_ms());
}

static int conf_set(rd_kafka_conf_t *kc, const char *k, const char *v, char *err, size_t errlen)
{
    char kerr[256];
    if (rd_kafka_conf_set(kc, k, v, kerr, sizeof(kerr)) == RD_KAFKA_CONF_OK) return 0;
    snprintf(err, errlen, "cluster: %s: %s", k, kerr);
    return -1;
}

static rd_kafka_t *producer_new(struct bridge_cluster *c, char *err, size_t errlen)
{
    rd_kafka_conf_t *kc = bridge_producer_conf(c->cfg, err, errlen);
    if (!kc) return NULL;
    /* no timeout (see the top), and a short linger: cluster traffic is
     * latency, not bulk */
    if (conf_set(kc, "message.timeout.ms", "0", err, errlen) ||
        conf_set(kc, "linger.ms", "1", err, errlen) ||
        conf_set(kc, "client.id", "sluice-cluster", err, errlen))
        goto fail;
    for (size_t i = 0; i < c->cfg->kafka.n_properties; i++) /* the operator's word wins */
        if (conf_set(kc, c->cfg->kafka.properties[i].key, c->cfg->kafka.properties[i].value, err,
                     errlen))
            goto fail;
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_error_cb(kc, error_cb);
    rd_kafka_conf_set_opaque(kc, c);
    char kerr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, kerr, sizeof(kerr));
    if (rk) return rk;
    snprintf(err, errlen, "cluster: cannot create the producer: %s", kerr);
fail:
    rd_kafka_conf_destroy(kc);
    return NULL;
}

int bridge_cluster_new(const cfg_t *cfg, const bridge_cluster_hooks_t *hooks,
                       bridge_cluster_t **out, char *err, size_t errlen)
{
    if (!cfg->cluster.enabled || !cfg->kafka.bootstrap || !cfg->node_id) {
        snprintf(err, errlen, "cluster: needs cluster.enabled, kafka.bootstrap and node_id");
        return BRIDGE_ERR;
    }
    struct bridge_cluster *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "cluster: out of memory");
        return BRIDGE_ERR;
    }
    c->cfg = cfg;
    c->hooks = *hooks;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->rp_mu, NULL);
    pthread_cond_init(&c->rp_cv, NULL);
    static const char *const suffix[CT_N] = {"msgs", "retained", "interest", "nodes", "sessions"};
    for (int t = 0; t < CT_N; t++)
        snprintf(c->topic[t], sizeof(c->topic[t]), "%s.%s", cfg->cluster.topic_prefix, suffix[t]);
    /* a restarted node is a new incarnation: wall time and pid */
    if (hooks->incarnation)
        snprintf(c->inc, sizeof(c->inc), "%s", hooks->incarnation);
    else
        snprintf(
            c->inc, sizeof(c->inc), "%llx",
            (unsigned long long)((uint64_t)bridge_cluster_wall_ms() << 16 ^ (uint64_t)getpid()));
    c->hooks.incarnation = NULL;
    if (!(c->prod = producer_new(c, err, errlen)) ||
        bridge_cluster_reader_new(c, err, errlen) != 0) {
        bridge_cluster_free(c);
        return BRIDGE_ERR;
    }
    *out = c;
    return 0;
}

static void *poll_main(void *arg)
{
    struct bridge_cluster *c = arg;
    while (!atomic_load(&c->stopped))
        rd_kafka_poll(c->prod, 100);
    return NULL;
}

int bridge_cluster_start(bridge_cluster_t *c)
{
    if (pthread_create(&c->poll_thr, NULL, poll_main, c)) return BRIDGE_ERR;
    if (pthread_create(&c->read_thr, NULL, bridge_cluster_reader, c)) {
        atomic_store(&c->stopped, true);
        pthread_join(c->poll_thr, NULL);
        return BRIDGE_ERR;
    }
    c->started = true;
    return 0;
}

void bridge_cluster_loaded(struct bridge_cluster *c)
{
    pthread_mutex_lock(&c->mu);
    c->loaded = true;
    pthread_mutex_unlock(&c->mu);
}

rd_kafka_headers_t *bridge_cluster_headers(struct bridge_cluster *c)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "sluice.v", -1, CLUSTER_FORMAT, -1);
    rd_kafka_header_add(h, "sluice.cluster", -1, c->cfg->cluster.id, -1);
    rd_kafka_header_add(h, "sluice.node", -1, c->cfg->node_id, -1);
    rd_kafka_header_add(h, "sluice.inc", -1, c->inc, -1);
    return h;
}

int bridge_cluster_produce(struct bridge_cluster *c, int t, const void *key, size_t klen,
                           const void *val, size_t vlen, rd_kafka_headers_t *h, bridge_ack_fn fn,
                           void *arg)
{
    waiter_t *w = NULL;
    if (fn) {
        if (!(w = malloc(sizeof(*w)))) {
            rd_kafka_headers_destroy(h);
            return BRIDGE_FULL;
        }
        *w = (waiter_t){.fn = fn, .arg = arg, .t = t};
        atomic_store_explicit(&w->handed, true, memory_order_release);
    }
    rd_kafka_resp_err_t e =
        rd_kafka_producev(c->prod, RD_KAFKA_V_TOPIC(c->topic[t]), RD_KAFKA_V_KEY(key, klen),
                          RD_KAFKA_V_VALUE((void *)val, vlen),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                          RD_KAFKA_V_OPAQUE(w ? (void *)w : (void *)(uintptr_t)t), RD_KAFKA_V_END);
    if (e) { /* the headers stay ours on failure */
        rd_kafka_headers_destroy(h);
        free(w);
        return e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? BRIDGE_FULL : BRIDGE_ERR;
    }
    return w ? BRIDGE_PENDING : BRIDGE_DONE;
}

/* The headers of a message record (docs/CLUSTER.md, "Records"). */
static rd_kafka_headers_t *msg_headers(struct bridge_cluster *c, const bridge_msg_t *m,
                                       uint32_t expiry_s)
{
    rd_kafka_headers_t *h = bridge_cluster_headers(c);
    char q[2] = {(char)('0' + m->qos), 0}, ex[16];
    rd_kafka_header_add(h, "mqtt.qos", -1, q, 1);
    rd_kafka_header_add(h, "mqtt.retain", -1, m->retain ? "1" : "0", 1);
    rd_kafka_header_add(h, "mqtt.clientid", -1, m->clientid ? m->clientid : "", -1);
    if (m->props_len) rd_kafka_header_add(h, "sluice.props", -1, m->props, m->props_len);
    if (expiry_s) {
        snprintf(ex, sizeof(ex), "%u", expiry_s);
        rd_kafka_header_add(h, "mqtt.expiry", -1, ex, -1);
    }
    return h;
}

int bridge_cluster_publish(bridge_cluster_t *c, const bridge_msg_t *m, uint32_t expiry_s,
                           const void *share, size_t share_len, bridge_ack_fn fn, void *arg)
{
    if (atomic_load(&c->stop)) return BRIDGE_ERR;
    rd_kafka_headers_t *h = msg_headers(c, m, expiry_s);
    if (share_len) rd_kafka_header_add(h, "sluice.share", -1, share, (ssize_t)share_len);
    int rc = bridge_cluster_produce(c, CT_MSGS, m->topic, m->topic_len, m->payload, m->payload_len,
                                    h, fn, arg);
    if (rc >= 0) atomic_fetch_add(&c->msgs_produced, 1);
    return rc;
}

int bridge_cluster_retain(bridge_cluster_t *c, const bridge_msg_t *m, uint32_t expiry_s,
                          bridge_ack_fn fn, void *arg)
{
    if (atomic_load(&c->stop)) return BRIDGE_ERR;
    /* an empty payload is the tombstone: a delete, as in MQTT */
    int rc = bridge_cluster_produce(c, CT_RETAINED, m->topic, m->topic_len,
                                    m->payload_len ? m->payload : NULL, m->payload_len,
                                    msg_headers(c, m, expiry_s), fn, arg);
    if (rc >= 0) atomic_fetch_add(&c->retained_produced, 1);
    return rc;
}

const char *bridge_cluster_incarnation(const bridge_cluster_t *c)
{
    return c->inc;
}

int bridge_cluster_session(bridge_cluster_t *c, const char *key, size_t klen, const bridge_kv_t *h,
                           size_t n, const void *val, size_t vlen)
{
    rd_kafka_headers_t *hs = bridge_cluster_headers(c);
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(hs, h[i].name, -1, h[i].v, (ssize_t)h[i].len);
    int rc = bridge_cluster_produce(c, CT_SESSIONS, key, klen, val, vlen, hs, NULL, NULL);
    return rc < 0 ? rc : 0;
}

int bridge_cluster_interest(bridge_cluster_t *c, const char *filter, uint16_t len, bool on)
{
    size_t nl = strlen(c->cfg->node_id);
    char *key = malloc(nl + 1 + len);
    if (!key) return BRIDGE_FULL;
    memcpy(key, c->cfg->node_id, nl);
    key[nl] = ' ';
    memcpy(key + nl + 1, filter, len);
    int rc = bridge_cluster_produce(c, CT_INTEREST, key, nl + 1 + len, on ? "1" : NULL, on ? 1 : 0,
                                    bridge_cluster_headers(c), NULL, NULL);
    free(key);
    if (rc >= 0) atomic_fetch_add(&c->interest_produced, 1);
    return rc < 0 ? rc : 0;
}

void bridge_cluster_stop(bridge_cluster_t *c)
{
    if (!c || atomic_exchange(&c->stop, true) || !c->started) return;
    bridge_cluster_replay_stop(c);
    pthread_join(c->read_thr, NULL);
    /* goodbye: the others see this node leave now, not after the timeout */
    (void)bridge_cluster_produce(c, CT_NODES, c->cfg->node_id, strlen(c->cfg->node_id), NULL, 0,
                                 bridge_cluster_headers(c), NULL, NULL);
    rd_kafka_flush(c->prod, 3000);
    atomic_store(&c->stopped, true);
    pthread_join(c->poll_thr, NULL);
    c->started = false;
}

void bridge_cluster_free(bridge_cluster_t *c)
{
    if (!c) return;
    bridge_cluster_stop(c);
    if (c->cons) {
        rd_kafka_consumer_close(c->cons);
        rd_kafka_destroy(c->cons);
    }
    if (c->prod) {
        /* records never delivered still owe their waiters an answer */
        rd_kafka_purge(c->prod, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(c->prod, 0);
        rd_kafka_destroy(c->prod);
    }
    for (int t = 0; t < CT_N; t++) {
        free(c->pos[t]);
        free(c->eof[t]);
        free(c->hi0[t]);
    }
    free(c->sync_hi);
    free(c->nodes);
    free(c->msgs_start);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->rp_mu);
    pthread_cond_destroy(&c->rp_cv);
    free(c);
}

_Static_assert(CT_N == 5, "bridge_cluster_stats_t.lag_of has a slot per topic");

void bridge_cluster_get_stats(bridge_cluster_t *c, bridge_cluster_stats_t *o)
{
    memset(o, 0, sizeof(*o));
    o->msgs_produced = atomic_load(&c->msgs_produced);
    o->msgs_acked = atomic_load(&c->msgs_acked);
    o->msgs_failed = atomic_load(&c->msgs_failed);
    o->msgs_consumed = atomic_load(&c->msgs_consumed);
    o->msgs_delivered = atomic_load(&c->msgs_delivered);
    o->msgs_skipped = atomic_load(&c->msgs_skipped);
    o->retained_produced = atomic_load(&c->retained_produced);
    o->retained_applied = atomic_load(&c->retained_applied);
    o->interest_produced = atomic_load(&c->interest_produced);
    o->nodes = atomic_load(&c->nodes_up);
    int64_t down = atomic_load(&c->down_since);
    o->kafka_down_ms = down ? (uint64_t)(bridge_now_ms() - down) : 0;
    pthread_mutex_lock(&c->mu);
    o->loaded = c->loaded;
    pthread_mutex_unlock(&c->mu);
    for (int t = 0; t < CT_N && c->cons; t++)
        for (int32_t p = 0; p < c->parts[t] && c->pos[t]; p++) {
            int64_t lo, hi, at = atomic_load(&c->pos[t][p]);
            if (at >= 0 && !rd_kafka_get_watermark_offsets(c->cons, c->topic[t], p, &lo, &hi) &&
                hi > at)
                o->lag_of[t] += (uint64_t)(hi - at);
        }
    for (int t = 0; t < CT_N; t++)
        o->lag += o->lag_of[t];
}
