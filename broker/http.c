/*
 * http.c - the HTTP side of every listener that speaks HTTP (http, and ws/wss
 * before the upgrade): GET /healthz and GET /metrics (Prometheus text
 * format). Everything else is 404. Responses are small and written whole.
 */
#include <stdio.h>
#include <string.h>

#include <libwebsockets.h>

#include "brk.h"
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

static void put_kafka(void *arg, const char *name, uint64_t v)
{
    char full[96];
    snprintf(full, sizeof(full), "sluice_kafka_%s", name);
    for (char *c = full; *c; c++)
        if (*c == '/') *c = '_';
    put(arg, full, "gauge", "Kafka bridge counter (see docs/KAFKA.md)", v);
}

static size_t metrics(brk_t *b, char *out, size_t cap)
{
    brk_stats_t st;
    brk_stats_collect(b, &st);
    textbuf_t t = {out, 0, cap};
    put(&t, "sluice_uptime_seconds", "counter", "Seconds since start", st.uptime_s);
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
    return t.len;
}

int brk_http_callback(struct lws *wsi, int reason, void *user, void *in, size_t len)
{
    if (reason != LWS_CALLBACK_HTTP)
        return lws_callback_http_dummy(wsi, (enum lws_callback_reasons)reason, user, in, len);
    brk_worker_t *w = lws_context_user(lws_get_context(wsi));
    const char *uri = in ? in : "";
    char body[LWS_PRE + 16384]; /* worker stack: threads serve HTTP concurrently */
    char *text = body + LWS_PRE;
    size_t n;
    unsigned status = HTTP_STATUS_OK;
    if (!strcmp(uri, "/metrics")) {
        n = metrics(w->b, text, sizeof(body) - LWS_PRE);
    } else if (!strcmp(uri, "/healthz")) {
        n = (size_t)snprintf(text, 64, "ok\n");
    } else {
        status = HTTP_STATUS_NOT_FOUND;
        n = (size_t)snprintf(text, 64, "not found\n");
    }
    uint8_t hdr[LWS_PRE + 512];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    if (lws_add_http_common_headers(wsi, status, "text/plain; version=0.0.4", n, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    if (lws_write(wsi, (uint8_t *)text, n, LWS_WRITE_HTTP_FINAL) != (int)n) return 1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}
