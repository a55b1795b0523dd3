/*
 * cluster_ckpt.c - the persistent sessions of a dead node live on
 * (docs/CLUSTER.md, "Sessions that outlive their node"):
 *
 * - Epochs. About once a second the reader notes where this node's
 *   reading of <prefix>.msgs stands (bridge_cluster_msgs_floor) and then
 *   advances brk_msg_epoch; a message made afterwards carries that epoch.
 *   A message of epoch e is at or past the positions noted for e: another
 *   node's record was read there or later, a local message is produced
 *   later.
 * - Checkpoints. Each persistent session this node holds is written to
 *   <prefix>.sessions (kind ckpt, key "<client id>\0ckpt", so that the
 *   client's own tombstones do not compact it away) at the reader's next
 *   tick after a SUBSCRIBE or UNSUBSCRIBE (brk_ckpt_soon), or within
 *   cluster.checkpoint_ms of another change (the scan): its
 *   subscriptions and its floor, the positions of the oldest epoch among
 *   its queued and in-flight messages. The floor is written again when it
 *   has moved on by CK_LAG epochs (an older floor costs duplicates, never
 *   loss). Every node keeps the latest checkpoint of each client.
 * - Messages. A QoS 1/2 message for a local persistent session goes to
 *   <prefix>.msgs too (cluster.c's sink) and is acknowledged once Kafka
 *   has it, like one for another node.
 * - Revival (cluster_revive.c): a CONNECT with clean start 0 whose
 *   session is on a dead node gets it from the node's checkpoint.
 * - Shared groups: each node writes its share-floor (the oldest epoch of
 *   the group deliveries it holds); when a node dies, the duty node reads
 *   msgs again from its floor and picks the groups picked for it again
 *   (brk_cluster_share_dead).
 *
 * Threads: brk_ckpt_tick, brk_ckpt_record, brk_ckpt_share_floor and
 * brk_ckpt_node_down on the cluster's reader (the ring, the scan and the
 * floors belong to it); brk_ckpt_soon and brk_ckpt_ended on any thread;
 * the replay's callbacks on the replayer's thread. Lock order: reg_lock,
 * then a session's lock; pres.mu and soon_mu alone.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_int.h"
#include "grow.h"
#include "mqtt_hash.h"

#define CK_RING 900 /* epochs remembered: 15 minutes of floors */
#define CK_EPOCH_MS 1000
#define CK_LAG 10       /* a floor is written again once it moved on this far */
#define CK_ROUTE 2      /* epochs a route may take from making a message to queueing it */
#define CK_SUFFIX_LEN 5 /* "\0ckpt" */

#define CK_SOON_MAX 4096 /* sessions waiting for a checkpoint now; more wait for the scan */

struct brk_ckpt {
    pthread_mutex_t soon_mu;            /* soon: from any thread */
    brk_session_t **soon, **soon_spare; /* references; CK_SOON_MAX each */
    uint32_t n_soon;
    int64_t *ring; /* CK_RING x parts positions, epoch e at e % CK_RING */
    int32_t parts;
    uint32_t epoch;
    int64_t last_epoch_ms, last_scan_ms;
    uint32_t sf_epoch; /* this node's shared-groups floor, as last written */
    bool sf_written;
    struct {
        char node[72];
        char *json; /* the node's latest share-floor record */
    } floors[CLUSTER_MAX_NODES];
    uint32_t n_floors;
};

struct brk_ckpt *brk_ckpt_new(void)
{
    struct brk_ckpt *k = calloc(1, sizeof(*k));
    if (!k) return NULL;
    k->soon = calloc(CK_SOON_MAX, sizeof(*k->soon));
    k->soon_spare = calloc(CK_SOON_MAX, sizeof(*k->soon_spare));
    if (!k->soon || !k->soon_spare) {
        free(k->soon);
        free(k->soon_spare);
        free(k);
        return NULL;
    }
    pthread_mutex_init(&k->soon_mu, NULL);
    return k;
}

/* ---- epochs (reader thread) --------------------------------------------------- */

