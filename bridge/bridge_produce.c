/*
 * bridge_produce.c - MQTT -> Kafka: rules, the producer, bridge_offer() and
 * delivery reports.
 *
 * Order: Kafka keys records by device, and a device is one connection, so
 * per-key order only needs per-connection order. A connection lives on one
 * I/O worker, which offers its publishes one after the other; librdkafka
 * keeps the order of one thread's produce calls per partition. So
 * bridge_offer() holds br->mu only to read the mode and take sequence
 * numbers (a few instructions), and builds the record and calls
 * rd_kafka_producev() outside it, in parallel with the other workers.
 * br->producing counts offers between the lock and the end of their
 * produce calls, so that producer_renew() does not destroy the producer
 * under them.
 *
 * In MODE_DIRECT records go straight to librdkafka; a record that
 * librdkafka could not take or deliver within message.timeout.ms (by
 * default bridge.spool_after_ms) goes to the spool under its own sequence
 * number and switches the bridge to MODE_SPOOL, where every record offered
 * after the switch goes to the spool behind it until the spool has drained
 * (bridge_spool.c; the drain waits for direct_inflight to reach 0, so no
 * direct record overtakes it). The spool is keyed by sequence, so its order
 * is publish order whatever order the writes happen in.
 *
 * A record is built once, in place: the blob is written straight into the
 * rec_t allocation (one malloc, no copy), and a successful delivery report
 * takes br->mu only when it completes a publish's group.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v, char *err, size_t errlen)
{
    char kerr[256];
    if (rd_kafka_conf_set(c, k, v, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka.properties.%s: %s", k, kerr);
        return -1;
    }
    return 0;
}

void bridge_quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* Libraries never log: state is exposed through counters. */
}

rd_kafka_conf_t *bridge_producer_conf(const cfg_t *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(c, bridge_quiet_log);
    char tmo[32], prop[32];
    uint32_t t = cfg->bridge.spool_after_ms ? cfg->bridge.spool_after_ms : 5000;
    if (t < 100) t = 100;
    snprintf(tmo, sizeof(tmo), "%u", t);
    /* An unknown topic must fail as such (dead letter) before the message
     * times out (spool), or it would sit at the head of the spool. */
    snprintf(prop, sizeof(prop), "%u", t / 2);
    /* Defaults for ingestion; kafka.properties override any of them. */
    const char *defs[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"linger.ms", "5"},
        {"compression.type", "lz4"},
        {"message.timeout.ms", tmo},
        {"reconnect.backoff.max.ms", "1000"},
        {"client.id", "sluice"},
        {"topic.metadata.propagation.max.ms", prop},
    };
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (conf_set(c, defs[i][0], defs[i][1], err, errlen)) goto fail;
    if (conf_set(c, "bootstrap.servers", cfg->kafka.bootstrap ? cfg->kafka.bootstrap : "", err,
                 errlen))
        goto fail;
    for (size_t i = 0; i < cfg->kafka.n_properties; i++)
        if (conf_set(c, cfg->kafka.properties[i].key, cfg->kafka.properties[i].value, err, errlen))
            goto fail;
    return c;
fail:
    rd_kafka_conf_destroy(c);
    return NULL;
}

void bridge_rules_free(ruleset_t *rs)
{
    while (rs) {
        ruleset_t *old = rs->old;
        for (size_t i = 0; i < rs->n; i++) {
            rule_t *r = &rs->v[i];
            bridge_tmpl_free(&r->topic);
            bridge_tmpl_free(&r->key);
            for (size_t j = 0; r->hdr_vals && j < r->cfg->n_headers; j++)
                bridge_tmpl_free(&r->hdr_vals[j]);
            free(r->hdr_vals);
        }
        free(rs->v);
        free(rs);
        rs = old;
    }
}

