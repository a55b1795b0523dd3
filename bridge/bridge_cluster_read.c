/*
 * bridge_cluster_read.c - the cluster's reader thread (bridge_cluster.h):
 * every partition of the four internal topics, assigned without a
 * consumer group; heartbeats and node liveness run on the same loop.
 *
 * The start-up load is complete when each partition of retained, interest
 * and nodes has reported its end (partition EOF) once: the end it had when
 * we got there, which is at or after the end it had at start.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bridge_int.h"
#include "cluster_int.h"

rd_kafka_t *bridge_cluster_consumer(struct bridge_cluster *c, const char *group, const char *reset,
                                    char *err, size_t errlen)
{
    const cfg_t *cfg = c->cfg;
    char kerr[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(kc, bridge_quiet_log);
    const char *set[][2] = {
        {"bootstrap.servers", cfg->kafka.bootstrap},
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", reset},
        {"fetch.wait.max.ms", "10"},
        {"client.id", "sluice-cluster"},
        {"reconnect.backoff.max.ms", "1000"},
    };
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        if (rd_kafka_conf_set(kc, set[i][0], set[i][1], kerr, sizeof(kerr))) {
            snprintf(err, errlen, "cluster: %s: %s", set[i][0], kerr);
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
    for (size_t j = 0; j < cfg->kafka.n_properties; j++)
        if (rd_kafka_conf_set(kc, cfg->kafka.properties[j].key, cfg->kafka.properties[j].value,
                              kerr, sizeof(kerr))) {
            snprintf(err, errlen, "kafka.properties.%s: %s", cfg->kafka.properties[j].key, kerr);
            rd_kafka_conf_destroy(kc);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, kerr, sizeof(kerr));
    if (!rk) {
        snprintf(err, errlen, "cluster: cannot create a reader: %s", kerr);
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

int bridge_cluster_reader_new(struct bridge_cluster *c, char *err, size_t errlen)
{
    char group[200];
    /* no member joins this group (assign): it only keeps this node's msgs
     * positions, committed by commit_msgs(); on a first start, msgs from
     * its end */
    snprintf(group, sizeof(group), "sluice-cluster-%s-%s", c->cfg->cluster.id, c->cfg->node_id);
    c->cons = bridge_cluster_consumer(c, group, "latest", err, errlen);
    return c->cons ? 0 : -1;
}

static void event(struct bridge_cluster *c, int ev, const char *detail)
{
    if (c->hooks.event) c->hooks.event(c->hooks.ctx, ev, detail);
}

/* Partitions of topic t, or -1 while it does not exist. */
static int32_t partitions_of(struct bridge_cluster *c, int t)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->prod, c->topic[t], NULL);
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = -1;
    if (rkt && !rd_kafka_metadata(c->prod, 0, rkt, &md, 2000) && md->topic_cnt == 1 &&
        !md->topics[0].err && md->topics[0].partition_cnt > 0)
        n = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    if (rkt) rd_kafka_topic_destroy(rkt);
    return n;
}

/* ---- heartbeats and liveness ----------------------------------------- */

static void beat(struct bridge_cluster *c)
{
    int64_t now = bridge_now_ms();
    if (now - c->last_beat < (int64_t)c->cfg->cluster.heartbeat_ms) return;
    c->last_beat = now;
    (void)bridge_cluster_produce(c, CT_NODES, c->cfg->node_id, strlen(c->cfg->node_id), "1", 1,
                                 bridge_cluster_headers(c), NULL, NULL);
}

static cnode_t *node_get(struct bridge_cluster *c, const char *id, size_t len)
{
    for (uint32_t i = 0; i < c->n_nodes; i++)
        if (strlen(c->nodes[i].id) == len && !memcmp(c->nodes[i].id, id, len)) return &c->nodes[i];
    if (len >= sizeof(c->nodes[0].id)) return NULL;
    if (c->n_nodes == c->cap_nodes) {
        uint32_t cap = c->cap_nodes ? c->cap_nodes * 2 : 8;
        cnode_t *v = realloc(c->nodes, cap * sizeof(*v));
        if (!v) return NULL;
        c->nodes = v;
        c->cap_nodes = cap;
    }
    cnode_t *n = &c->nodes[c->n_nodes++];
    memset(n, 0, sizeof(*n));
    memcpy(n->id, id, len);
    return n;
}