static void epoch_tick(brk_cluster_t *cl, struct brk_ckpt *k, int64_t now)
{
    int64_t pos[BRK_CLUSTER_MAX_PARTS];
    if (now - k->last_epoch_ms < CK_EPOCH_MS) return;
    int32_t n = bridge_cluster_msgs_floor(cl->bc, pos, BRK_CLUSTER_MAX_PARTS);
    if (n <= 0) return; /* not assigned yet */
    if (!k->ring) {
        if (!(k->ring = malloc((size_t)CK_RING * (size_t)n * sizeof(*k->ring)))) return;
        k->parts = n;
    }
    if (n != k->parts) return;
    k->last_epoch_ms = now;
    uint32_t e = k->epoch + 1 ? k->epoch + 1 : 1; /* 0 stays "unknown" */
    memcpy(&k->ring[(size_t)(e % CK_RING) * (size_t)n], pos, (size_t)n * sizeof(*pos));
    k->epoch = e;
    /* after the positions: whoever sees e sees them noted */
    atomic_store_explicit(&brk_msg_epoch, e, memory_order_release);
}

/* The positions of epoch e; 0 (none: from the beginning) when e is
 * unknown or older than the ring. */
static int32_t floor_pos(const struct brk_ckpt *k, uint32_t e, int64_t *pos)
{
    if (!e || !k->ring || e > k->epoch || k->epoch - e >= CK_RING) return 0;
    memcpy(pos, &k->ring[(size_t)(e % CK_RING) * (size_t)k->parts],
           (size_t)k->parts * sizeof(*pos));
    return k->parts;
}

/* ---- checkpoints (reader thread) ------------------------------------------------ */

/* The oldest epoch of the deliveries s holds for shared groups, at most
 * fl (s->lock held): a group's message this node took is the group's. */
static uint32_t share_floor(const brk_session_t *s, uint32_t fl)
{
    for (uint32_t i = 0; i < s->inf_len; i++)
        if (s->inf[i].d.share && s->inf[i].d.msg && s->inf[i].d.msg->epoch < fl)
            fl = s->inf[i].d.msg->epoch;
    for (uint32_t i = 0; i < s->q_len; i++) {
        const brk_delivery_t *d = &s->q[(s->q_head + i) % s->q_cap];
        if (d->share && d->msg && d->msg->epoch < fl) fl = d->msg->epoch;
    }
    return fl;
}

/* The oldest epoch s still owes its client (s->lock held); 0: unknown. */
static uint32_t session_floor(const brk_session_t *s, uint32_t now)
{
    if (atomic_load(&s->backlog)) return 0; /* messages from the store: epochs unknown */
    uint32_t fl = now > CK_ROUTE ? now - CK_ROUTE : 0;
    for (uint32_t i = 0; i < s->inf_len; i++)
        if (s->inf[i].d.msg && s->inf[i].d.msg->epoch < fl) fl = s->inf[i].d.msg->epoch;
    for (uint32_t i = 0; i < s->q_len; i++) {
        const brk_msg_t *m = s->q[(s->q_head + i) % s->q_cap].msg;
        if (m && m->epoch < fl) fl = m->epoch;
    }
    return fl;
}

static uint64_t subs_hash(const brk_session_t *s)
{
    uint64_t h = ((uint64_t)s->expiry << 8 | s->version) + 1;
    for (uint32_t i = 0; i < s->n_subs; i++) {
        const brk_subrec_t *r = &s->subs[i];
        h = h * 1099511628211ull ^ mqtt_fnv1a(r->filter, r->len);
        h = h * 1099511628211ull ^ ((uint64_t)r->sub_id << 8 | r->options);
    }
    return h ? h : 1;
}

static bool floor_moved(uint32_t had, uint32_t fl, bool written)
{
    return !written || fl < had || (had == 0 && fl) || fl >= had + CK_LAG;
}

/* A session's checkpoint is due: new, its subscriptions or expiry
 * changed, or messages came since and its floor moved (s->lock held). An
 * idle session's old floor stays good: nothing matched it since. */
static bool ck_due(const brk_session_t *s, uint64_t h, uint32_t fl)
{
    return !s->ck_written || h != s->ck_hash || (s->ck_dirty && floor_moved(s->ck_epoch, fl, true));
}

typedef struct ck_item {
    brk_session_t *s; /* a reference */
    uint64_t hash;
    uint32_t fl;
    cJSON *o; /* {"subs": [...]} of the session, as it was; the rest is added */
    uint32_t expiry;
    uint8_t version;
} ck_item_t;