int bridge_rules_compile(const cfg_t *cfg, ruleset_t **out, char *err, size_t errlen)
{
    ruleset_t *rs = calloc(1, sizeof(*rs));
    *out = rs;
    if (!rs) goto oom;
    if (cfg->bridge.n_to_kafka == 0) return 0;
    rs->v = calloc(cfg->bridge.n_to_kafka, sizeof(*rs->v));
    if (!rs->v) goto oom;
    for (size_t i = 0; i < cfg->bridge.n_to_kafka; i++) {
        const cfg_to_kafka_t *c = &cfg->bridge.to_kafka[i];
        rule_t *r = &rs->v[i];
        char why[200];
        rs->n = i + 1;
        r->cfg = c;
        r->ack_kafka = c->ack != CFG_ACK_LOCAL;
        if (!c->match || !mqtt_filter_valid((const uint8_t *)c->match, strlen(c->match))) {
            snprintf(err, errlen, "bridge.to_kafka[%zu].match: not a valid MQTT topic filter", i);
            return -1;
        }
        if (bridge_tmpl_compile(&r->topic, c->topic, TMPL_KAFKA_TOPIC, why, sizeof(why))) {
            snprintf(err, errlen, "bridge.to_kafka[%zu].topic: %s", i, why);
            return -1;
        }
        if (bridge_tmpl_compile(&r->key, c->key ? c->key : "{topic}", TMPL_TO_KAFKA, why,
                                sizeof(why))) {
            snprintf(err, errlen, "bridge.to_kafka[%zu].key: %s", i, why);
            return -1;
        }
        if (c->n_headers) {
            r->hdr_vals = calloc(c->n_headers, sizeof(*r->hdr_vals));
            if (!r->hdr_vals) goto oom;
        }
        for (size_t j = 0; j < c->n_headers; j++) {
            if (bridge_tmpl_compile(&r->hdr_vals[j], c->headers[j].value, TMPL_TO_KAFKA, why,
                                    sizeof(why))) {
                snprintf(err, errlen, "bridge.to_kafka[%zu].headers.%s: %s", i, c->headers[j].key,
                         why);
                return -1;
            }
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "bridge: out of memory");
    return -1;
}

bool bridge_err_permanent(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
        return true;
    default:
        return false;
    }
}

/* Hand r to producer rk; returns the librdkafka error (0: the delivery
 * report will come). topic_override: dead-letter topic. */
static int produce_on(struct bridge *br, rd_kafka_t *rk, rec_t *r, const char *topic_override)
{
    blob_view_t v;
    if (bridge_blob_parse(r->blob, r->len, &v)) return RD_KAFKA_RESP_ERR_INVALID_RECORD;
    const char *topic = topic_override ? topic_override : v.topic;
    if (!bridge_kafka_topic_valid(topic, strlen(topic))) return RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION;
    rd_kafka_headers_t *h = rd_kafka_headers_new(v.n_hdrs + 2);
    uint32_t off = 0;
    uint16_t i = 0;
    blob_hdr_t bh;
    while (bridge_blob_next_hdr(&v, &off, &i, &bh))
        rd_kafka_header_add(h, bh.name, bh.nlen, bh.val, bh.vlen);
    if (topic_override) {
        const char *e = rd_kafka_err2name((rd_kafka_resp_err_t)r->err);
        rd_kafka_header_add(h, "sluice.error", -1, e, -1);
        rd_kafka_header_add(h, "sluice.original_topic", -1, v.topic, v.topic_len);
    }
    /* after a successful producev r is librdkafka's: its delivery report may
     * free it at once, so nothing of r is read after the call */
    rule_t *rule = r->rule;
    atomic_store_explicit(&r->produced_us, bridge_now_us(), memory_order_release);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(v.key, v.key_len),
        RD_KAFKA_V_VALUE((void *)v.value, v.value_len), RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_TIMESTAMP(v.ts), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        return e;
    }
    atomic_fetch_add(&br->s.produced, 1);
    if (rule) atomic_fetch_add(&rule->produced, 1);
    return e;
}

/* Spool drain and dead letters: the poll thread, br->mu held (or, in
 * bridge_dlq.c, a private producer). */
int bridge_produce(struct bridge *br, rec_t *r, const char *topic_override)
{
    return produce_on(br, br->rk, r, topic_override);
}