static void node_set(struct bridge_cluster *c, cnode_t *n, bool up, bool left)
{
    if (n->up == up) return;
    n->up = up;
    if (up)
        atomic_fetch_add(&c->nodes_up, 1);
    else
        atomic_fetch_sub(&c->nodes_up, 1);
    if (c->hooks.node) c->hooks.node(c->hooks.ctx, n->id, n->inc, up, left);
}

static void nodes_expire(struct bridge_cluster *c)
{
    int64_t now = bridge_cluster_wall_ms();
    for (uint32_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i].up && now - c->nodes[i].last_ms > (int64_t)c->cfg->cluster.node_timeout_ms)
            node_set(c, &c->nodes[i], false, false);
}

/* ---- records ---------------------------------------------------------- */

bool bridge_cluster_hdr(rd_kafka_headers_t *h, const char *name, const void **v, size_t *vl)
{
    return h && !rd_kafka_header_get_last(h, name, v, vl) && *v;
}

uint32_t bridge_cluster_hdr_u32(rd_kafka_headers_t *h, const char *name)
{
    const void *v;
    size_t vl;
    char b[16];
    if (!bridge_cluster_hdr(h, name, &v, &vl) || vl >= sizeof(b)) return 0;
    memcpy(b, v, vl);
    b[vl] = 0;
    return (uint32_t)strtoul(b, NULL, 10);
}

/* A message or retained record as a bridge_msg_t; false if unusable. */
bool bridge_cluster_as_msg(rd_kafka_message_t *rm, rd_kafka_headers_t *h, bridge_msg_t *m)
{
    const void *v;
    size_t vl;
    memset(m, 0, sizeof(*m));
    if (!rm->key || !rm->key_len || rm->key_len > 0xffff || !mqtt_topic_valid(rm->key, rm->key_len))
        return false;
    m->topic = rm->key;
    m->topic_len = (uint16_t)rm->key_len;
    m->payload = rm->payload ? rm->payload : (const uint8_t *)"";
    m->payload_len = (uint32_t)rm->len;
    uint32_t q = bridge_cluster_hdr_u32(h, "mqtt.qos");
    m->qos = (uint8_t)(q > 2 ? 2 : q);
    m->retain = bridge_header_is(h, "mqtt.retain", "1");
    m->clientid = "";
    if (bridge_cluster_hdr(h, "sluice.props", &v, &vl)) {
        if (vl > 0xffffff || !mqtt_props_forwardable(v, (uint32_t)vl)) return false;
        m->props = v;
        m->props_len = (uint32_t)vl;
    }
    return true;
}

bool bridge_cluster_expiry(rd_kafka_message_t *rm, rd_kafka_headers_t *h, uint32_t *left)
{
    uint32_t expiry = bridge_cluster_hdr_u32(h, "mqtt.expiry");
    rd_kafka_timestamp_type_t tt;
    int64_t when = rd_kafka_message_timestamp(rm, &tt), age = bridge_cluster_wall_ms() - when;
    if (expiry && when > 0 && age > 0) { /* a record read late (a restart): expiry counts */
        if (age >= (int64_t)expiry * 1000) return false;
        expiry -= (uint32_t)(age / 1000);
    }
    *left = expiry;
    return true;
}

