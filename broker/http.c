/*
 * http.c - the HTTP side of every listener that speaks HTTP (http, and ws/wss
 * before the upgrade). Only `http` listeners serve the endpoints (GET
 * /healthz, GET /metrics in Prometheus text format): ws/wss listeners are
 * device ports and answer 404 to anything that is not the MQTT upgrade on
 * their path. GET /readyz says whether the broker can take traffic without
 * loss (see readyz()). With "static_dir", everything else is a file from
 * that directory (http_static.c); without, 404. Responses are small and
 * written whole.
 *
 * protocols[0] of every vhost is this callback, so lws also asks it for the
 * verdict on a client certificate (mTLS listeners, see brk_http_callback).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "acl.h"
#include "api.h"
#include "bridge.h"
#include "brk.h"
#include "cluster.h"
#include "http_static.h"
#include "store.h"

typedef struct textbuf {
    char *p;
    size_t len, cap;
} textbuf_t;

static void put(textbuf_t *t, const char *name, const char *type, const char *help, uint64_t v)
{
    if (t->len >= t->cap) return;
    int n = snprintf(t->p + t->len, t->cap - t->len, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name,
                     help, name, type, name, (unsigned long long)v);
    if (n > 0) t->len += (size_t)n;
    if (t->len > t->cap) t->len = t->cap;
}

/* Kafka bridge figures: monotonic ones are counters (`_total`), the
 * current levels gauges. */
static void put_cluster(void *arg, const char *name, uint64_t v)
{
    static const char *const gauges[] = {"ready",          "nodes",       "remote_filters", "lag",
                                         "unreachable_ms", "wills_known", "wills_held",     NULL};
    bool gauge = !strncmp(name, "lag_", 4); /* per topic */
    for (int i = 0; gauges[i]; i++)
        gauge |= !strcmp(name, gauges[i]);
    char full[96];
    snprintf(full, sizeof(full), "sluice_cluster_%s%s", name, gauge ? "" : "_total");
    put(arg, full, gauge ? "gauge" : "counter", "Cluster figure (see docs/CLUSTER.md)", v);
}

static void put_kafka(void *arg, const char *name, uint64_t v)
{
    static const char *const gauges[] = {"spool/depth", "spool/bytes", "consumer_lag",
                                         "unreachable_ms", NULL};
    bool gauge = false;
    for (int i = 0; gauges[i]; i++)
        gauge |= !strcmp(name, gauges[i]);
    char full[96];
    snprintf(full, sizeof(full), "sluice_kafka_%s%s", name, gauge ? "" : "_total");
    for (char *c = full; *c; c++)
        if (*c == '/') *c = '_';
    put(arg, full, gauge ? "gauge" : "counter", "Kafka bridge figure (see docs/OPERATIONS.md)", v);
}

/* A label value in Prometheus text: backslash, quote and newline escaped. */
static void label(char *dst, size_t cap, const char *v)
{
    size_t o = 0;
    for (; v && *v && o + 3 < cap; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') dst[o++] = '\\';
        dst[o++] = *v == '\n' ? 'n' : *v;
    }
    dst[o] = 0;
}

