/*
 * bridge_int.h - what the files of bridge/ share; not part of the API and
 * not on the public include path (bridge/include/ is). Only the bridge's
 * unit and fuzz tests reach it, by naming bridge/ on their include path.
 *
 * A record travels as one "blob" (the same bytes go to the spool and to the
 * dead-letter quarantine), built once by bridge_format.c:
 *   u8 version (BLOB_VERSION) | u8 flags | u64 timestamp ms
 *   u16 topic len | topic | NUL | u16 key len | key
 *   u16 header count | { u16 name len | name | u32 value len | value }...
 *   u32 value len | value
 * all integers big-endian. A rec_t owns one blob and follows it through
 * the producer, the spool writer and the dead-letter path.
 *
 * Locking: br->mu guards the mode, the sequence counters and the lists;
 * direct_inflight is raised under it (with the mode read) and lowered by
 * successful delivery reports without it; stats are atomics read without
 * it. bridge_produce.c says why produce calls run outside br->mu.
 */
#ifndef SLUICE_BRIDGE_INT_H
#define SLUICE_BRIDGE_INT_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "bridge.h"

#define BLOB_VERSION 1
#define BRIDGE_JSON_VERSION 1

/* byte buffers: store_buf_t (store.h) */

/* ---- templates (bridge_tmpl.c) ---- */
enum tseg_kind {
    TS_LIT,
    TS_LEVEL, /* {N}, N from 1 */
    TS_TOPIC, /* to_kafka: MQTT topic; from_kafka: Kafka topic */
    TS_CLIENTID,
    TS_USERNAME,
    TS_NODE,
    TS_KEY,       /* from_kafka */
    TS_PARTITION, /* from_kafka */
    TS_HEADER,    /* from_kafka {header.NAME} */
};
typedef struct tseg {
    int kind;
    uint32_t n;    /* level */
    const char *s; /* literal or header name, into tmpl.text */
    uint32_t len;
} tseg_t;
typedef struct tmpl {
    tseg_t *segs;
    size_t n;
    char *text;
} tmpl_t;
enum { TMPL_TO_KAFKA = 0, TMPL_FROM_KAFKA = 1, TMPL_KAFKA_TOPIC = 2 };
/* Compile src; on failure writes the reason into why and returns -1. */
int bridge_tmpl_compile(tmpl_t *t, const char *src, int mode, char *why, size_t whylen);
void bridge_tmpl_free(tmpl_t *t);
void bridge_tmpl_expand_mqtt(const tmpl_t *t, const bridge_msg_t *m, const char *node,
                             store_buf_t *out);
void bridge_tmpl_expand_kafka(const tmpl_t *t, const rd_kafka_message_t *rm, store_buf_t *out);
bool bridge_kafka_topic_valid(const char *s, size_t len);

/* ---- record blobs (bridge_format.c) ---- */
typedef struct rule {
    const cfg_to_kafka_t *cfg;
    tmpl_t topic, key;
    tmpl_t *hdr_vals;
    bool ack_kafka;                /* resolved: kafka unless ack:"local" */
    atomic_uint_least64_t matched; /* messages offered that this rule matched */
    /* its records (of this run: a record read back from the store's spool
     * no longer knows its rule and counts in the totals only) */
    atomic_uint_least64_t produced, acked, failed, spooled;
} rule_t;

typedef struct ruleset {
    rule_t *v;
    size_t n;
    struct ruleset *old; /* the set this one replaced */
} ruleset_t;

typedef struct blob_hdr {
    const char *name;
    uint16_t nlen;
    const uint8_t *val;
    uint32_t vlen;
} blob_hdr_t;
typedef struct blob_view {
    uint8_t flags;
    int64_t ts;
    const char *topic; /* NUL-terminated */
    uint16_t topic_len;
    const uint8_t *key;
    uint16_t key_len;
    uint16_t n_hdrs;
    const uint8_t *hdrs; /* encoded; iterate with bridge_blob_next_hdr */
    const uint8_t *value;
    uint32_t value_len;
} blob_view_t;
/* Append the blob for one rule and message; false on a malformed props. */
/* Who produces a record: node id (sluice.node, the {node} placeholder),
 * cluster id (sluice.cluster) and incarnation (sluice.inc); NULL or ""
 * leaves a header out. */
