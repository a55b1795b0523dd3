/*
 * sys.c - the $SYS tree, published (retained, like Mosquitto) every
 * mqtt.sys_interval seconds by worker 0, and the periodic broker duties.
 */
#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "brk.h"
#include "cluster.h"
#include "store.h"

static void publish(brk_t *b, brk_worker_t *w, const char *topic, const char *value)
{
    brk_msg_t *m = brk_msg_new((const uint8_t *)topic, (uint16_t)strlen(topic),
                               (const uint8_t *)value, (uint32_t)strlen(value), 0, 0, true);
    if (!m) return;
    brk_route(b, w, m);
    brk_msg_unref(&m);
}

static void publish_u64(brk_t *b, brk_worker_t *w, const char *topic, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    publish(b, w, topic, buf);
}

typedef struct sys_ctx {
    brk_t *b;
    brk_worker_t *w;
} sys_ctx_t;

static void publish_auth(void *arg, const char *name, uint64_t v)
{
    sys_ctx_t *x = arg;
    char topic[96];
    snprintf(topic, sizeof(topic), "$SYS/broker/auth/%s", name);
    publish_u64(x->b, x->w, topic, v);
}

static void publish_cluster(void *arg, const char *name, uint64_t v)
{
    sys_ctx_t *x = arg;
    char topic[96];
    snprintf(topic, sizeof(topic), "$SYS/broker/cluster/%s", name);
    publish_u64(x->b, x->w, topic, v);
}

static void publish_kafka(void *arg, const char *name, uint64_t v)
{
    sys_ctx_t *x = arg;
    char topic[96];
    snprintf(topic, sizeof(topic), "$SYS/broker/kafka/%s", name);
    publish_u64(x->b, x->w, topic, v);
}

void brk_stats_collect(brk_t *b, brk_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    for (int i = 0; i < b->n_workers; i++) {
        brk_wstats_t *ws = &b->workers[i].st;
        st->msgs_in += brk_read(&ws->msgs_in);
        st->msgs_out += brk_read(&ws->msgs_out);
        st->bytes_in += brk_read(&ws->bytes_in);
        st->bytes_out += brk_read(&ws->bytes_out);
        st->conns += brk_read(&ws->conns);
        st->dropped += brk_read(&ws->dropped);
        st->bad_packets += brk_read(&ws->bad_packets);
        st->flow_held += brk_read(&ws->flow_held);
        st->flow_kicks += brk_read(&ws->flow_kicks);
    }
    pthread_mutex_lock(&b->reg_lock);
    st->sessions = b->reg_len;
    pthread_mutex_unlock(&b->reg_lock);
    st->subscriptions = brk_subs_count(b->subs);
    st->retained = brk_retain_count(b->retain);
    st->uptime_s = (uint64_t)((brk_now_ms() - b->start_ms) / 1000);
    for (int i = 0; i < BRK_LIMIT_N; i++)
        st->limits[i] = atomic_load_explicit(&b->limit_hits[i], memory_order_relaxed);
}

void brk_sys_tick(brk_t *b, brk_worker_t *w, int64_t now)
{
    (void)now;
    brk_stats_t st;
    brk_stats_collect(b, &st);
    char up[48];
    snprintf(up, sizeof(up), "%llu seconds", (unsigned long long)st.uptime_s);
    publish(b, w, "$SYS/broker/version", "sluice " SLUICE_VERSION);
    publish(b, w, "$SYS/broker/uptime", up);
    publish_u64(b, w, "$SYS/broker/clients/connected", st.conns);
    publish_u64(b, w, "$SYS/broker/clients/total", st.sessions);
    publish_u64(b, w, "$SYS/broker/messages/received", st.msgs_in);
    publish_u64(b, w, "$SYS/broker/messages/sent", st.msgs_out);
    publish_u64(b, w, "$SYS/broker/messages/dropped", st.dropped);
    publish_u64(b, w, "$SYS/broker/bytes/received", st.bytes_in);
    publish_u64(b, w, "$SYS/broker/bytes/sent", st.bytes_out);
    publish_u64(b, w, "$SYS/broker/subscriptions/count", st.subscriptions);
    publish_u64(b, w, "$SYS/broker/retained messages/count", st.retained);
    publish_u64(b, w, "$SYS/broker/packets/malformed", st.bad_packets);
    publish_u64(b, w, "$SYS/broker/flow/held", st.flow_held);
    publish_u64(b, w, "$SYS/broker/flow/disconnected", st.flow_kicks);
    for (int i = 0; i < BRK_LIMIT_N; i++) {
        char topic[96];
        snprintf(topic, sizeof(topic), "$SYS/broker/limits/%s/refused", brk_limit_names[i]);
        publish_u64(b, w, topic, st.limits[i]);
    }
    if (b->store) { /* the committed sequence: docs/ARCHITECTURE.md, "Persistence" */
        store_stats_t ss;
        store_get_stats(b->store, &ss);
        publish_u64(b, w, "$SYS/broker/store/committed", ss.committed);
        publish_u64(b, w, "$SYS/broker/store/submitted", ss.submitted);
    }
    sys_ctx_t x = {b, w};
    brk_kafka_stats(b, publish_kafka, &x);
    brk_cluster_stats(b, publish_cluster, &x);
    brk_auth_stats(b, publish_auth, &x);
}