static void put_line(textbuf_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_line(textbuf_t *t, const char *fmt, ...)
{
    if (t->len >= t->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n > 0) t->len += (size_t)n;
    if (t->len > t->cap) t->len = t->cap;
}

/* Per rule (a `rule` label): the to_kafka rules' counters, the from_kafka
 * rules' consumer lag. */
static void put_rules(textbuf_t *t, brk_t *b)
{
    static const char *const names[] = {"matched", "produced", "acked", "failed", "spooled"};
    const cfg_t *cfg = b->cfg;
    size_t nt = cfg->bridge.n_to_kafka, nf = cfg->bridge.n_from_kafka;
    if (!b->bridge || (!nt && !nf)) return;
    bridge_rule_stats_t *rs = calloc(nt + 1, sizeof(*rs));
    uint64_t *lag = calloc(nf + 1, sizeof(*lag));
    if (rs && lag) {
        bridge_get_rule_stats(b->bridge, rs, nt, lag, nf);
        char a[256], c[256];
        for (int k = 0; k < 5; k++) {
            put_line(t,
                     "# HELP sluice_kafka_rule_%s_total to_kafka rule: records %s\n"
                     "# TYPE sluice_kafka_rule_%s_total counter\n",
                     names[k], names[k], names[k]);
            for (size_t i = 0; i < nt; i++) {
                const uint64_t v[5] = {rs[i].matched, rs[i].produced, rs[i].acked, rs[i].failed,
                                       rs[i].spooled};
                label(a, sizeof(a), cfg->bridge.to_kafka[i].match);
                label(c, sizeof(c), cfg->bridge.to_kafka[i].topic);
                put_line(t,
                         "sluice_kafka_rule_%s_total{rule=\"%zu\",match=\"%s\",topic=\"%s\"} "
                         "%llu\n",
                         names[k], i, a, c, (unsigned long long)v[k]);
            }
        }
        put_line(t, "# HELP sluice_kafka_rule_consumer_lag Last seen partition lag of a "
                    "from_kafka rule\n# TYPE sluice_kafka_rule_consumer_lag gauge\n");
        for (size_t i = 0; i < nf; i++) {
            label(c, sizeof(c), cfg->bridge.from_kafka[i].topic);
            put_line(t, "sluice_kafka_rule_consumer_lag{rule=\"%zu\",topic=\"%s\"} %llu\n", i, c,
                     (unsigned long long)lag[i]);
        }
    }
    free(rs);
    free(lag);
}

/* A Prometheus histogram from non-cumulative bucket counts (le in us). */
static void put_hist(textbuf_t *t, const char *name, const char *help, const uint64_t *le_us, int n,
                     const uint64_t *counts, uint64_t sum_us, uint64_t count)
{
    put_line(t, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < n; i++) {
        cum += counts[i];
        put_line(t, "%s_bucket{le=\"%g\"} %llu\n", name, (double)le_us[i] / 1e6,
                 (unsigned long long)cum);
    }
    put_line(t, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
             (unsigned long long)count, name, (double)sum_us / 1e6, name,
             (unsigned long long)count);
}

static void put_latency(textbuf_t *t, brk_t *b)
{
    uint64_t counts[BRK_LAT_N + 1] = {0}, sum = 0, count = 0;
    for (int k = 0; k < b->n_workers; k++) {
        brk_hist_t *h = &b->workers[k].st.ack_lat;
        for (int i = 0; i <= BRK_LAT_N; i++)
            counts[i] += brk_read(&h->bucket[i]);
        sum += brk_read(&h->sum_us);
        count += brk_read(&h->count);
    }
    put_hist(t, "sluice_publish_ack_seconds",
             "QoS 1/2 PUBLISH handled to its PUBACK/PUBREC sent (store, Kafka, flow control)",
             brk_lat_le_us, BRK_LAT_N, counts, sum, count);
    if (!b->bridge) return;
    bridge_latency_t l;
    bridge_get_latency(b->bridge, &l);
    put_hist(t, "sluice_kafka_produce_seconds", "Record handed to librdkafka to acknowledged",
             l.le_us, BRIDGE_LAT_N, l.counts, l.sum_us, l.count);
}

/* Connections per listener (each worker counts its own). */
static void put_listeners(textbuf_t *t, brk_t *b)
{
    static const char *names[] = {"mqtt", "ws", "mqtts", "wss", "http"};
    const brk_worker_t *w0 = &b->workers[0];
    put_line(t, "# HELP sluice_listener_connections Open MQTT connections per listener\n"
                "# TYPE sluice_listener_connections gauge\n");
    for (size_t i = 0; w0->listen_base && i < b->cfg->n_listeners; i++) {
        const cfg_listener_t *l = &w0->listen_base[i];
        if (l->protocol == CFG_PROTO_HTTP) continue;
        uint64_t n = 0;
        for (int k = 0; k < b->n_workers; k++)
            if (b->workers[k].listen_conns) n += brk_read(&b->workers[k].listen_conns[i]);
        char host[128];
        label(host, sizeof(host), l->host);
        put_line(t, "sluice_listener_connections{listener=\"%s:%u\",bind=\"%s\"} %llu\n",
                 names[l->protocol], l->port, host, (unsigned long long)n);
    }
}

/* The process, under the names Prometheus client libraries use. */
static void put_process(textbuf_t *t)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    put(t, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes",
        (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE));
    uint64_t fds = 0;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        fds += e->d_name[0] != '.';
    if (d) closedir(d);
    put(t, "process_open_fds", "gauge", "Open file descriptors", fds ? fds - 1 : 0);
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl))
        put(t, "process_max_fds", "gauge", "Limit of open file descriptors", rl.rlim_cur);
}

