/*
 * bridge.c - the bridge's life cycle: new, start, stop, free, stats, and
 * the ack groups that tell the broker when a message is safe.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge_int.h"

const char *bridge_strerror(int rc)
{
    switch (rc) {
    case BRIDGE_NO_MATCH:
        return "no rule matched";
    case BRIDGE_DONE:
        return "accepted";
    case BRIDGE_PENDING:
        return "accepted, ack pending";
    case BRIDGE_FULL:
        return "bridge spool full";
    case BRIDGE_ERR:
        return "bridge error";
    default:
        return "unknown bridge status";
    }
}

int64_t bridge_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t bridge_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool bridge_header_is(rd_kafka_headers_t *h, const char *name, const char *val)
{
    const void *v;
    size_t vl;
    if (!h || !val || rd_kafka_header_get_last(h, name, &v, &vl)) return false;
    return v && vl == strlen(val) && memcmp(v, val, vl) == 0;
}

rec_t *bridge_rec_new(const uint8_t *blob, size_t len)
{
    rec_t *r = malloc(sizeof(*r) + len);
    if (!r) return NULL;
    memset(r, 0, sizeof(*r));
    r->len = (uint32_t)len;
    memcpy(r->blob, blob, len);
    return r;
}

void bridge_group_release_locked(struct bridge *br, group_t *g, int status)
{
    if (!g) return;
    if (status < 0) atomic_store(&g->status, status);
    if (atomic_fetch_sub(&g->left, 1) == 1) {
        g->next = br->done;
        br->done = g;
    }
}

void bridge_group_release(struct bridge *br, group_t *g, int status)
{
    if (!g) return;
    if (status < 0) atomic_store(&g->status, status);
    if (atomic_fetch_sub(&g->left, 1) == 1) {
        pthread_mutex_lock(&br->mu);
        g->next = br->done;
        br->done = g;
        pthread_mutex_unlock(&br->mu);
    }
}

/* Call the ack callbacks of finished groups, oldest first (poll thread). */
static void bridge_run_done(struct bridge *br)
{
    pthread_mutex_lock(&br->mu);
    group_t *g = br->done, *rev = NULL;
    br->done = NULL;
    pthread_mutex_unlock(&br->mu);
    while (g) {
        group_t *next = g->next;
        g->next = rev;
        rev = g;
        g = next;
    }
    while (rev) {
        group_t *next = rev->next;
        rev->fn(rev->arg, atomic_load(&rev->status));
        free(rev);
        rev = next;
    }
}

static rd_kafka_t *producer_new(struct bridge *br, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = bridge_producer_conf(br->cfg, err, errlen);
    if (!conf) return NULL;
    char v[32];
    size_t vl = sizeof(v);
    if (rd_kafka_conf_get(conf, "message.timeout.ms", v, &vl) == RD_KAFKA_CONF_OK)
        br->timeout_ms = atoll(v);
    rd_kafka_conf_set_dr_msg_cb(conf, bridge_dr_cb);
    rd_kafka_conf_set_error_cb(conf, bridge_error_cb);
    rd_kafka_conf_set_opaque(conf, br);
    char kerr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka: cannot create producer: %s", kerr);
    }
    return rk;
}

/* A fatal error (the idempotent producer lost its guarantees) leaves the
 * producer unusable for good: every record it held comes back in its
 * delivery report and goes to the spool, and a new producer takes over, so
 * the spool drains again (at least once: a record may be in Kafka already).
 * Poll thread. */
static void producer_renew(struct bridge *br)
{
    char err[256];
    rd_kafka_t *old = br->rk;
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int64_t end = bridge_now_ms() + 5000; rd_kafka_outq_len(old) > 0 && bridge_now_ms() < end;)
        rd_kafka_poll(old, 10);
    rd_kafka_t *rk = producer_new(br, err, sizeof(err));
    if (!rk) return; /* the old one stays: produce fails, the spool keeps all; retried */
    pthread_mutex_lock(&br->mu);
    br->rk = rk;
    pthread_mutex_unlock(&br->mu);
    /* An offer may still be producing into old outside br->mu (it fails at
     * once: the producer is fatal); let it return first. */
    while (atomic_load(&br->producing))
        sched_yield();
    rd_kafka_destroy(old);
    atomic_fetch_add(&br->s.producer_renewals, 1);
}

