/*
 * bridge.h - the Kafka bridge: MQTT messages into Kafka by rules
 * (bridge.to_kafka), Kafka records back into MQTT (bridge.from_kafka).
 *
 * What it is for: the broker offers every PUBLISH it routes to
 * bridge_offer(); the bridge evaluates the to_kafka rules, produces the
 * matching records with an idempotent acks=all producer and tells the broker
 * (through the ack callback) when each QoS 1/2 message is safe, so that the
 * PUBACK never runs ahead of Kafka. While Kafka is unreachable for longer
 * than bridge.spool_after_ms, records go to a spool (LevelDB k/<seq> records
 * through the store, or memory when there is no store) in publish order,
 * and drain in that order when Kafka is back. Records Kafka refuses for good
 * go to bridge.dead_letter_topic or to the local quarantine (d/<seq>).
 * Consumers of from_kafka rules hand records to the broker through
 * hooks->inject and commit offsets only after inject succeeded.
 * Only this library calls librdkafka; it never includes broker headers.
 *
 * Ownership: bridge_new() keeps pointers to cfg and store (both must outlive
 * the bridge) and copies the hooks. bridge_msg_t fields are views valid only
 * during the call that receives them.
 *
 * Threads: bridge_offer() and bridge_get_stats() may be called from any
 * thread, concurrently, between bridge_start() and bridge_stop().
 * bridge_new/start/stop/free are for one thread. The bridge runs one
 * producer poll thread (delivery reports, spool writes and drain, ack
 * callbacks) and one thread per from_kafka rule (inject); all are joined by
 * bridge_stop(). Ack callbacks and inject run on those threads: hand off
 * quickly.
 *
 * Libraries never log: errors come back as BRIDGE_ERR / a message in err,
 * and everything dropped, failed or dead-lettered is counted in
 * bridge_stats_t. docs/KAFKA.md has the rule syntax, record formats and the
 * guarantees of each ack mode.
 */
#ifndef SLUICE_BRIDGE_H
#define SLUICE_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "store.h"

typedef struct bridge bridge_t;

typedef struct bridge_msg { /* views, valid only during the call */
    const char *topic;
    uint16_t topic_len;
    const uint8_t *payload;
    uint32_t payload_len;
    uint8_t qos;
    bool retain;
    const char *clientid; /* NUL-terminated, "" if none */
    const char *username; /* NULL if none */
    /* MQTT 5 properties exactly as encoded on the wire inside a PUBLISH
     * property section (sequence of id + value, no leading length): may hold
     * 0x01 payload format, 0x02 message expiry, 0x03 content type, 0x08
     * response topic, 0x09 correlation data, 0x26 user properties. */
    const uint8_t *props;
    uint32_t props_len;
} bridge_msg_t;

enum {
    BRIDGE_NO_MATCH = 0,
    BRIDGE_DONE = 1,
    BRIDGE_PENDING = 2,
    BRIDGE_FULL = -1,
    BRIDGE_ERR = -2,
};

/* "no match", "full", ... for a bridge_offer()/bridge_new() return code. */
const char *bridge_strerror(int rc);

/* 0: safe (Kafka acknowledged with acks=all, durable in the spool, or
 * durable in the dead-letter quarantine); <0: could not be made safe. */
typedef void (*bridge_ack_fn)(void *arg, int status);

typedef struct bridge_hooks {
    /* Kafka->MQTT: route one message into the broker; called from a bridge
     * consumer thread; returns 0 once the message is handed to every
     * matching local subscriber (and stored for offline persistent ones),
     * <0 on failure (then the offset is not committed and the record is
     * retried later). */
    int (*inject)(void *ctx, const bridge_msg_t *m);
    /* A state change an operator must hear of (BRIDGE_EV_*), each reported
     * once when it happens, with a one-line description; called from the
     * producer's poll thread. May be NULL. */
    void (*event)(void *ctx, int ev, const char *detail);
    void *ctx;
    /* This run of the node (header sluice.inc on every record), copied;
     * NULL: no such header. */
    const char *incarnation;
} bridge_hooks_t;

enum {
    BRIDGE_EV_KAFKA_DOWN = 1, /* all brokers unreachable (or bootstrap unresolvable) */
    BRIDGE_EV_KAFKA_UP,       /* reachable again */
    BRIDGE_EV_SPOOLING,       /* records go to the spool instead of Kafka */
    BRIDGE_EV_DRAINED,        /* spool empty: records go straight to Kafka again */
    BRIDGE_EV_SPOOL_HIGH,     /* spool above its high-water mark */
    BRIDGE_EV_SPOOL_OK,       /* back under it */
    BRIDGE_EV_DEAD_LETTER,    /* records dead-lettered (again, after a quiet while) */
};

/* Compile the rules (templates once, here). A bad rule fails with
 * "bridge.to_kafka[i].FIELD: ..." or "bridge.from_kafka[i].FIELD: ..." in
 * err. store NULL (persistence.sync none): the spool lives in memory and is
 * lost with the process (documented as lossy). hooks may be NULL when there
 * are no from_kafka rules. */