/* r, drained from the spool, is safe elsewhere: delete its spool record. */
static void spool_forget_locked(struct bridge *br, rec_t *r)
{
    if (br->n_dels == br->cap_dels) {
        size_t cap = br->cap_dels ? br->cap_dels * 2 : 256;
        uint64_t *d = realloc(br->dels, cap * sizeof(*d));
        if (d) {
            br->dels = d;
            br->cap_dels = cap;
        }
    }
    /* Without room the record stays spooled: a duplicate later,
     * never a loss. */
    if (br->n_dels < br->cap_dels) br->dels[br->n_dels++] = r->spool_seq;
    atomic_fetch_sub(&br->s.spool_depth, 1);
    atomic_fetch_sub(&br->s.spool_bytes, r->len);
}

/* Delivery report (poll thread, inside rd_kafka_poll/flush). */
void bridge_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct bridge *br = opaque;
    rec_t *r = m->_private;
    rd_kafka_resp_err_t e = m->err;
    int64_t produced = atomic_load_explicit(&r->produced_us, memory_order_acquire);
    if (!e && produced) bridge_lat_observe(br, (uint64_t)(bridge_now_us() - produced));
    if (r->kind == REC_DIRECT && !e) { /* the common case: no lock unless a group completes */
        BRIDGE_COUNT(br, r, acked);
        bridge_group_release(br, r->grp, 0);
        free(r);
        atomic_fetch_sub(&br->direct_inflight, 1);
        return;
    }
    pthread_mutex_lock(&br->mu);
    switch (r->kind) {
    case REC_DIRECT:
        br->direct_inflight--;
        if (bridge_err_permanent(e)) {
            bridge_dead_put_locked(br, r, e);
        } else {
            br->mode = MODE_SPOOL;
            bridge_spool_put_locked(br, r);
        }
        break;
    case REC_DRAIN:
        br->drain_inflight--;
        if (!e) {
            BRIDGE_COUNT(br, r, acked);
            spool_forget_locked(br, r);
            free(r);
        } else if (bridge_err_permanent(e)) {
            bridge_dead_put_locked(br, r, e);
        } else {
            if (!br->drain_failed || r->spool_seq < br->drain_fail_min)
                br->drain_fail_min = r->spool_seq;
            br->drain_failed = true;
            free(r);
        }
        break;
    case REC_DLT:
        if (!e) {
            atomic_fetch_add(&br->s.dead_lettered, 1);
            if (r->spool_seq) spool_forget_locked(br, r);
            bridge_group_release_locked(br, r->grp, 0);
            free(r);
        } else {
            bridge_dead_put_locked(br, r, r->err); /* dlt_tried: goes to the quarantine */
        }
        break;
    }
    pthread_mutex_unlock(&br->mu);
}

/* The record for rule ru and message m, its blob built straight into the
 * allocation (sized for the usual case, grown by store_buf_raw if a template or
 * the headers need more). NULL: out of memory. */
static rec_t *rec_build(const rule_t *ru, const bridge_msg_t *m, const blob_ids_t *ids, int64_t ts)
{
    const size_t at = offsetof(rec_t, blob);
    size_t cap = at + 192 + 2 * (size_t)m->topic_len + m->payload_len + m->props_len;
    uint8_t *heap = malloc(cap);
    if (!heap) return NULL;
    store_buf_t b;
    store_buf_adopt(&b, heap, cap, at); /* grows by realloc: p stays ours to keep */
    bridge_blob_build(ru, m, ids, ts, &b);
    if (b.oom || b.len - at > UINT32_MAX) {
        store_buf_free(&b);
        return NULL;
    }
    rec_t *r = (rec_t *)(void *)b.p;
    memset(r, 0, at);
    r->len = (uint32_t)(b.len - at);
    return r;
}

/* A direct record librdkafka refused at once: dead letter or spool. */
static void produce_refused(struct bridge *br, rec_t *r, int e)
{
    pthread_mutex_lock(&br->mu);
    br->direct_inflight--;
    if (bridge_err_permanent(e)) {
        bridge_dead_put_locked(br, r, e);
    } else { /* queue full or the like: the spool takes it, in order */
        br->mode = MODE_SPOOL;
        bridge_spool_put_locked(br, r);
    }
    pthread_mutex_unlock(&br->mu);
}

static void recs_free(rec_t *r)
{
    for (rec_t *nx; r; r = nx) {
        nx = r->next;
        free(r);
    }
}

