/*
 * cluster_revive.c - the session of a dead node, revived on the node its
 * client reconnects to, from the node's last checkpoint (cluster_ckpt.c
 * writes them; docs/CLUSTER.md, "Sessions that outlive their node"):
 * its subscriptions at once, then what <prefix>.msgs holds for it since
 * the checkpoint's floor, read again by the bridge's replayer
 * (bridge_cluster_replay), at least once. A session whose expiry ran out
 * while it had no connection is not revived.
 *
 * Threads: brk_ckpt_revive on the CONNECT's worker (the ckpts map under
 * pres.mu); the replay's callbacks on the replayer's thread.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_int.h"

typedef struct revival {
    brk_cluster_t *cl;
    brk_session_t *s; /* a reference */
    brk_subrec_t *f;  /* its filters when revived */
    uint32_t nf;
    uint64_t n; /* messages it got */
    int64_t waited_ms;
    char node[72];
} revival_t;

#define RV_WAIT_MS 60000 /* the longest a replay waits for a session's queue in all */

/* A replay has no publisher to slow down: it waits while the session's
 * queue is at mqtt.max_queued (its client reads it down, or has not
 * attached yet), so that nothing is dropped. After RV_WAIT_MS in all, or
 * when the broker stops, the queue's own limits apply. */
static void rv_room(revival_t *r)
{
    brk_session_t *s = r->s;
    brk_t *b = r->cl->b;
    while (r->waited_ms < RV_WAIT_MS && !atomic_load(&b->stopping)) {
        pthread_mutex_lock(&s->lock);
        uint64_t depth = s->q_len + (atomic_load(&s->backlog) ? s->q_seq - s->backlog_after : 0);
        bool full = !s->ended && depth >= b->cfg->mqtt.max_queued;
        pthread_mutex_unlock(&s->lock);
        if (!full) return;
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
        r->waited_ms += 2;
    }
}

static void rv_record(void *arg, const bridge_msg_t *bm, uint32_t expiry_s, const void *share,
                      size_t share_len)
{
    (void)share; /* a session's shared groups are the groups' business */
    (void)share_len;
    revival_t *r = arg;
    brk_session_t *s = r->s;
    uint8_t qos = 0;
    bool rap = false;
    uint32_t ids[BRK_SESSION_MAX_IDS], n_ids;
    brk_msg_t view = {.qos = bm->qos, .topic_len = bm->topic_len, .topic = bm->topic};
    if (!brk_session_match(r->f, r->nf, &view, bm->clientid, s->client_id, s->id_len, &qos, &rap,
                           ids, &n_ids))
        return;
    brk_msg_t *m = brk_msg_copy((const uint8_t *)bm->topic, bm->topic_len, bm->payload,
                                bm->payload_len, bm->props, bm->props_len, bm->qos, bm->retain);
    if (!m) return;
    rv_room(r);
    m->epoch = 0; /* read again from far back: its epoch would say too late a floor */
    m->acl_unchecked = true;
    if (expiry_s) m->expire_at_ms = brk_now_ms() + (int64_t)expiry_s * 1000;
    brk_session_deliver(s, NULL, m, qos, rap && m->retain, ids, n_ids, NULL);
    brk_msg_unref(&m);
    r->n++;
}

static void rv_free(revival_t *r)
{
    brk_session_filters_free(r->f, r->nf);
    brk_session_unref(r->s);
    free(r);
}