/* "failures" is the one the issue names; the others count decisions. */
static void put_auth(void *arg, const char *name, uint64_t v)
{
    char full[96];
    snprintf(full, sizeof(full), "sluice_auth_%s_total", name);
    for (char *c = full; *c; c++)
        if (*c == '/') *c = '_';
    put(arg, full, "counter", "Authentication and ACL decisions (see docs/SECURITY.md)", v);
}

static size_t metrics(brk_t *b, char *out, size_t cap)
{
    brk_stats_t st;
    brk_stats_collect(b, &st);
    textbuf_t t = {out, 0, cap};
    put(&t, "sluice_uptime_seconds", "gauge", "Seconds since start", st.uptime_s);
    put(&t, "sluice_clients_connected", "gauge", "Connected clients", st.conns);
    put(&t, "sluice_sessions", "gauge", "Sessions, connected or not", st.sessions);
    put(&t, "sluice_subscriptions", "gauge", "Subscriptions", st.subscriptions);
    put(&t, "sluice_retained_messages", "gauge", "Retained messages", st.retained);
    put(&t, "sluice_messages_received_total", "counter", "PUBLISH received", st.msgs_in);
    put(&t, "sluice_messages_sent_total", "counter", "PUBLISH sent", st.msgs_out);
    put(&t, "sluice_messages_dropped_total", "counter",
        "Messages dropped (queue full, too large for the client, expired)", st.dropped);
    put(&t, "sluice_bytes_received_total", "counter", "Bytes received", st.bytes_in);
    put(&t, "sluice_bytes_sent_total", "counter", "Bytes sent", st.bytes_out);
    put(&t, "sluice_packets_malformed_total", "counter",
        "Malformed packets and protocol violations", st.bad_packets);
    put(&t, "sluice_flow_held_total", "counter",
        "QoS 1/2 acknowledgements held for a subscriber's full queue (one per session)",
        st.flow_held);
    put(&t, "sluice_flow_disconnects_total", "counter",
        "Subscribers disconnected for staying over mqtt.max_queued (queue_full_timeout_ms)",
        st.flow_kicks);
    for (int i = 0; i < BRK_LIMIT_N; i++) {
        char name[96];
        snprintf(name, sizeof(name), "sluice_limit_%s_refused_total", brk_limit_names[i]);
        put(&t, name, "counter", "Refused for an mqtt.max_* limit (see docs/CONFIG.md)",
            st.limits[i]);
    }
    if (b->store) {
        store_stats_t ss;
        store_get_stats(b->store, &ss);
        put(&t, "sluice_store_committed_total", "counter",
            "Store write batches finished, in submit order (batch k is durable once this is >= k)",
            ss.committed);
        put(&t, "sluice_store_submitted_total", "counter",
            "Store write batches submitted (the number of the last one)", ss.submitted);
    }
    brk_kafka_stats(b, put_kafka, &t);
    brk_cluster_stats(b, put_cluster, &t);
    brk_auth_stats(b, put_auth, &t);
    put_listeners(&t, b);
    put_latency(&t, b);
    put_rules(&t, b);
    put_process(&t);
    return t.len;
}

static size_t reason(char *out, size_t cap, size_t len, const char *check, const char *detail)
{
    if (len >= cap) return len;
    int n = snprintf(out + len, cap - len, "%s{\"check\":\"%s\",\"detail\":\"%s\"}",
                     out[len - 1] == '[' ? "" : ",", check, detail);
    return n > 0 ? len + (size_t)n : len;
}

/* Readiness (a liveness probe is /healthz): 503 while the store is degraded
 * (disk full), Kafka has been unreachable longer than spool_after_ms, or
 * the spool is above its high-water mark. The JSON names each reason; the
 * details are our own text, no input is echoed. */