int bridge_new(const cfg_t *cfg, store_t *store, const bridge_hooks_t *hooks, bridge_t **out,
               char *err, size_t errlen);

/* Start the producer and the consumers; a spool left by a previous run is
 * replayed first (before any newer record). */
int bridge_start(bridge_t *br);

/*
 * Offer an MQTT message (any I/O worker thread, concurrently). Evaluates
 * to_kafka rules in order (a rule with final:true stops evaluation).
 * NO_MATCH: no rule matched. DONE: accepted and nothing to wait for (QoS 0,
 * or ack:"local"). PENDING: fn(arg, status) will be called exactly once,
 * from a bridge thread, when every matched record is safe (or failed).
 * FULL: spool is full; nothing was accepted (broker replies 0x97 / stops
 * reading). ERR: not started / stopping. Never blocks on the network.
 */
__attribute__((warn_unused_result)) int bridge_offer(bridge_t *br, const bridge_msg_t *m,
                                                     bridge_ack_fn fn, void *arg);

/* Replace the to_kafka rules with cfg's (a reload; cfg must outlive the
 * bridge). Offers already running finish with the old rules, every later
 * one sees the new; per-rule counters start again at 0. A bad rule fails
 * with the same message as bridge_new and leaves the rules as they were.
 * One caller at a time. */
int bridge_set_rules(bridge_t *br, const cfg_t *cfg, char *err, size_t errlen);

/* Flush what can be flushed within a bounded time (at most
 * max(spool_after_ms, 1 s), capped at 10 s); keep the rest spooled; join
 * every bridge thread. Every pending ack callback has been called when it
 * returns. Idempotent. */
void bridge_stop(bridge_t *br);

/* Stops if needed, then frees. NULL is a no-op. */
void bridge_free(bridge_t *br);

typedef struct bridge_stats {
    uint64_t produced;          /* records handed to the producer (incl. replays) */
    uint64_t acked;             /* records Kafka acknowledged */
    uint64_t failed;            /* records that could not be made safe */
    uint64_t spooled;           /* records written to the spool */
    uint64_t spool_depth;       /* records in the spool now */
    uint64_t spool_bytes;       /* bytes in the spool now */
    uint64_t dead_lettered;     /* records sent to the dead-letter topic or quarantine */
    uint64_t consumed;          /* Kafka records read by from_kafka consumers */
    uint64_t delivered;         /* of those, injected into the broker */
    uint64_t consumer_lag;      /* sum over rules of the last seen partition lag */
    uint64_t dropped;           /* QoS 0 / ack:local records dropped (spool full) */
    uint64_t producer_renewals; /* producers replaced after a fatal librdkafka error */
    uint64_t kafka_down_ms;     /* how long Kafka has been unreachable; 0: reachable */
    uint64_t spool_high_water;  /* bytes: bridge.spool_high_water % of spool_max_bytes */
    uint64_t headers_skipped;   /* from_kafka headers left out of the MQTT 5 properties
                                   (name or value longer than 65,535 bytes) */
} bridge_stats_t;

/* Any thread, approximate. */
void bridge_get_stats(bridge_t *br, bridge_stats_t *out);
/* Latency from a record handed to librdkafka to Kafka's acknowledgement
 * (acks=all), as a histogram: counts[i] records took at most le_us[i]
 * microseconds and more than le_us[i-1] (not cumulative); counts[N] the
 * rest. Any thread, approximate. */
#define BRIDGE_LAT_N 16
typedef struct bridge_latency {
    uint64_t le_us[BRIDGE_LAT_N];
    uint64_t counts[BRIDGE_LAT_N + 1];
    uint64_t sum_us, count;
} bridge_latency_t;
void bridge_get_latency(bridge_t *br, bridge_latency_t *out);

/* Per rule, in config order (any thread, approximate): for each to_kafka
 * rule the messages it matched and its records produced, acknowledged,
 * failed and spooled (records of this run; one read back from the store's
 * spool after a restart counts in the totals only), and the last seen
 * partition lag of each from_kafka rule's consumer. Entries past the
 * bridge's rules read 0. */
typedef struct bridge_rule_stats {
    uint64_t matched, produced, acked, failed, spooled;
} bridge_rule_stats_t;
void bridge_get_rule_stats(bridge_t *br, bridge_rule_stats_t *to, size_t n_to, uint64_t *from_lag,
                           size_t n_from);

/* Dead letters kept locally (no dead_letter_topic): one line per record to
 * out; returns the number listed or BRIDGE_ERR. */
int bridge_dlq_list(store_t *st, FILE *out);
/* Produce every local dead letter to its original topic again, deleting
 * each once Kafka acknowledged it. Returns the number replayed, or
 * BRIDGE_ERR with a message in err (those not replayed stay). */
int bridge_dlq_replay(const cfg_t *cfg, store_t *st, char *err, size_t errlen);

/* Development Kafka: librdkafka's in-process mock cluster (memory only). */
typedef struct bridge_dev_kafka bridge_dev_kafka_t;
int bridge_dev_kafka_start(int brokers, bridge_dev_kafka_t **out, char *bootstrap, size_t len);
void bridge_dev_kafka_stop(bridge_dev_kafka_t *dk);

#endif