static void on_msg(struct bridge_cluster *c, rd_kafka_message_t *rm, rd_kafka_headers_t *h)
{
    atomic_fetch_add(&c->msgs_consumed, 1);
    bridge_msg_t m;
    bridge_cluster_at_t at = {rm->partition, rm->offset,
                              bridge_header_is(h, "sluice.node", c->cfg->node_id)};
    if (at.own || !bridge_cluster_as_msg(rm, h, &m)) {
        atomic_fetch_add(&c->msgs_skipped, 1); /* our own (delivered at once), or unusable */
        /* a session moving in may need it (only then: a parse each) */
        if (at.own && atomic_load_explicit(&c->own_on, memory_order_relaxed) &&
            bridge_cluster_as_msg(rm, h, &m))
            (void)c->hooks.deliver(c->hooks.ctx, &m, bridge_cluster_hdr_u32(h, "mqtt.expiry"), NULL,
                                   0, &at);
        return;
    }
    uint32_t expiry;
    if (!bridge_cluster_expiry(rm, h, &expiry)) {
        atomic_fetch_add(&c->msgs_skipped, 1);
        return;
    }
    const void *sh = NULL;
    size_t shl = 0;
    if (!bridge_cluster_hdr(h, "sluice.share", &sh, &shl)) sh = NULL;
    while (c->hooks.deliver(c->hooks.ctx, &m, expiry, sh, sh ? shl : 0, &at) < 0 &&
           !atomic_load(&c->stop)) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&c->msgs_delivered, 1);
}

static void on_retained(struct bridge_cluster *c, rd_kafka_message_t *rm, rd_kafka_headers_t *h)
{
    bridge_msg_t m;
    if (!bridge_cluster_as_msg(rm, h, &m)) return;
    m.retain = true;
    c->hooks.retained(c->hooks.ctx, &m);
    atomic_fetch_add(&c->retained_applied, 1);
}

static void on_interest(struct bridge_cluster *c, rd_kafka_message_t *rm)
{
    const char *k = rm->key, *sp = k ? memchr(k, ' ', rm->key_len) : NULL;
    if (!sp || sp == k) return;
    size_t nl = (size_t)(sp - k), fl = rm->key_len - nl - 1;
    if (!fl || fl > 0xffff) return;
    bool on = rm->len > 0;
    const char *node = c->cfg->node_id;
    if (nl == strlen(node) && !memcmp(k, node, nl)) {
        if (!c->loaded && c->hooks.own_interest)
            c->hooks.own_interest(c->hooks.ctx, sp + 1, (uint16_t)fl, on);
        return;
    }
    char id[72];
    if (nl >= sizeof(id)) return;
    memcpy(id, k, nl);
    id[nl] = 0;
    rd_kafka_timestamp_type_t tt;
    int64_t at = rd_kafka_message_timestamp(rm, &tt);
    c->hooks.interest(c->hooks.ctx, id, sp + 1, (uint16_t)fl, on, at > 0 ? at : 0);
}

static void on_node(struct bridge_cluster *c, rd_kafka_message_t *rm, rd_kafka_headers_t *h)
{
    cnode_t *n = rm->key ? node_get(c, rm->key, rm->key_len) : NULL;
    const void *v;
    size_t vl;
    if (!n || !bridge_cluster_hdr(h, "sluice.inc", &v, &vl) || vl >= sizeof(n->inc)) return;
    bool same = strlen(n->inc) == vl && !memcmp(n->inc, v, vl);
    if (!rm->len) { /* it said goodbye */
        if (same) node_set(c, n, false, true);
        return;
    }
    if (!same) { /* a new incarnation: the old one is gone for good */
        node_set(c, n, false, false);
        memcpy(n->inc, v, vl);
        n->inc[vl] = 0;
        n->last_ms = 0;
    }
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(rm, &tt);
    if (ts <= 0) ts = bridge_cluster_wall_ms();
    if (ts > n->last_ms) n->last_ms = ts;
    if (bridge_cluster_wall_ms() - n->last_ms <= (int64_t)c->cfg->cluster.node_timeout_ms)
        node_set(c, n, true, false);
}