typedef struct blob_ids {
    const char *node, *cluster, *inc;
} blob_ids_t;
void bridge_blob_build(const rule_t *r, const bridge_msg_t *m, const blob_ids_t *ids, int64_t ts_ms,
                       store_buf_t *out);
int bridge_blob_parse(const uint8_t *p, size_t len, blob_view_t *v);
bool bridge_blob_next_hdr(const blob_view_t *v, uint32_t *off, uint16_t *i, blob_hdr_t *h);
bool bridge_json_valid(const uint8_t *p, size_t len);

/* ---- records in flight ---- */
typedef struct group {
    atomic_int left;
    atomic_int status;
    bridge_ack_fn fn;
    void *arg;
    struct group *next;
} group_t;

enum { REC_DIRECT, REC_DRAIN, REC_DLT };
typedef struct rec {
    struct rec *next;
    uint64_t seq;       /* publish order; spool key */
    uint64_t spool_seq; /* drained record: its k/<seq> (0 if none) */
    group_t *grp;       /* NULL: nobody waits */
    int kind;
    int err; /* the refusal, for dead letters */
    bool dlt_tried;
    /* when it was handed to librdkafka (produce latency). Stored with
     * release as the record's last write before rd_kafka_producev and loaded
     * with acquire first thing in the delivery report: librdkafka's queues
     * order the two, but ThreadSanitizer cannot see inside the library, so
     * this is the edge it sees for every field of the record. */
    _Atomic int64_t produced_us;
    rule_t *rule; /* the rule that made it, NULL if unknown (rules live until bridge_free) */
    uint32_t len;
    uint8_t blob[];
} rec_t;

typedef struct wbatch { /* spool / dead-letter write in the store */
    struct wbatch *next;
    struct bridge *br;
    rec_t *recs;  /* spooled records: acked when done */
    rec_t *deads; /* quarantined records */
    uint64_t min_seq;
    uint64_t *dels; /* spool seqs deleted */
    size_t n_dels;
} wbatch_t;

typedef struct consumer consumer_t;

enum { MODE_DIRECT, MODE_SPOOL };

struct bridge {
    const cfg_t *cfg;
    store_t *st;
    bridge_hooks_t hooks;
    char inc[24]; /* hooks.incarnation's copy, "" if none */
    /* to_kafka rules: swapped whole by bridge_set_rules while offers run;
     * a replaced set stays (chained by `old`) until bridge_free, so an
     * offer that still reads it is safe */
    _Atomic(struct ruleset *) rules;
    consumer_t *cons;
    size_t n_cons;
    rd_kafka_conf_t *pconf; /* until bridge_start */
    rd_kafka_t *rk;
    pthread_t poll_thr;
    bool started, stopped;
    atomic_bool stopping;
    int64_t timeout_ms; /* message.timeout.ms in effect */

    pthread_mutex_t mu;
    int mode;
    uint64_t next_seq, next_dead_seq;
    _Atomic uint64_t direct_inflight; /* raised under mu, see above */
    uint64_t drain_inflight;
    atomic_int producing;     /* offers in rd_kafka_producev outside mu (bridge_produce.c) */
    rec_t *puts, **puts_tail; /* to spool */
    rec_t *dead, **dead_tail; /* to the dead-letter topic or quarantine */
    uint64_t *dels;           /* spool seqs to delete */
    size_t n_dels, cap_dels;
    wbatch_t *writing; /* submitted to the store, not done */
    size_t n_writing;
    rec_t *mem; /* memory spool (no store), sorted by seq */
    group_t *done;
    uint64_t drain_cursor; /* last spool seq handed to the producer */
    uint64_t drain_fail_min;
    bool drain_failed;
    int64_t next_drain_ms;