/* s's checkpoint into v[*n] if it is due (s->lock held). */
static void item_put(brk_session_t *s, uint32_t now, ck_item_t **v, uint32_t *n, uint32_t *cap)
{
    bool kept = s->expiry && !s->ended;
    uint64_t h = kept ? subs_hash(s) : 0;
    uint32_t fl = kept ? session_floor(s, now) : 0;
    cJSON *o;
    if (kept && ck_due(s, h, fl) && (*n < *cap || !brk_grow_vec(v, cap, sizeof(**v), 64)) &&
        (o = cJSON_CreateObject())) {
        size_t bytes = 0;
        brk_session_subs_json(o, s, &bytes);
        (*v)[(*n)++] = (ck_item_t){brk_session_ref(s), h, fl, o, s->expiry, s->version};
    }
}

/* The sessions whose checkpoint is due (reg_lock, then each one's lock);
 * *sfl: the oldest epoch any session holds for a shared group. */
static ck_item_t *due(brk_cluster_t *cl, uint32_t now, uint32_t *n, uint32_t *sfl)
{
    brk_t *b = cl->b;
    ck_item_t *v = NULL;
    uint32_t cap = 0;
    *n = 0;
    pthread_mutex_lock(&b->reg_lock);
    for (uint32_t i = 0; i < b->reg_cap; i++) {
        brk_session_t *s = b->reg[i];
        if (!s) continue;
        pthread_mutex_lock(&s->lock);
        *sfl = share_floor(s, *sfl);
        item_put(s, now, &v, n, &cap);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&b->reg_lock);
    return v;
}

/* The sessions whose subscriptions changed just now (brk_ckpt_soon). */
static ck_item_t *due_soon(struct brk_ckpt *k, uint32_t *n)
{
    pthread_mutex_lock(&k->soon_mu);
    brk_session_t **soon = k->soon;
    uint32_t m = k->n_soon;
    k->soon = k->soon_spare;
    k->soon_spare = soon;
    k->n_soon = 0;
    pthread_mutex_unlock(&k->soon_mu);
    ck_item_t *v = NULL;
    uint32_t cap = 0;
    *n = 0;
    for (uint32_t i = 0; i < m; i++) {
        pthread_mutex_lock(&soon[i]->lock);
        item_put(soon[i], k->epoch, &v, n, &cap);
        pthread_mutex_unlock(&soon[i]->lock);
        brk_session_unref(soon[i]);
    }
    return v;
}

void brk_ckpt_soon(brk_cluster_t *cl, brk_session_t *s)
{
    struct brk_ckpt *k = cl->ck;
    if (!k) return;
    pthread_mutex_lock(&k->soon_mu);
    bool queued = false;
    for (uint32_t i = 0; i < k->n_soon && !queued; i++)
        queued = k->soon[i] == s;
    if (!queued && k->n_soon < CK_SOON_MAX) k->soon[k->n_soon++] = brk_session_ref(s);
    pthread_mutex_unlock(&k->soon_mu);
}

/* The log says this node holds the client's session, or says nothing. */
static bool mine(brk_cluster_t *cl, const brk_session_t *s)
{
    bool kept = false;
    pthread_mutex_lock(&cl->pres.mu);
    const char *o = brk_presence_owner(&cl->pres, s->client_id, s->id_len, &kept);
    bool me = !o || !strcmp(o, cl->b->cfg->node_id);
    pthread_mutex_unlock(&cl->pres.mu);
    return me;
}

/* A record of kind `kind` for id, keyed "<id>\0<suffix>" (its own key: the
 * client's tombstones do not compact it away); val NULL: sluice.none. */
static int keyed_produce(brk_cluster_t *cl, const char *id, size_t len, const char *suffix,
                         const char *kind, const char *val)
{
    size_t sl = strlen(suffix) + 1;
    char *key = malloc(len + sl);
    if (!key) return -1;
    memcpy(key, id, len);
    key[len] = 0;
    memcpy(key + len + 1, suffix, sl - 1);
    bridge_kv_t h[2] = {{"sluice.kind", kind, strlen(kind)}, {"sluice.none", val ? "0" : "1", 1}};
    int rc = brk_presence_produce(cl, key, len + sl, h, 2, val ? val : "", val ? strlen(val) : 0);
    free(key);
    return rc;
}

/* o gets the positions of epoch fl as "pos" (none: from the beginning),
 * and is printed and freed; NULL without memory. */
static char *with_pos(const struct brk_ckpt *k, cJSON *o, uint32_t fl)
{
    int64_t pos[BRK_CLUSTER_MAX_PARTS];
    int32_t np = floor_pos(k, fl, pos);
    cJSON *pa = o ? cJSON_AddArrayToObject(o, "pos") : NULL;
    for (int32_t p = 0; pa && p < np; p++)
        cJSON_AddItemToArray(pa, cJSON_CreateNumber((double)pos[p]));
    char *txt = pa ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return txt;
}