static void rv_done(void *arg, uint64_t records, bool complete)
{
    revival_t *r = arg;
    brk_cluster_t *cl = r->cl;
    brk_session_t *s = r->s;
    atomic_fetch_add(&cl->pres.replayed, r->n);
    if (complete)
        brk_log(cl->b, BRK_LOG_INFO, "SLUICE-CLUSTER-SESSION-REPLAYED",
                "client '%.*s': %llu messages for it in %llu records of %s.msgs since node %s's "
                "checkpoint",
                (int)s->id_len, s->client_id, (unsigned long long)r->n, (unsigned long long)records,
                cl->b->cfg->cluster.topic_prefix, r->node);
    else {
        atomic_fetch_add(&cl->pres.gaps, 1);
        brk_log(cl->b, BRK_LOG_ERROR, "SLUICE-CLUSTER-SESSION-GAP",
                "client '%.*s': %s.msgs could not be read again to its end since node %s's "
                "checkpoint (%llu messages replayed): messages may be missing from its session",
                (int)s->id_len, s->client_id, cl->b->cfg->cluster.topic_prefix, r->node,
                (unsigned long long)r->n);
    }
    rv_free(r);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* The session from j here; its replay asked for. */
static int revive(brk_cluster_t *cl, const char *id, size_t len, const char *node, cJSON *j)
{
    brk_t *b = cl->b;
    revival_t *r = calloc(1, sizeof(*r));
    brk_session_t *s =
        r && num(j, "v") == BRK_CKPT_VERSION ? brk_session_for(cl, id, len, j) : NULL;
    if (!s) {
        free(r);
        return 0;
    }
    uint32_t bad = brk_session_import_subs(s, cJSON_GetObjectItemCaseSensitive(j, "subs"));
    if (bad)
        brk_log(b, BRK_LOG_ERROR, "SLUICE-CLUSTER-SESSION-BAD",
                "client '%.*s': %u malformed subscriptions in node %s's checkpoint dropped",
                (int)len, id, bad, node);
    *r = (revival_t){.cl = cl, .s = s};
    snprintf(r->node, sizeof(r->node), "%s", node);
    pthread_mutex_lock(&s->lock);
    r->f = brk_session_filters(s, &r->nf);
    pthread_mutex_unlock(&s->lock);
    /* subscribed first: what the replay's ends leave out, the reader
     * delivers live */
    int64_t pos[BRK_CLUSTER_MAX_PARTS];
    int32_t np = brk_ckpt_pos_of(j, pos);
    atomic_fetch_add(&cl->pres.revived, 1);
    brk_log(b, BRK_LOG_INFO, "SLUICE-CLUSTER-SESSION-REVIVED",
            "client '%.*s': its session on node %s, which is down, revived here from its "
            "checkpoint (%u subscriptions); %s.msgs is read again from there",
            (int)len, id, node, r->nf, b->cfg->cluster.topic_prefix);
    if (bridge_cluster_replay(cl->bc, pos, np, rv_record, rv_done, r) < 0) rv_done(r, 0, false);
    return 1;
}

/* The session expired while it had no connection (MQTT-3.1.2-23 counts
 * from the connection's end; its node's death ends a connection too). */
static bool expired(const cJSON *j, int64_t since)
{
    double exp = num(j, "expiry");
    return since > 0 && exp >= 0 && exp < UINT32_MAX && brk_wall_ms() - since >= exp * 1000;
}

int brk_ckpt_revive(brk_cluster_t *cl, const char *id, size_t len, const char *node)
{
    brk_presence_t *p = &cl->pres;
    if (!cl->b->cfg->cluster.checkpoint_ms) return 0;
    char *txt = NULL;
    pthread_mutex_lock(&p->mu);
    pres_ent_t *e = brk_presence_find(&p->ckpts, id, len, false);
    if (e && e->ck && !strcmp(p->names[e->owner], node)) txt = strdup(e->ck);
    int64_t since = brk_presence_offline_since(p, id, len, node);
    pthread_mutex_unlock(&p->mu);
    if (!txt) return 0;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (cJSON_IsObject(j) && expired(j, since)) {
        brk_log(cl->b, BRK_LOG_INFO, "SLUICE-CLUSTER-SESSION-EXPIRED",
                "client '%.*s': its session on node %s, which is down, expired %lld s after its "
                "connection ended: a new session",
                (int)len, id, node, (long long)(brk_wall_ms() - since) / 1000);
        cJSON_Delete(j);
        pthread_mutex_lock(&p->mu);
        if ((e = brk_presence_find(&p->ckpts, id, len, false))) brk_presence_drop(&p->ckpts, e);
        pthread_mutex_unlock(&p->mu);
        return 0;
    }
    int rc = cJSON_IsObject(j) ? revive(cl, id, len, node, j) : 0;
    if (!rc)
        brk_log(cl->b, BRK_LOG_ERROR, "SLUICE-CLUSTER-SESSION-BAD",
                "client '%.*s': node %s's checkpoint of its session is not valid: a new session",
                (int)len, id, node);
    cJSON_Delete(j);
    return rc;
}