static void *poll_main(void *arg)
{
    struct bridge *br = arg;
    while (!atomic_load(&br->stopping)) {
        rd_kafka_poll(br->rk, 5);
        if (rd_kafka_fatal_error(br->rk, NULL, 0)) producer_renew(br);
        bridge_spool_step(br);
        bridge_run_done(br);
        bridge_health_step(br);
    }
    /* Stopping: give Kafka a bounded time, then move what is left to the
     * spool so that nothing acknowledged or pending is lost. */
    int bound = (int)(br->timeout_ms < 1000 ? 1000 : br->timeout_ms);
    if (bound > 10000) bound = 10000;
    rd_kafka_flush(br->rk, bound);
    rd_kafka_purge(br->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    int64_t end = bridge_now_ms() + 5000;
    for (;;) {
        rd_kafka_poll(br->rk, 5);
        bridge_spool_step(br);
        bridge_run_done(br);
        pthread_mutex_lock(&br->mu);
        bool idle = !br->puts && !br->dead && !br->writing && br->n_dels == 0 &&
                    br->direct_inflight == 0 && br->drain_inflight == 0 && !br->done;
        pthread_mutex_unlock(&br->mu);
        if ((idle && rd_kafka_outq_len(br->rk) == 0) || bridge_now_ms() > end) break;
    }
    return NULL;
}

int bridge_new(const cfg_t *cfg, store_t *store, const bridge_hooks_t *hooks, bridge_t **out,
               char *err, size_t errlen)
{
    struct bridge *br = calloc(1, sizeof(*br));
    if (!br) {
        snprintf(err, errlen, "bridge: out of memory");
        return BRIDGE_ERR;
    }
    br->cfg = cfg;
    br->st = store;
    if (hooks) br->hooks = *hooks;
    snprintf(br->inc, sizeof(br->inc), "%s", hooks && hooks->incarnation ? hooks->incarnation : "");
    br->hooks.incarnation = NULL; /* the caller's string: br->inc is ours */
    pthread_mutex_init(&br->mu, NULL);
    br->puts_tail = &br->puts;
    br->dead_tail = &br->dead;
    br->next_seq = 1;
    br->next_dead_seq = 1;
    if (!cfg->kafka.bootstrap || !*cfg->kafka.bootstrap) {
        snprintf(err, errlen,
                 "kafka.bootstrap: not set (the bridge needs a Kafka cluster; "
                 "sluice --dev-kafka starts one)");
        goto fail;
    }
    ruleset_t *rs = NULL;
    int rc = bridge_rules_compile(cfg, &rs, err, errlen);
    atomic_store(&br->rules, rs);
    if (rc) goto fail;
    if (bridge_consumers_new(br, err, errlen)) goto fail;
    if (!(br->rk = producer_new(br, err, errlen))) goto fail;
    if (bridge_spool_load(br)) {
        snprintf(err, errlen, "bridge: cannot read the spool from the store");
        goto fail;
    }
    *out = br;
    return 0;
fail:
    bridge_free(br);
    return BRIDGE_ERR;
}

int bridge_start(bridge_t *br)
{
    if (br->started) return BRIDGE_ERR;
    if (pthread_create(&br->poll_thr, NULL, poll_main, br)) return BRIDGE_ERR;
    br->started = true;
    if (bridge_consumers_start(br)) return BRIDGE_ERR;
    return 0;
}

void bridge_stop(bridge_t *br)
{
    if (!br || br->stopped) return;
    br->stopped = true;
    bridge_consumers_stop(br);
    pthread_mutex_lock(&br->mu);
    atomic_store(&br->stopping, true);
    pthread_mutex_unlock(&br->mu);
    if (br->started) pthread_join(br->poll_thr, NULL);
    /* Anything still unresolved (store failing at shutdown) is reported,
     * so that every callback runs exactly once. */
    pthread_mutex_lock(&br->mu);
    rec_t *lists[2] = {br->puts, br->dead};
    br->puts = br->dead = NULL;
    br->puts_tail = &br->puts;
    br->dead_tail = &br->dead;
    for (int i = 0; i < 2; i++)
        for (rec_t *r = lists[i], *n; r; r = n) {
            n = r->next;
            BRIDGE_COUNT(br, r, failed);
            bridge_group_release_locked(br, r->grp, -1);
            free(r);
        }
    pthread_mutex_unlock(&br->mu);
    bridge_run_done(br);
}

void bridge_free(bridge_t *br)
{
    if (!br) return;
    bridge_stop(br);
    bridge_consumers_free(br);
    if (br->rk) rd_kafka_destroy(br->rk);
    bridge_rules_free(atomic_load(&br->rules));
    bridge_spool_mem_free(br);
    free(br->dels);
    pthread_mutex_destroy(&br->mu);
    free(br);
}

void bridge_get_stats(bridge_t *br, bridge_stats_t *o)
{
    o->produced = atomic_load(&br->s.produced);
    o->acked = atomic_load(&br->s.acked);
    o->failed = atomic_load(&br->s.failed);
    o->spooled = atomic_load(&br->s.spooled);
    o->spool_depth = atomic_load(&br->s.spool_depth);
    o->spool_bytes = atomic_load(&br->s.spool_bytes);
    o->dead_lettered = atomic_load(&br->s.dead_lettered);
    o->consumed = atomic_load(&br->s.consumed);
    o->delivered = atomic_load(&br->s.delivered);
    o->consumer_lag = atomic_load(&br->s.consumer_lag);
    o->dropped = atomic_load(&br->s.dropped);
    o->producer_renewals = atomic_load(&br->s.producer_renewals);
    o->headers_skipped = atomic_load(&br->s.headers_skipped);
    int64_t since = atomic_load(&br->h.down_since), now = bridge_now_ms();
    o->kafka_down_ms = since ? (uint64_t)(now > since ? now - since : 1) : 0;
    o->spool_high_water = bridge_high_water(br);
}

void bridge_get_rule_stats(bridge_t *br, bridge_rule_stats_t *to, size_t n_to, uint64_t *from_lag,
                           size_t n_from)
{
    ruleset_t *rs = atomic_load(&br->rules);
    for (size_t i = 0; i < n_to; i++) {
        const rule_t *r = rs && i < rs->n ? &rs->v[i] : NULL;
        to[i] = (bridge_rule_stats_t){0};
        if (!r) continue;
        to[i].matched = atomic_load(&r->matched);
        to[i].produced = atomic_load(&r->produced);
        to[i].acked = atomic_load(&r->acked);
        to[i].failed = atomic_load(&r->failed);
        to[i].spooled = atomic_load(&r->spooled);
    }
    for (size_t i = 0; i < n_from; i++)
        from_lag[i] = bridge_consumer_lag(br, i);
}

int bridge_set_rules(bridge_t *br, const cfg_t *cfg, char *err, size_t errlen)
{
    ruleset_t *rs = NULL;
    if (bridge_rules_compile(cfg, &rs, err, errlen)) {
        bridge_rules_free(rs);
        return BRIDGE_ERR;
    }
    /* one writer at a time (the broker serialises reloads) */
    rs->old = atomic_load(&br->rules);
    atomic_store_explicit(&br->rules, rs, memory_order_release);
    return 0;
}

static const uint64_t lat_le_us[BRIDGE_LAT_N] = {100,     250,     500,     1000,    2500,   5000,
                                                 10000,   25000,   50000,   100000,  250000, 500000,
                                                 1000000, 2500000, 5000000, 10000000};

void bridge_lat_observe(struct bridge *br, uint64_t us)
{
    int i = 0;
    while (i < BRIDGE_LAT_N && us > lat_le_us[i])
        i++;
    atomic_fetch_add_explicit(&br->s.lat[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&br->s.lat_sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&br->s.lat_count, 1, memory_order_relaxed);
}

void bridge_get_latency(bridge_t *br, bridge_latency_t *out)
{
    for (int i = 0; i < BRIDGE_LAT_N; i++)
        out->le_us[i] = lat_le_us[i];
    for (int i = 0; i <= BRIDGE_LAT_N; i++)
        out->counts[i] = atomic_load_explicit(&br->s.lat[i], memory_order_relaxed);
    out->sum_us = atomic_load_explicit(&br->s.lat_sum_us, memory_order_relaxed);
    out->count = atomic_load_explicit(&br->s.lat_count, memory_order_relaxed);
}
