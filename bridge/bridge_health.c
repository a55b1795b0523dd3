/*
 * bridge_health.c - is Kafka reachable, and what the bridge does about it.
 * The state changes an operator must hear of (Kafka unreachable / reachable
 * again, records going to the spool / the spool drained, the spool above
 * its high-water mark / back under it, records being dead-lettered) are
 * reported once each through hooks.event, for the broker to log; the
 * library itself never logs. bridge_get_stats() exposes how long Kafka has
 * been unreachable, for readiness.
 *
 * "Unreachable" starts with librdkafka's all-brokers-down (or resolve)
 * error on the producer, whose idempotence keeps it connected even when
 * nothing is produced; it ends with any sign of life: a record acknowledged
 * or consumed, or a metadata answer to a probe sent once a second while
 * down. Everything here runs on the poll thread (the error callback is
 * served by rd_kafka_poll there); only h.down_since is read elsewhere.
 */
#include <stdio.h>

#include "bridge_int.h"

#define PROBE_EVERY_MS 1000
#define PROBE_TIMEOUT_MS 200
#define DLQ_QUIET_MS 10000 /* dead letters after this long without any: news again */

static void emit(struct bridge *br, int ev, const char *detail)
{
    if (br->hooks.event) br->hooks.event(br->hooks.ctx, ev, detail);
}

static void set_down(struct bridge *br, const char *why)
{
    if (br->h.down) return;
    br->h.down = true;
    br->h.next_probe_ms = bridge_now_ms() + PROBE_EVERY_MS;
    int64_t now = bridge_now_ms();
    atomic_store(&br->h.down_since, now ? now : 1);
    char d[300];
    snprintf(d, sizeof(d), "Kafka unreachable (bootstrap %s): %s", br->cfg->kafka.bootstrap, why);
    emit(br, BRIDGE_EV_KAFKA_DOWN, d);
}

static void set_up(struct bridge *br, const char *how)
{
    if (!br->h.down) return;
    br->h.down = false;
    int64_t since = atomic_exchange(&br->h.down_since, 0);
    char d[200];
    snprintf(d, sizeof(d), "Kafka reachable again after %lld ms (%s)",
             (long long)(bridge_now_ms() - since), how);
    emit(br, BRIDGE_EV_KAFKA_UP, d);
}

void bridge_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct bridge *br = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__RESOLVE)
        set_down(br, reason ? reason : rd_kafka_err2str(err));
}

uint64_t bridge_high_water(const struct bridge *br)
{
    uint32_t pct = br->cfg->bridge.spool_high_water ? br->cfg->bridge.spool_high_water : 80;
    return br->cfg->bridge.spool_max_bytes / 100 * pct;
}

static void check_reachable(struct bridge *br, int64_t now)
{
    uint64_t acked = atomic_load(&br->s.acked), consumed = atomic_load(&br->s.consumed);
    bool alive = acked != br->h.seen_acked || consumed != br->h.seen_consumed;
    br->h.seen_acked = acked;
    br->h.seen_consumed = consumed;
    if (!br->h.down) return;
    if (alive) {
        set_up(br, "a record went through");
        return;
    }
    if (now < br->h.next_probe_ms) return;
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(br->rk, 0, NULL, &md, PROBE_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
        set_up(br, "a broker answered");
    }
    br->h.next_probe_ms = bridge_now_ms() + PROBE_EVERY_MS;
}

static void check_spool(struct bridge *br)
{
    pthread_mutex_lock(&br->mu);
    int mode = br->mode;
    pthread_mutex_unlock(&br->mu);
    char d[200];
    uint64_t depth = atomic_load(&br->s.spool_depth), bytes = atomic_load(&br->s.spool_bytes);
    if (mode != br->h.mode_seen) {
        br->h.mode_seen = mode;
        if (mode == MODE_SPOOL) {
            snprintf(d, sizeof(d),
                     "Kafka did not acknowledge in time: records go to the spool "
                     "(%llu records, %llu bytes spooled)",
                     (unsigned long long)depth, (unsigned long long)bytes);
            emit(br, BRIDGE_EV_SPOOLING, d);
        } else {
            emit(br, BRIDGE_EV_DRAINED, "spool drained: records go straight to Kafka again");
        }
    }
    bool high = bytes > bridge_high_water(br);
    if (high != br->h.spool_high) {
        br->h.spool_high = high;
        snprintf(d, sizeof(d), "spool %s its high-water mark: %llu of %llu bytes (mark %llu)",
                 high ? "above" : "back under", (unsigned long long)bytes,
                 (unsigned long long)br->cfg->bridge.spool_max_bytes,
                 (unsigned long long)bridge_high_water(br));
        emit(br, high ? BRIDGE_EV_SPOOL_HIGH : BRIDGE_EV_SPOOL_OK, d);
    }
}

static void check_dead(struct bridge *br, int64_t now)
{
    uint64_t dead = atomic_load(&br->s.dead_lettered);
    if (dead == br->h.seen_dead) return;
    bool news = !br->h.last_dead_ms || now - br->h.last_dead_ms >= DLQ_QUIET_MS;
    br->h.seen_dead = dead;
    br->h.last_dead_ms = now;
    if (!news) return;
    char d[200];
    snprintf(d, sizeof(d), "Kafka refused records for good (%s): dead-lettered to %s (%llu so far)",
             rd_kafka_err2name((rd_kafka_resp_err_t)atomic_load(&br->h.last_dead_err)),
             br->cfg->bridge.dead_letter_topic ? br->cfg->bridge.dead_letter_topic
                                               : "the local quarantine",
             (unsigned long long)dead);
    emit(br, BRIDGE_EV_DEAD_LETTER, d);
}

void bridge_health_step(struct bridge *br)
{
    int64_t now = bridge_now_ms();
    check_reachable(br, now);
    check_spool(br);
    check_dead(br, now);
}