static void on_session(struct bridge_cluster *c, rd_kafka_message_t *rm, rd_kafka_headers_t *h)
{
    bridge_kv_t kv[BRIDGE_CLUSTER_MAX_HDRS];
    size_t n = 0;
    const char *name, *node = NULL, *inc = NULL;
    const void *v;
    size_t vl;
    char nb[72], ib[24];
    for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &v, &vl); i++) {
        if (!v) continue;
        if (!strcmp(name, "sluice.node") && vl < sizeof(nb)) {
            memcpy(nb, v, vl);
            nb[vl] = 0;
            node = nb;
        } else if (!strcmp(name, "sluice.inc") && vl < sizeof(ib)) {
            memcpy(ib, v, vl);
            ib[vl] = 0;
            inc = ib;
        } else if (strcmp(name, "sluice.v") && strcmp(name, "sluice.cluster") &&
                   n < BRIDGE_CLUSTER_MAX_HDRS) {
            kv[n++] = (bridge_kv_t){.name = name, .v = v, .len = vl};
        }
    }
    if (!node || !inc || !rm->key || !rm->key_len || !c->hooks.session) return;
    c->hooks.session(c->hooks.ctx, rm->key, rm->key_len, node, inc, kv, n, rm->payload, rm->len);
}

static int topic_index(struct bridge_cluster *c, rd_kafka_message_t *rm)
{
    const char *name = rd_kafka_topic_name(rm->rkt);
    for (int t = 0; t < CT_N; t++)
        if (!strcmp(name, c->topic[t])) return t;
    return -1;
}

/* Partition p of t is read to the end it had at start (or later). */
static void partition_done(struct bridge_cluster *c, int t, int32_t p)
{
    if (t == CT_MSGS || c->eof[t][p]) return;
    c->eof[t][p] = true;
    if (--c->eof_left == 0) {
        bridge_cluster_loaded(c);
        event(c, BRIDGE_CLUSTER_EV_LOADED,
              "retained, interest, nodes and sessions read to the end");
    }
}

/* The end a partition had at start, when Kafka says (an empty partition
 * is done at once); the others wait for their end-of-partition event. */
static void query_ends(struct bridge_cluster *c)
{
    for (int t = CT_RETAINED; t < CT_N; t++)
        for (int32_t p = 0; p < c->parts[t]; p++) {
            int64_t lo, hi;
            c->hi0[t][p] = -1;
            if (rd_kafka_query_watermark_offsets(c->cons, c->topic[t], p, &lo, &hi, 2000)) continue;
            c->hi0[t][p] = hi;
            if (hi <= lo) partition_done(c, t, p);
        }
}

/* While loading: partitions whose position reached their start end. */
static void check_ends(struct bridge_cluster *c)
{
    for (int t = CT_RETAINED; t < CT_N && c->eof_left; t++)
        for (int32_t p = 0; p < c->parts[t]; p++)
            if (!c->eof[t][p] && c->hi0[t][p] >= 0 && atomic_load(&c->pos[t][p]) >= c->hi0[t][p])
                partition_done(c, t, p);
}

static void on_record(struct bridge_cluster *c, rd_kafka_message_t *rm)
{
    int t = topic_index(c, rm);
    if (t < 0 || rm->partition < 0 || rm->partition >= atomic_load(&c->parts[t])) return;
    if (rm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        partition_done(c, t, rm->partition);
        return;
    }
    if (rm->err) return;
    atomic_store(&c->down_since, 0);
    atomic_store(&c->pos[t][rm->partition], rm->offset + 1);
    if (t == CT_MSGS) c->moved = true;
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(rm, &h);
    if (!bridge_header_is(h, "sluice.cluster", c->cfg->cluster.id)) { /* another cluster's */
        if (t == CT_MSGS) atomic_fetch_add(&c->msgs_skipped, 1);
        return;
    }
    switch (t) {
    case CT_MSGS:
        on_msg(c, rm, h);
        break;
    case CT_RETAINED:
        on_retained(c, rm, h);
        break;
    case CT_INTEREST:
        on_interest(c, rm);
        break;
    case CT_NODES:
        on_node(c, rm, h);
        break;
    default:
        on_session(c, rm, h);
        break;
    }
}

