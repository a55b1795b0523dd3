/*
 * bridge_cluster_replay.c - <prefix>.msgs read again from old positions:
 * the session of a dead node, revived on this one from its checkpoint,
 * gets what was published for it since (docs/CLUSTER.md, "A node dies").
 *
 * One thread, started by the first request, reads with a consumer of its
 * own. The requests waiting when it begins a pass are served together: one
 * read from the lowest position of each partition to the end the partition
 * had when the pass began, each record handed to every request whose
 * position it is at or past.
 *
 * Threads: bridge_cluster_replay from any thread; fn and done on the
 * replayer's thread. Locking: rp_mu guards the queue and rp_started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"
#include "cluster_int.h"

#define PASS_MS 60000 /* a pass that has not reached its ends by then gives up */

typedef struct rjob {
    struct rjob *next;
    int64_t *from;
    int32_t n;
    bridge_replay_fn fn;
    bridge_replay_done_fn done;
    void *arg;
    uint64_t count;
} rjob_t;

typedef struct pass {
    int32_t n;
    int64_t *lo, *hi; /* per partition: read from lo up to hi (excluded) */
    bool *done;
    int32_t left;
    char *cid; /* the record's mqtt.clientid, NUL-terminated */
} pass_t;

static int64_t job_from(const rjob_t *j, int32_t p)
{
    return p < j->n && j->from[p] >= 0 ? j->from[p] : 0; /* unknown: the beginning */
}

static void hand(struct bridge_cluster *c, pass_t *ps, rjob_t *jobs, rd_kafka_message_t *rm)
{
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(rm, &h);
    bridge_msg_t m;
    uint32_t expiry;
    const void *v;
    size_t vl;
    if (!bridge_header_is(h, "sluice.cluster", c->cfg->cluster.id) ||
        !bridge_cluster_as_msg(rm, h, &m) || !bridge_cluster_expiry(rm, h, &expiry))
        return;
    if (bridge_cluster_hdr(h, "mqtt.clientid", &v, &vl) && vl <= 0xffff) {
        memcpy(ps->cid, v, vl);
        ps->cid[vl] = 0;
        m.clientid = ps->cid;
    }
    const void *sh = NULL;
    size_t shl = 0;
    if (!bridge_cluster_hdr(h, "sluice.share", &sh, &shl)) sh = NULL;
    for (rjob_t *j = jobs; j; j = j->next)
        if (rm->offset >= job_from(j, rm->partition)) {
            j->fn(j->arg, &m, expiry, sh, sh ? shl : 0);
            j->count++;
        }
}

static void part_done(pass_t *ps, int32_t p)
{
    if (p < 0 || p >= ps->n || ps->done[p]) return;
    ps->done[p] = true;
    ps->left--;
}

/* Where each partition begins and ends for this pass; the assignment. */
static bool pass_begin(struct bridge_cluster *c, rd_kafka_t *rk, pass_t *ps, rjob_t *jobs)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(ps->n);
    for (int32_t p = 0; p < ps->n; p++) {
        int64_t lo = INT64_MAX, wlo, whi;
        for (rjob_t *j = jobs; j; j = j->next)
            if (job_from(j, p) < lo) lo = job_from(j, p);
        if (rd_kafka_query_watermark_offsets(rk, c->topic[CT_MSGS], p, &wlo, &whi, 5000)) {
            rd_kafka_topic_partition_list_destroy(l);
            return false;
        }
        ps->lo[p] = lo > wlo ? lo : wlo;
        ps->hi[p] = whi;
        if (ps->lo[p] >= whi) {
            part_done(ps, p);
            continue;
        }
        rd_kafka_topic_partition_list_add(l, c->topic[CT_MSGS], p)->offset = ps->lo[p];
    }
    bool ok = !l->cnt || !rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return ok;
}