/* One checkpoint: the subscriptions as they were, with version, expiry
 * and the floor's positions; it->o is used up. */
static char *ck_json(const struct brk_ckpt *k, ck_item_t *it)
{
    cJSON *o = it->o;
    it->o = NULL;
    if (!cJSON_AddNumberToObject(o, "v", BRK_CKPT_VERSION) ||
        !cJSON_AddNumberToObject(o, "version", it->version) ||
        !cJSON_AddNumberToObject(o, "expiry", it->expiry)) {
        cJSON_Delete(o);
        return NULL;
    }
    return with_pos(k, o, it->fl);
}

/* This node's shared-groups floor: where another node would read msgs
 * again from, were this one to die, for the group messages it took. */
static void share_floor_put(brk_cluster_t *cl, struct brk_ckpt *k, uint32_t fl)
{
    if (!floor_moved(k->sf_epoch, fl, k->sf_written)) return;
    const char *me = cl->b->cfg->node_id;
    char *txt = with_pos(k, cJSON_CreateObject(), fl);
    if (txt && keyed_produce(cl, me, strlen(me), "shares", "share-floor", txt) == 0) {
        k->sf_epoch = fl;
        k->sf_written = true;
        atomic_fetch_add(&cl->pres.sf_written, 1);
    }
    free(txt);
}

/* Write the checkpoints of v[0..n) and free it. */
static void write_items(brk_cluster_t *cl, struct brk_ckpt *k, ck_item_t *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        brk_session_t *s = v[i].s;
        char *txt = mine(cl, s) ? ck_json(k, &v[i]) : NULL;
        if (txt && keyed_produce(cl, s->client_id, s->id_len, "ckpt", "ckpt", txt) == 0) {
            pthread_mutex_lock(&s->lock);
            s->ck_hash = v[i].hash;
            s->ck_epoch = v[i].fl;
            s->ck_written = true;
            s->ck_dirty = false; /* one queued since the scan is missed: an older floor, safe */
            pthread_mutex_unlock(&s->lock);
            atomic_fetch_add(&cl->pres.ck_written, 1);
        }
        free(txt);
        cJSON_Delete(v[i].o); /* left when the log says another node holds it */
        brk_session_unref(s);
    }
    free(v);
}

void brk_ckpt_tick(brk_cluster_t *cl)
{
    uint32_t every = cl->b->cfg->cluster.checkpoint_ms, n;
    struct brk_ckpt *k = cl->ck;
    if (!every || !k || !atomic_load(&cl->loaded)) return;
    int64_t now = brk_now_ms();
    epoch_tick(cl, k, now);
    if (!k->epoch) return;
    ck_item_t *v = due_soon(k, &n);
    write_items(cl, k, v, n);
    if (now - k->last_scan_ms < (int64_t)every) return;
    k->last_scan_ms = now;
    uint32_t sfl = k->epoch > CK_ROUTE ? k->epoch - CK_ROUTE : 0;
    v = due(cl, k->epoch, &n, &sfl);
    share_floor_put(cl, k, sfl);
    write_items(cl, k, v, n);
}

void brk_ckpt_ended(brk_cluster_t *cl, const char *id, size_t len)
{
    (void)keyed_produce(cl, id, len, "ckpt", "ckpt", NULL);
}

void brk_ckpt_free(brk_cluster_t *cl)
{
    for (uint32_t i = 0; cl->ck && i < cl->ck->n_floors; i++)
        free(cl->ck->floors[i].json);
    for (uint32_t i = 0; cl->ck && i < cl->ck->n_soon; i++)
        brk_session_unref(cl->ck->soon[i]);
    if (cl->ck) {
        free(cl->ck->ring);
        free(cl->ck->soon);
        free(cl->ck->soon_spare);
        pthread_mutex_destroy(&cl->ck->soon_mu);
    }
    free(cl->ck);
    cl->ck = NULL;
}

/* ---- every node: the latest checkpoint of each client ------------------------- */