/* Commit the msgs positions once what was delivered up to them is
 * durable (hooks.durable): a restart resumes there, at-least-once. */
static void commit_msgs(struct bridge_cluster *c, bool sync)
{
    int32_t n = atomic_load(&c->parts[CT_MSGS]);
    if (!c->moved || n <= 0) return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int32_t p = 0; p < n; p++) {
        int64_t at = atomic_load(&c->pos[CT_MSGS][p]);
        if (at >= 0) rd_kafka_topic_partition_list_add(l, c->topic[CT_MSGS], p)->offset = at;
    }
    /* positions taken before the barrier: everything before them was
     * handed to deliver already */
    if (l->cnt && (!c->hooks.durable || c->hooks.durable(c->hooks.ctx) == 0)) {
        rd_kafka_commit(c->cons, l, sync ? 0 : 1);
        c->moved = false;
    }
    rd_kafka_topic_partition_list_destroy(l);
}

void bridge_cluster_own_records(bridge_cluster_t *c, bool on)
{
    atomic_store(&c->own_on, on);
}

int32_t bridge_cluster_msgs_positions(bridge_cluster_t *c, int64_t *pos, int32_t cap)
{
    int32_t n = atomic_load_explicit(&c->parts[CT_MSGS], memory_order_acquire);
    if (n > cap) n = cap;
    for (int32_t p = 0; p < n; p++)
        pos[p] = atomic_load(&c->pos[CT_MSGS][p]);
    return n < 0 ? 0 : n;
}

int32_t bridge_cluster_msgs_floor(bridge_cluster_t *c, int64_t *pos, int32_t cap)
{
    int32_t n = bridge_cluster_msgs_positions(c, pos, cap);
    for (int32_t p = 0; p < n; p++)
        if (pos[p] < 0) pos[p] = c->msgs_start ? c->msgs_start[p] : -1;
    return n;
}

/* ---- the sessions barrier ----------------------------------------------- */

uint64_t bridge_cluster_sessions_sync(bridge_cluster_t *c)
{
    return atomic_fetch_add(&c->sync_want, 1) + 1;
}

bool bridge_cluster_sessions_synced(bridge_cluster_t *c, uint64_t ticket)
{
    return atomic_load(&c->sync_done) >= ticket;
}

/* Take the ends of every sessions partition for the tickets asked so far,
 * then answer them once the positions reach those ends. */
static void sessions_barrier(struct bridge_cluster *c)
{
    int32_t n = c->parts[CT_SESSIONS];
    if (!c->sync_active) {
        uint64_t want = atomic_load(&c->sync_want);
        if (want <= atomic_load(&c->sync_done) || n <= 0) return;
        if (!c->sync_hi && !(c->sync_hi = calloc((size_t)n, sizeof(*c->sync_hi)))) return;
        for (int32_t p = 0; p < n; p++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(c->cons, c->topic[CT_SESSIONS], p, &lo, &hi, 1000))
                return; /* Kafka unreachable: again next time */
            c->sync_hi[p] = hi > lo ? hi : -1;
        }
        c->sync_taking = want;
        c->sync_active = true;
    }
    for (int32_t p = 0; p < n; p++)
        if (c->sync_hi[p] >= 0 && atomic_load(&c->pos[CT_SESSIONS][p]) < c->sync_hi[p]) return;
    atomic_store(&c->sync_done, c->sync_taking);
    if (c->hooks.synced) c->hooks.synced(c->hooks.ctx);
    c->sync_active = false;
}

/* ---- setup and loop --------------------------------------------------- */

/* Where the reader's msgs reading begins, at most: the committed
 * position, or (none: a first start reads from the end) the end now;
 * -1 when Kafka does not say. For the checkpoints' floors. */