typedef struct offer {
    rec_t *recs;
    size_t n, tracked, bytes;
} offer_t;

/* A record per matching rule (until a "final" one), in rule order; the
 * ones the publisher's ack waits for are marked. -1 without memory. */
static int offer_build(bridge_t *br, const bridge_msg_t *m, bool track, offer_t *o)
{
    rec_t **tail = &o->recs;
    int64_t ts = 0;
    const blob_ids_t ids = {.node = br->cfg->node_id,
                            .cluster = br->cfg->cluster.enabled ? br->cfg->cluster.id : NULL,
                            .inc = br->inc};
    ruleset_t *rs = atomic_load_explicit(&br->rules, memory_order_acquire); /* reload swaps it */
    for (size_t i = 0; rs && i < rs->n; i++) {
        rule_t *ru = &rs->v[i];
        if (!mqtt_topic_match((const uint8_t *)ru->cfg->match, strlen(ru->cfg->match),
                              (const uint8_t *)m->topic, m->topic_len))
            continue;
        atomic_fetch_add_explicit(&ru->matched, 1, memory_order_relaxed);
        if (!ts) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            ts = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        }
        rec_t *r = rec_build(ru, m, &ids, ts);
        if (!r) return -1;
        r->rule = ru;
        if (track && m->qos >= 1 && ru->ack_kafka) {
            r->grp = (group_t *)1; /* marks "tracked" until the group exists */
            o->tracked++;
        }
        *tail = r;
        tail = &r->next;
        o->n++;
        o->bytes += r->len;
        if (ru->cfg->final) break;
    }
    return 0;
}

int bridge_offer(bridge_t *br, const bridge_msg_t *m, bridge_ack_fn fn, void *arg)
{
    offer_t o = {0};
    if (offer_build(br, m, fn != NULL, &o)) goto fail;
    rec_t *recs = o.recs;
    size_t n = o.n, tracked = o.tracked, bytes = o.bytes;
    if (n == 0) return BRIDGE_NO_MATCH;

    group_t *g = NULL;
    if (tracked) {
        g = malloc(sizeof(*g));
        if (!g) goto fail;
        atomic_init(&g->left, (int)tracked + 1);
        atomic_init(&g->status, 0);
        g->fn = fn;
        g->arg = arg;
        g->next = NULL;
    }
    pthread_mutex_lock(&br->mu);
    if (!br->started || atomic_load(&br->stopping)) {
        pthread_mutex_unlock(&br->mu);
        free(g);
        goto fail;
    }
    if (br->mode == MODE_SPOOL &&
        atomic_load(&br->s.spool_bytes) + bytes > br->cfg->bridge.spool_max_bytes) {
        pthread_mutex_unlock(&br->mu);
        free(g);
        if (!tracked) atomic_fetch_add(&br->s.dropped, n);
        recs_free(recs);
        return tracked ? BRIDGE_FULL : BRIDGE_DONE;
    }
    /* Sequence and mode under the lock; the produce calls after it. */
    rec_t *direct = NULL, **dtail = &direct;
    for (rec_t *r = recs, *nx; r; r = nx) {
        nx = r->next;
        r->next = NULL;
        r->grp = r->grp ? g : NULL;
        r->seq = br->next_seq++;
        r->kind = REC_DIRECT;
        if (br->mode == MODE_SPOOL) {
            bridge_spool_put_locked(br, r);
            continue;
        }
        br->direct_inflight++;
        *dtail = r;
        dtail = &r->next;
    }
    rd_kafka_t *rk = br->rk;
    if (direct) atomic_fetch_add(&br->producing, 1);
    pthread_mutex_unlock(&br->mu);
    if (direct) {
        for (rec_t *r = direct, *nx; r; r = nx) {
            nx = r->next; /* r belongs to librdkafka once produced */
            r->next = NULL;
            int e = produce_on(br, rk, r, NULL);
            if (e) produce_refused(br, r, e);
        }
        atomic_fetch_sub(&br->producing, 1);
    }
    if (g) bridge_group_release(br, g, 0);
    return g ? BRIDGE_PENDING : BRIDGE_DONE;
fail:
    recs_free(o.recs);
    return BRIDGE_ERR;
}