void brk_ckpt_record(brk_cluster_t *cl, const char *key, size_t klen, const char *node,
                     const bridge_kv_t *h, size_t n, const void *val, size_t vlen)
{
    brk_presence_t *p = &cl->pres;
    if (klen <= CK_SUFFIX_LEN || memcmp(key + klen - CK_SUFFIX_LEN, "\0ckpt", CK_SUFFIX_LEN))
        return;
    size_t len = klen - CK_SUFFIX_LEN;
    bool none = brk_presence_kv_is(h, n, "sluice.none", "1") || !val || !vlen;
    char *txt = none ? NULL : strndup(val, vlen);
    if (!none && !txt) return;
    pthread_mutex_lock(&p->mu);
    int who = brk_presence_name(p, node);
    pres_ent_t *e = who < 0 ? NULL : brk_presence_find(&p->ckpts, key, len, !none);
    if (e && none && e->owner == (uint16_t)who) {
        brk_presence_drop(&p->ckpts, e); /* only that node's own */
    } else if (e && !none) {
        free(e->ck);
        e->ck = txt;
        e->owner = (uint16_t)who;
        txt = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    free(txt);
}

/* The checkpoint's floor: positions, or none (from the beginning). */
int32_t brk_ckpt_pos_of(const cJSON *j, int64_t *pos)
{
    int32_t n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "pos"))
    {
        if (n == BRK_CLUSTER_MAX_PARTS) break;
        pos[n++] = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9.0e15
                       ? (int64_t)v->valuedouble
                       : -1;
    }
    return n;
}

/* ---- shared groups of a node that died ------------------------------------- */

void brk_ckpt_share_floor(brk_cluster_t *cl, const char *node, const void *val, size_t vlen)
{
    struct brk_ckpt *k = cl->ck;
    char *txt = k && val && vlen ? strndup(val, vlen) : NULL;
    if (!txt) return;
    uint32_t i = 0;
    while (i < k->n_floors && strcmp(k->floors[i].node, node))
        i++;
    if (i == k->n_floors) {
        if (i == CLUSTER_MAX_NODES || strlen(node) >= sizeof(k->floors[i].node)) {
            free(txt);
            return;
        }
        snprintf(k->floors[i].node, sizeof(k->floors[i].node), "%s", node);
        k->n_floors++;
    }
    free(k->floors[i].json);
    k->floors[i].json = txt;
}

typedef struct sh_replay {
    brk_cluster_t *cl;
    uint64_t n;
    char node[72];
} sh_replay_t;

static void sh_record(void *arg, const bridge_msg_t *bm, uint32_t expiry_s, const void *share,
                      size_t share_len)
{
    sh_replay_t *r = arg;
    if (!share || !bm->qos) return;
    brk_msg_t *m = brk_msg_copy((const uint8_t *)bm->topic, bm->topic_len, bm->payload,
                                bm->payload_len, bm->props, bm->props_len, bm->qos, bm->retain);
    if (!m) return;
    m->epoch = 0;
    if (expiry_s) m->expire_at_ms = brk_now_ms() + (int64_t)expiry_s * 1000;
    r->n += brk_cluster_share_dead(r->cl, m, expiry_s, share, share_len);
    brk_msg_unref(&m);
}

static void sh_done(void *arg, uint64_t records, bool complete)
{
    sh_replay_t *r = arg;
    brk_log(r->cl->b, complete ? BRK_LOG_INFO : BRK_LOG_ERROR,
            complete ? "SLUICE-CLUSTER-SHARE-REPLAYED" : "SLUICE-CLUSTER-SHARE-GAP",
            "node %s is down: %llu messages of its shared groups given to living members again "
            "(%llu records of %s.msgs read%s)",
            r->node, (unsigned long long)r->n, (unsigned long long)records,
            r->cl->b->cfg->cluster.topic_prefix, complete ? "" : "; not to the end");
    free(r);
}

void brk_ckpt_node_down(brk_cluster_t *cl, const char *node)
{
    struct brk_ckpt *k = cl->ck;
    if (!cl->b->cfg->cluster.checkpoint_ms || !k) return;
    uint32_t i = 0;
    while (i < k->n_floors && strcmp(k->floors[i].node, node))
        i++;
    cJSON *j = i < k->n_floors ? cJSON_Parse(k->floors[i].json) : NULL;
    int64_t pos[BRK_CLUSTER_MAX_PARTS];
    int32_t np = cJSON_IsObject(j) ? brk_ckpt_pos_of(j, pos) : -1;
    cJSON_Delete(j);
    sh_replay_t *r = np >= 0 ? calloc(1, sizeof(*r)) : NULL;
    if (!r) return; /* it never took a group's message, or said nothing of it */
    r->cl = cl;
    snprintf(r->node, sizeof(r->node), "%s", node);
    if (bridge_cluster_replay(cl->bc, pos, np, sh_record, sh_done, r) < 0) sh_done(r, 0, false);
}