/* One pass over msgs for jobs; true if every partition reached its end. */
static bool pass_run(struct bridge_cluster *c, rd_kafka_t *rk, rjob_t *jobs)
{
    pass_t ps = {.n = atomic_load(&c->parts[CT_MSGS])};
    bool ok = false;
    ps.left = ps.n;
    if (ps.n <= 0 || !(ps.lo = calloc((size_t)ps.n, sizeof(*ps.lo))) ||
        !(ps.hi = calloc((size_t)ps.n, sizeof(*ps.hi))) ||
        !(ps.done = calloc((size_t)ps.n, sizeof(*ps.done))) || !(ps.cid = malloc(0x10000)))
        goto out;
    int64_t deadline = bridge_now_ms() + PASS_MS;
    if (!pass_begin(c, rk, &ps, jobs)) goto out;
    while (ps.left > 0 && bridge_now_ms() < deadline && !atomic_load(&c->stop)) {
        rd_kafka_message_t *rm = rd_kafka_consumer_poll(rk, 100);
        if (!rm) continue;
        int32_t p = rm->partition;
        if (p >= 0 && p < ps.n && !ps.done[p]) {
            if (rm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                part_done(&ps, p);
            } else if (!rm->err && rm->offset < ps.hi[p]) {
                hand(c, &ps, jobs, rm);
                if (rm->offset + 1 >= ps.hi[p]) part_done(&ps, p);
            }
        }
        rd_kafka_message_destroy(rm);
    }
    ok = ps.left == 0;
    (void)rd_kafka_assign(rk, NULL);
out:
    free(ps.lo);
    free(ps.hi);
    free(ps.done);
    free(ps.cid);
    return ok;
}

static void *replayer(void *arg)
{
    struct bridge_cluster *c = arg;
    char group[200], err[300];
    snprintf(group, sizeof(group), "sluice-replay-%s-%s", c->cfg->cluster.id, c->cfg->node_id);
    rd_kafka_t *rk = bridge_cluster_consumer(c, group, "earliest", err, sizeof(err));
    for (;;) {
        pthread_mutex_lock(&c->rp_mu);
        while (!c->rp_queue && !atomic_load(&c->stop))
            pthread_cond_wait(&c->rp_cv, &c->rp_mu);
        rjob_t *jobs = c->rp_queue;
        c->rp_queue = NULL;
        pthread_mutex_unlock(&c->rp_mu);
        if (!jobs) break; /* stopping */
        bool ok = rk && !atomic_load(&c->stop) && pass_run(c, rk, jobs);
        for (rjob_t *j = jobs, *nx; j; j = nx) {
            nx = j->next;
            j->done(j->arg, j->count, ok);
            free(j->from);
            free(j);
        }
    }
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return NULL;
}

int bridge_cluster_replay(bridge_cluster_t *c, const int64_t *from, int32_t n, bridge_replay_fn fn,
                          bridge_replay_done_fn done, void *arg)
{
    rjob_t *j = calloc(1, sizeof(*j));
    if (!j || !(j->from = malloc((size_t)(n > 0 ? n : 1) * sizeof(*j->from)))) {
        free(j);
        return -1;
    }
    memcpy(j->from, from, (size_t)(n > 0 ? n : 0) * sizeof(*from));
    *j = (rjob_t){.from = j->from, .n = n, .fn = fn, .done = done, .arg = arg};
    pthread_mutex_lock(&c->rp_mu);
    if (atomic_load(&c->stop) ||
        (!c->rp_started && pthread_create(&c->rp_thr, NULL, replayer, c))) {
        pthread_mutex_unlock(&c->rp_mu);
        free(j->from);
        free(j);
        return -1;
    }
    c->rp_started = true;
    j->next = c->rp_queue;
    c->rp_queue = j;
    pthread_cond_signal(&c->rp_cv);
    pthread_mutex_unlock(&c->rp_mu);
    return 0;
}

void bridge_cluster_replay_stop(struct bridge_cluster *c)
{
    pthread_mutex_lock(&c->rp_mu);
    bool started = c->rp_started;
    pthread_cond_broadcast(&c->rp_cv);
    pthread_mutex_unlock(&c->rp_mu);
    if (started) pthread_join(c->rp_thr, NULL);
    c->rp_started = false;
    /* requests that came after the last pass: answered, incomplete */
    for (rjob_t *j = c->rp_queue, *nx; j; j = nx) {
        nx = j->next;
        j->done(j->arg, j->count, false);
        free(j->from);
        free(j);
    }
    c->rp_queue = NULL;
}