    struct { /* bridge_health.c, poll thread but down_since and last_dead_err */
        bool down, spool_high;
        int mode_seen;
        int64_t next_probe_ms, last_dead_ms;
        uint64_t seen_acked, seen_consumed, seen_dead;
        atomic_int_least64_t down_since; /* monotonic ms; 0 while reachable */
        atomic_int last_dead_err;
    } h;

    struct {
        atomic_uint_least64_t producer_renewals;
        atomic_uint_least64_t produced, acked, failed, spooled, spool_depth, spool_bytes,
            dead_lettered, consumed, delivered, consumer_lag, dropped, headers_skipped;
        /* produce -> acknowledged, microseconds (poll thread writes) */
        atomic_uint_least64_t lat[BRIDGE_LAT_N + 1], lat_sum_us, lat_count;
    } s;
};

/* Count a record on the bridge's totals and on its rule. */
#define BRIDGE_COUNT(br, r, field)                                                                 \
    do {                                                                                           \
        atomic_fetch_add(&(br)->s.field, 1);                                                       \
        if ((r)->rule) atomic_fetch_add(&(r)->rule->field, 1);                                     \
    } while (0)

int64_t bridge_now_ms(void);
/* The record's last header `name` is exactly val (NULL h or val: false). */
bool bridge_header_is(rd_kafka_headers_t *h, const char *name, const char *val);
int64_t bridge_now_us(void);
/* One produce -> acknowledged latency (bridge.c). */
void bridge_lat_observe(struct bridge *br, uint64_t us);
/* Last seen partition lag of from_kafka rule i (bridge_consume.c). */
uint64_t bridge_consumer_lag(struct bridge *br, size_t i);
void bridge_group_release(struct bridge *br, group_t *g, int status);        /* mu not held */
void bridge_group_release_locked(struct bridge *br, group_t *g, int status); /* mu held */
rec_t *bridge_rec_new(const uint8_t *blob, size_t len);

/* bridge_produce.c */
void bridge_quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
rd_kafka_conf_t *bridge_producer_conf(const cfg_t *cfg, char *err, size_t errlen);
int bridge_produce(struct bridge *br, rec_t *r, const char *topic_override);
bool bridge_err_permanent(rd_kafka_resp_err_t e);
void bridge_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
/* Compile cfg's to_kafka rules into a new set (*out; NULL-free on error). */
int bridge_rules_compile(const cfg_t *cfg, ruleset_t **out, char *err, size_t errlen);
void bridge_rules_free(ruleset_t *rs);

/* bridge_spool.c (poll thread unless noted) */
void bridge_spool_put_locked(struct bridge *br, rec_t *r); /* any thread, mu held */
void bridge_dead_put_locked(struct bridge *br, rec_t *r, int err);
void bridge_spool_step(struct bridge *br);
int bridge_spool_load(struct bridge *br); /* at start: depth, bytes, seqs */
void bridge_spool_mem_free(struct bridge *br);

/* bridge_health.c (poll thread) */
void bridge_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);
void bridge_health_step(struct bridge *br);
uint64_t bridge_high_water(const struct bridge *br);

/* bridge_consume.c */
int bridge_consumers_new(struct bridge *br, char *err, size_t errlen);
int bridge_consumers_start(struct bridge *br);
void bridge_consumers_stop(struct bridge *br);
void bridge_consumers_free(struct bridge *br);

/* bridge_dlq.c */
void bridge_dlq_encode(store_buf_t *b, int err, const uint8_t *blob, size_t len);
int bridge_dlq_decode(const uint8_t *p, size_t len, int *err, const uint8_t **blob, size_t *blen);

#endif