static size_t readyz(brk_t *b, char *out, size_t cap, unsigned *status)
{
    size_t len = (size_t)snprintf(out, cap, "{\"status\":\"not ready\",\"reasons\":[");
    size_t start = len;
    char d[160];
    if (b->store && store_is_degraded(b->store))
        len = reason(out, cap, len, "store", "degraded: the disk is full");
    if (b->bridge) {
        bridge_stats_t st;
        bridge_get_stats(b->bridge, &st);
        uint32_t after = b->cfg->bridge.spool_after_ms ? b->cfg->bridge.spool_after_ms : 5000;
        if (st.kafka_down_ms > after) {
            snprintf(d, sizeof(d), "unreachable for %llu ms (bridge.spool_after_ms %u)",
                     (unsigned long long)st.kafka_down_ms, after);
            len = reason(out, cap, len, "kafka", d);
        }
        if (st.spool_bytes > st.spool_high_water) {
            snprintf(d, sizeof(d), "%llu bytes spooled, above the high-water mark of %llu",
                     (unsigned long long)st.spool_bytes, (unsigned long long)st.spool_high_water);
            len = reason(out, cap, len, "spool", d);
        }
    }
    if (!brk_cluster_ready(b, d, sizeof(d))) len = reason(out, cap, len, "cluster", d);
    if (len == start) {
        *status = HTTP_STATUS_OK;
        return (size_t)snprintf(out, cap, "{\"status\":\"ready\"}\n");
    }
    *status = HTTP_STATUS_SERVICE_UNAVAILABLE;
    if (len < cap) len += (size_t)snprintf(out + len, cap - len, "]}\n");
    return len < cap ? len : cap;
}

int brk_http_callback(struct lws *wsi, int reason, void *user, void *in, size_t len)
{
    /* lws 4.1.6 asks protocols[0] whether to accept the client certificate
     * with OpenSSL's preverify_ok in len, and accepts it when the callback
     * returns 0: lws_callback_http_dummy would accept every certificate,
     * self-signed, foreign or expired. Keep OpenSSL's verdict. */
    if (reason == LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION) return len ? 0 : 1;
    if (wsi && user &&
        (reason == LWS_CALLBACK_HTTP || reason == LWS_CALLBACK_HTTP_BODY ||
         reason == LWS_CALLBACK_HTTP_BODY_COMPLETION || reason == LWS_CALLBACK_HTTP_WRITEABLE ||
         reason == LWS_CALLBACK_CLOSED_HTTP || reason == LWS_CALLBACK_HTTP_DROP_PROTOCOL)) {
        /* the admin API (api.c), on http listeners only */
        const cfg_listener_t *al = lws_get_opaque_user_data(wsi);
        int rc =
            al && al->protocol == CFG_PROTO_HTTP ? brk_api_http(wsi, reason, user, in, len) : -2;
        if (rc != -2) return rc;
    }
    if (reason != LWS_CALLBACK_HTTP)
        return lws_callback_http_dummy(wsi, (enum lws_callback_reasons)reason, user, in, len);
    brk_worker_t *w = lws_context_user(lws_get_context(wsi));
    const char *uri = in ? in : "";
    char body[LWS_PRE + 32768]; /* worker stack: threads serve HTTP concurrently */
    char *text = body + LWS_PRE;
    size_t n;
    unsigned status = HTTP_STATUS_OK;
    const char *type = "text/plain; version=0.0.4";
    const cfg_listener_t *l = lws_get_opaque_user_data(wsi);
    bool endpoints = l && l->protocol == CFG_PROTO_HTTP; /* never on device ports */
    if (!endpoints) {
        status = HTTP_STATUS_NOT_FOUND;
        n = (size_t)snprintf(text, 64, "not found\n");
    } else if (!strcmp(uri, "/metrics")) {
        n = metrics(w->b, text, sizeof(body) - LWS_PRE);
    } else if (!strcmp(uri, "/healthz")) {
        n = (size_t)snprintf(text, 64, "ok\n");
    } else if (!strcmp(uri, "/readyz")) {
        n = readyz(w->b, text, sizeof(body) - LWS_PRE, &status);
        type = "application/json";
    } else if (l->static_dir) {
        return brk_http_static(wsi, l, uri); /* the console; writes its own reply */
    } else {
        status = HTTP_STATUS_NOT_FOUND;
        n = (size_t)snprintf(text, 64, "not found\n");
    }
    uint8_t hdr[LWS_PRE + 512];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    if (lws_add_http_common_headers(wsi, status, type, n, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    if (lws_write(wsi, (uint8_t *)text, n, LWS_WRITE_HTTP_FINAL) != (int)n) return 1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}