static bool msgs_start(struct bridge_cluster *c, int32_t n)
{
    if (!(c->msgs_start = malloc((size_t)n * sizeof(*c->msgs_start)))) return false;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int32_t p = 0; p < n; p++) {
        rd_kafka_topic_partition_list_add(l, c->topic[CT_MSGS], p);
        c->msgs_start[p] = -1;
    }
    bool known = !rd_kafka_committed(c->cons, l, 5000);
    for (int32_t p = 0; p < n; p++) {
        int64_t lo, hi, at = known ? l->elems[p].offset : -1;
        if (at < 0 &&
            !rd_kafka_query_watermark_offsets(c->cons, c->topic[CT_MSGS], p, &lo, &hi, 2000))
            at = hi;
        c->msgs_start[p] = at >= 0 ? at : -1;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return true;
}

/* Find every topic's partitions (waiting for topics that do not exist yet)
 * and assign them all: msgs from the end, the others from the start. */
static bool assign_all(struct bridge_cluster *c)
{
    bool told = false;
    for (int t = 0; t < CT_N; t++) {
        int32_t n;
        while ((n = partitions_of(c, t)) < 0) {
            if (atomic_load(&c->stop)) return false;
            char d[400];
            snprintf(d, sizeof(d), "%s: no such topic yet, retrying", c->topic[t]);
            if (!told) event(c, BRIDGE_CLUSTER_EV_NO_TOPIC, d);
            told = true;
            beat(c);
        }
        if ((uint32_t)n != c->cfg->cluster.partitions) {
            char d[400];
            snprintf(d, sizeof(d),
                     "%s: has %d partitions, cluster.partitions says %u (used as it is)",
                     c->topic[t], (int)n, c->cfg->cluster.partitions);
            event(c, BRIDGE_CLUSTER_EV_PARTITIONS, d);
        }
        if (!(c->pos[t] = malloc((size_t)n * sizeof(*c->pos[t]))) ||
            !(c->hi0[t] = malloc((size_t)n * sizeof(*c->hi0[t]))) ||
            !(c->eof[t] = calloc((size_t)n, sizeof(bool))))
            return false;
        for (int32_t p = 0; p < n; p++)
            atomic_init(&c->pos[t][p], -1);
        if (t == CT_MSGS && !msgs_start(c, n)) return false;
        atomic_store_explicit(&c->parts[t], n, memory_order_release);
        if (t != CT_MSGS) c->eof_left += (uint32_t)n;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < CT_N; t++)
        for (int32_t p = 0; p < c->parts[t]; p++)
            rd_kafka_topic_partition_list_add(l, c->topic[t], p)->offset =
                t == CT_MSGS ? RD_KAFKA_OFFSET_STORED : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(c->cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

void *bridge_cluster_reader(void *arg)
{
    struct bridge_cluster *c = arg;
    beat(c);
    if (!assign_all(c)) return NULL;
    query_ends(c);
    int64_t load_note = bridge_now_ms();
    while (!atomic_load(&c->stop)) {
        rd_kafka_message_t *rm = rd_kafka_consumer_poll(c->cons, 20);
        if (rm) {
            on_record(c, rm);
            rd_kafka_message_destroy(rm);
        }
        beat(c);
        if (!c->eof_left) sessions_barrier(c);
        int64_t now = bridge_now_ms();
        if (now - c->last_tick >= 20) {
            c->last_tick = now;
            nodes_expire(c);
            if (c->eof_left) check_ends(c);
            if (c->eof_left && now - load_note >= 10000) {
                load_note = now;
                char d[120];
                snprintf(d, sizeof(d), "still loading: %u partitions not read to their end",
                         c->eof_left);
                event(c, BRIDGE_CLUSTER_EV_LOADING, d);
            }
            if (c->hooks.tick) c->hooks.tick(c->hooks.ctx);
        }
        if (now - c->last_commit >= 1000) {
            c->last_commit = now;
            commit_msgs(c, false);
        }
    }
    commit_msgs(c, true);
    return NULL;
}
