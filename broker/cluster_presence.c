/*
 * cluster_presence.c - who is connected where in the cluster, through
 * <prefix>.sessions (keyed by client id; docs/CLUSTER.md, "Presence"):
 *
 * - present: a node accepted a connection of the client (a per-node
 *   token names it), with its will if it has one (value = will payload,
 *   headers = the will's topic, QoS, retain, properties, delay, expiry).
 * - gone (tombstone): that connection ended on its node, which handled
 *   the will itself.
 * - will-fired: a surviving node claims the will of a connection whose
 *   node died; the first marker in the log wins, so however many nodes
 *   thought themselves on duty, the will is published once.
 *
 * One client id connected on two nodes: every node reads the same log, so
 * the later present record wins everywhere. A node closes its connection
 * (0x8E, session taken over) when it reads another node's present record
 * after its own: the node whose record came first. A node that has not
 * read its own record back yet ignores the other's: it will win.
 *
 * A node is dead when its heartbeats stop (cluster.node_timeout_ms) or a
 * new incarnation of it appears; then the lowest-named living node fires
 * each pending will of it after the will's delay.
 *
 * Threads: connected/disconnected on the connection's worker (the `mine`
 * map under mu); everything else on the cluster's reader thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "mqtt_hash.h"

/* ---- a map of client ids ------------------------------------------------- */

pres_ent_t *brk_presence_find(pres_map_t *m, const char *id, size_t len, bool create)
{
    uint32_t h = mqtt_fnv1a(id, len);
    for (pres_ent_t *e = m->cap ? m->v[h & (m->cap - 1)] : NULL; e; e = e->next)
        if (e->hash == h && e->len == len && !memcmp(e->id, id, len)) return e;
    if (!create || len > 0xffff) return NULL;
    if (m->n + 1 > m->cap / 2 * 3 || !m->cap) { /* load factor 1.5, chained */
        uint32_t cap = m->cap ? m->cap * 2 : 64;
        pres_ent_t **v = calloc(cap, sizeof(*v));
        if (!v) return NULL;
        for (uint32_t i = 0; i < m->cap; i++)
            for (pres_ent_t *e = m->v[i], *nx; e; e = nx) {
                nx = e->next;
                e->next = v[e->hash & (cap - 1)];
                v[e->hash & (cap - 1)] = e;
            }
        free(m->v);
        m->v = v;
        m->cap = cap;
    }
    pres_ent_t *e = calloc(1, sizeof(*e) + len + 1);
    if (!e) return NULL;
    e->hash = h;
    e->len = (uint16_t)len;
    memcpy(e->id, id, len);
    e->next = m->v[h & (m->cap - 1)];
    m->v[h & (m->cap - 1)] = e;
    m->n++;
    return e;
}

static void will_free(pres_will_t *w)
{
    brk_msg_unref(&w->will);
    free(w->username);
    free(w);
}

void brk_presence_drop(pres_map_t *m, pres_ent_t *e)
{
    pres_ent_t **pp = &m->v[e->hash & (m->cap - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    m->n--;
    for (pres_will_t *w = e->wills, *nx; w; w = nx) {
        nx = w->next;
        will_free(w);
    }
    free(e->ck);
    free(e);
}

static void map_free(pres_map_t *m)
{
    for (uint32_t i = 0; i < m->cap; i++)
        while (m->v[i])
            brk_presence_drop(m, m->v[i]);
    free(m->v);
    m->v = NULL;
    m->cap = m->n = 0;
}

void brk_presence_init(brk_presence_t *p)
{
    pthread_mutex_init(&p->mu, NULL);
}

void brk_presence_fini(brk_presence_t *p)
{
    map_free(&p->mine);
    map_free(&p->wills);
    map_free(&p->claims);
    map_free(&p->owners);
    map_free(&p->ckpts);
    free(p->names);
    pthread_mutex_destroy(&p->mu);
}

/* ---- records -------------------------------------------------------------- */

const bridge_kv_t *brk_presence_kv(const bridge_kv_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(h[i].name, name)) return &h[i];
    return NULL;
}

bool brk_presence_kv_is(const bridge_kv_t *h, size_t n, const char *name, const char *want)
{
    const bridge_kv_t *k = brk_presence_kv(h, n, name);
    return k && k->len == strlen(want) && !memcmp(k->v, want, k->len);
}

uint64_t brk_presence_kv_u64(const bridge_kv_t *h, size_t n, const char *name)
{
    const bridge_kv_t *k = brk_presence_kv(h, n, name);
    char b[24];
    if (!k || k->len >= sizeof(b)) return 0;
    memcpy(b, k->v, k->len);
    b[k->len] = 0;
    return strtoull(b, NULL, 10);
}

bool brk_presence_kv_str(const bridge_kv_t *h, size_t n, const char *name, char *dst, size_t cap)
{
    const bridge_kv_t *k = brk_presence_kv(h, n, name);
    if (!k || k->len >= cap) return false;
    memcpy(dst, k->v, k->len);
    dst[k->len] = 0;
    return true;
}

int brk_presence_produce(brk_cluster_t *cl, const char *id, size_t len, const bridge_kv_t *h,
                         size_t n, const void *val, size_t vlen)
{
    int rc = bridge_cluster_session(cl->bc, id, len, h, n, val, vlen);
    if (rc)
        brk_log(cl->b, BRK_LOG_ERROR, "SLUICE-CLUSTER-SESSIONS",
                "%.*s: presence record not sent (producer queue full)", (int)len, id);
    return rc;
}

void brk_cluster_connected(brk_t *b, brk_conn_t *c, const char *id)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl || !cl->bc) return;
    brk_presence_t *p = &cl->pres;
    size_t len = strlen(id);
    /* a CONNECT that claimed its session elsewhere has its token already */
    uint64_t token = c->cluster_token ? c->cluster_token : atomic_fetch_add(&p->next_token, 1) + 1;
    pthread_mutex_lock(&p->mu);
    pres_ent_t *e = brk_presence_find(&p->mine, id, len, true);
    if (e) {
        e->token = token;
        e->seen = false;
    }
    pthread_mutex_unlock(&p->mu);
    if (!e) return;
    c->cluster_token = token;
    char tok[24], qos[2] = {0}, delay[16], expiry[16], at[24];
    snprintf(tok, sizeof(tok), "%llu", (unsigned long long)token);
    snprintf(at, sizeof(at), "%lld", (long long)brk_wall_ms());
    bool kept = c->session && c->session->expiry > 0;
    bridge_kv_t h[11] = {{"sluice.kind", "present", 7},
                         {"sluice.token", tok, strlen(tok)},
                         {"sluice.kept", kept ? "1" : "0", 1},
                         {"sluice.at", at, strlen(at)}};
    size_t n = 4;
    brk_msg_t *w = c->will;
    if (w) {
        qos[0] = (char)('0' + w->qos);
        snprintf(delay, sizeof(delay), "%u", c->will_delay);
        h[n++] = (bridge_kv_t){"mqtt.topic", w->topic, w->topic_len};
        h[n++] = (bridge_kv_t){"mqtt.qos", qos, 1};
        h[n++] = (bridge_kv_t){"mqtt.retain", w->retain ? "1" : "0", 1};
        h[n++] = (bridge_kv_t){"mqtt.delay", delay, strlen(delay)};
        if (w->props_len) h[n++] = (bridge_kv_t){"sluice.props", w->props, w->props_len};
        if (c->has_will_expiry) {
            snprintf(expiry, sizeof(expiry), "%u", c->will_expiry);
            h[n++] = (bridge_kv_t){"mqtt.expiry", expiry, strlen(expiry)};
        }
        if (c->username) h[n++] = (bridge_kv_t){"mqtt.username", c->username, strlen(c->username)};
    }
    brk_presence_produce(cl, id, len, h, n, w ? (const void *)w->payload : "",
                         w ? w->payload_len : 0);
}

void brk_cluster_disconnected(brk_t *b, brk_conn_t *c, const char *id)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl || !cl->bc || !c->cluster_token) return;
    brk_presence_t *p = &cl->pres;
    size_t len = strlen(id);
    pthread_mutex_lock(&p->mu);
    pres_ent_t *e = brk_presence_find(&p->mine, id, len, false);
    if (e && e->token == c->cluster_token) brk_presence_drop(&p->mine, e);
    pthread_mutex_unlock(&p->mu);
    char tok[24];
    snprintf(tok, sizeof(tok), "%llu", (unsigned long long)c->cluster_token);
    bool kept = c->session && c->session->expiry > 0 && !c->session->ended;
    /* a will the session holds for its delay (conn.c): the others keep it
     * too, and publish it if this node dies before the delay is over */
    uint32_t held = c->will && !c->disconnected_cleanly && c->will_delay && kept
                        ? (c->will_delay < c->session->expiry ? c->will_delay : c->session->expiry)
                        : 0;
    char hs[16], at[24];
    snprintf(hs, sizeof(hs), "%u", held);
    snprintf(at, sizeof(at), "%lld", (long long)brk_wall_ms());
    bridge_kv_t h[5] = {{"sluice.kind", "gone", 4},
                        {"sluice.token", tok, strlen(tok)},
                        {"sluice.kept", kept ? "1" : "0", 1},
                        {"sluice.at", at, strlen(at)},
                        {"sluice.will_held", hs, strlen(hs)}};
    brk_presence_produce(cl, id, len, h, held ? 5 : 4, NULL, 0);
}

/* Another node took the client: close this node's connection of it
 * (0x8E), as a takeover within one node would. */
void brk_presence_kick(brk_cluster_t *cl, brk_session_t *s)
{
    brk_conn_t *c = s->conn;
    if (!c) return;
    atomic_fetch_add(&c->refs, 1); /* the item's; its worker reads what the client sent first */
    brk_inbox_item_t it = {.kind = BRK_INBOX_KILL, .u.c = c};
    if (brk_worker_post(c->w, it) < 0) brk_worker_post_failed(c->w, it);
    atomic_fetch_add(&cl->pres.takeovers, 1);
    brk_log(cl->b, BRK_LOG_INFO, "SLUICE-CLUSTER-TAKEOVER",
            "client '%s' connected to another node: its connection here is closed (0x8E)",
            s->client_id);
}

static void kick(brk_cluster_t *cl, const char *id, size_t len)
{
    brk_t *b = cl->b;
    pthread_mutex_lock(&b->reg_lock);
    brk_session_t *s = brk_reg_find(b, id, (uint16_t)len);
    if (s) {
        pthread_mutex_lock(&s->lock);
        brk_presence_kick(cl, s);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&b->reg_lock);
}

/* Not known dead: a node not heard of yet gets the benefit of the doubt
 * (its present record may be read before its first heartbeat). */
static const pres_node_t *node_of(const brk_presence_t *p, const char *node)
{
    for (uint32_t i = 0; i < p->n_nodes; i++)
        if (!strcmp(p->nodes[i].id, node)) return &p->nodes[i];
    return NULL;
}

static bool alive(const brk_presence_t *p, const char *node, const char *inc)
{
    const pres_node_t *k = node_of(p, node);
    return !k || (k->up && !strcmp(k->inc, inc));
}

int64_t brk_presence_offline_since(brk_presence_t *p, const char *id, size_t len, const char *node)
{
    const pres_ent_t *e = brk_presence_find(&p->owners, id, len, false);
    if (e && e->gone_at) return e->gone_at;
    const pres_node_t *k = node_of(p, node);
    return k && !k->up ? k->down_at : 0;
}

bool brk_presence_up(const brk_presence_t *p, const char *node)
{
    const pres_node_t *k = node_of(p, node);
    return !k || k->up;
}

/* ---- where sessions are (owners; p->mu held) ------------------------------ */

int brk_presence_name(brk_presence_t *p, const char *node)
{
    for (uint32_t i = 0; i < p->n_names; i++)
        if (!strcmp(p->names[i], node)) return (int)i;
    if (p->n_names == PRES_MAX_NAMES || strlen(node) >= sizeof(p->names[0])) return -1;
    if (!p->names && !(p->names = calloc(PRES_MAX_NAMES, sizeof(*p->names)))) return -1;
    strcpy(p->names[p->n_names], node);
    return (int)p->n_names++;
}

void brk_presence_owner_set(brk_presence_t *p, const char *id, size_t len, const char *node,
                            bool kept)
{
    pthread_mutex_lock(&p->mu);
    int i = brk_presence_name(p, node);
    pres_ent_t *e = i >= 0 ? brk_presence_find(&p->owners, id, len, true) : NULL;
    if (e) {
        e->owner = (uint16_t)i;
        e->kept = kept;
        e->gone_at = 0;
    }
    pthread_mutex_unlock(&p->mu);
}

/* node's connection of id ended at wall time `at` (0: unknown, now);
 * its session stays there if kept. */
static void owner_gone(brk_presence_t *p, const char *id, size_t len, const char *node, bool kept,
                       int64_t at)
{
    pthread_mutex_lock(&p->mu);
    pres_ent_t *e = brk_presence_find(&p->owners, id, len, false);
    if (e && !strcmp(p->names[e->owner], node)) {
        e->gone_at = at > 0 ? at : brk_wall_ms();
        if (kept)
            e->kept = true;
        else
            brk_presence_drop(&p->owners, e);
    }
    pthread_mutex_unlock(&p->mu);
}

const char *brk_presence_owner(brk_presence_t *p, const char *id, size_t len, bool *kept)
{
    pres_ent_t *e = brk_presence_find(&p->owners, id, len, false);
    if (!e) return NULL;
    *kept = e->kept;
    return p->names[e->owner];
}

static void schedule(brk_presence_t *p, pres_will_t *w)
{
    if (w->fire_at) return;
    /* a held will's delay began when its connection ended */
    w->fire_at = (w->gone_at ? w->gone_at : brk_now_ms()) + (int64_t)w->delay * 1000;
    p->scheduled++;
}

static void will_unlink(brk_presence_t *p, pres_will_t *w)
{
    atomic_fetch_sub(&p->wills_known, 1);
    if (w->gone_at) atomic_fetch_sub(&p->wills_held, 1);
    if (w->fire_at) p->scheduled--;
}

/* A new connection of the client: the wills its ended connections held
 * for their delay are never sent (MQTT-3.1.3-9). */
static void drop_held(brk_presence_t *p, const char *id, size_t len)
{
    pres_ent_t *e = brk_presence_find(&p->wills, id, len, false);
    if (!e) return;
    for (pres_will_t **pp = &e->wills; *pp;) {
        pres_will_t *w = *pp;
        if (!w->gone_at) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        will_unlink(p, w);
        will_free(w);
    }
    if (!e->wills) brk_presence_drop(&p->wills, e);
}

static void on_present(brk_cluster_t *cl, const char *id, size_t len, const char *node,
                       const char *inc, const bridge_kv_t *h, size_t n, const void *val,
                       size_t vlen)
{
    brk_presence_t *p = &cl->pres;
    uint64_t token = brk_presence_kv_u64(h, n, "sluice.token");
    bool own = !strcmp(node, cl->b->cfg->node_id);
    pthread_mutex_lock(&p->mu);
    pres_ent_t *e = brk_presence_find(&p->mine, id, len, false);
    bool take = false;
    if (e && own && !strcmp(inc, bridge_cluster_incarnation(cl->bc)) && e->token == token)
        e->seen = true;
    else if (e && !own && e->seen) /* ours came first: theirs wins */
        take = true;
    if (take) brk_presence_drop(&p->mine, e);
    bool here = e && !take; /* connected here, and this node's record will win */
    pthread_mutex_unlock(&p->mu);
    brk_presence_owner_set(p, id, len, node, brk_presence_kv_is(h, n, "sluice.kept", "1"));
    if (take) kick(cl, id, len);
    /* the client is on that node now: this node's copy of its session
     * (offline, or behind the connection just closed) is stale; a record
     * replayed at start-up is history and changes nothing */
    int64_t at = (int64_t)brk_presence_kv_u64(h, n, "sluice.at");
    if (!own && !here && brk_wall_ms() - at < (int64_t)cl->b->cfg->cluster.node_timeout_ms)
        brk_session_elsewhere(cl, id, len, take);

    drop_held(p, id, len);
    const bridge_kv_t *t = brk_presence_kv(h, n, "mqtt.topic");
    if (!t || !t->len || t->len > 0xffff || !mqtt_topic_valid(t->v, t->len)) return;
    const bridge_kv_t *props = brk_presence_kv(h, n, "sluice.props");
    /* forwarded as they are to whoever gets the will: checked like a
     * message record's (a record is input like any other) */
    if (props && (props->len > 0xffffff || !mqtt_props_forwardable(props->v, (uint32_t)props->len)))
        return;
    pres_ent_t *we = brk_presence_find(&p->wills, id, len, true);
    pres_will_t *w = we ? calloc(1, sizeof(*w)) : NULL;
    if (!w) return;
    uint64_t q = brk_presence_kv_u64(h, n, "mqtt.qos");
    w->will = brk_msg_copy(t->v, (uint16_t)t->len, val ? val : (const uint8_t *)"", (uint32_t)vlen,
                           props ? props->v : NULL, props ? (uint32_t)props->len : 0,
                           (uint8_t)(q > 2 ? 2 : q), brk_presence_kv_is(h, n, "mqtt.retain", "1"));
    if (!w->will) {
        free(w);
        return;
    }
    snprintf(w->node, sizeof(w->node), "%s", node);
    snprintf(w->inc, sizeof(w->inc), "%s", inc);
    w->token = token;
    w->delay = (uint32_t)brk_presence_kv_u64(h, n, "mqtt.delay");
    w->has_expiry = brk_presence_kv(h, n, "mqtt.expiry") != NULL;
    w->expiry = (uint32_t)brk_presence_kv_u64(h, n, "mqtt.expiry");
    char user[256];
    if (brk_presence_kv_str(h, n, "mqtt.username", user, sizeof(user))) w->username = strdup(user);
    w->next = we->wills;
    we->wills = w;
    atomic_fetch_add(&p->wills_known, 1);
    /* its node is known dead already: the delay starts now */
    if (!alive(p, node, inc)) schedule(p, w);
}

/* The will of (node, token) for id: taken out of the map and returned. */
/* The link to the will of (node, inc if given, token) in e, or NULL. */
static pres_will_t **will_link(pres_ent_t *e, const char *node, const char *inc, uint64_t token)
{
    for (pres_will_t **pp = e ? &e->wills : NULL; pp && *pp; pp = &(*pp)->next) {
        const pres_will_t *w = *pp;
        if (w->token == token && !strcmp(w->node, node) && (!inc || !strcmp(w->inc, inc)))
            return pp;
    }
    return NULL;
}

static pres_will_t *will_take(brk_presence_t *p, const char *id, size_t len, const char *node,
                              const char *inc, uint64_t token)
{
    pres_ent_t *e = brk_presence_find(&p->wills, id, len, false);
    pres_will_t **pp = will_link(e, node, inc, token);
    if (!pp) return NULL;
    pres_will_t *w = *pp;
    *pp = w->next;
    will_unlink(p, w);
    if (!e->wills) brk_presence_drop(&p->wills, e);
    return w;
}

/* A connection ended: its will goes, or is held for its delay
 * (sluice.will_held seconds from sluice.at) in case its node dies. */
static void hold_or_drop(brk_cluster_t *cl, const char *id, size_t len, const char *node,
                         const char *inc, const bridge_kv_t *h, size_t n)
{
    brk_presence_t *p = &cl->pres;
    uint64_t token = brk_presence_kv_u64(h, n, "sluice.token");
    uint64_t held = brk_presence_kv_u64(h, n, "sluice.will_held");
    pres_will_t *w;
    if (!held) {
        if ((w = will_take(p, id, len, node, inc, token))) will_free(w);
        return;
    }
    pres_will_t **pp = will_link(brk_presence_find(&p->wills, id, len, false), node, inc, token);
    if (!pp || (w = *pp)->gone_at) return; /* no will, or held already */
    int64_t ago = brk_wall_ms() - (int64_t)brk_presence_kv_u64(h, n, "sluice.at");
    w->gone_at = brk_now_ms() - (ago > 0 ? ago : 0);
    w->delay = held > UINT32_MAX ? UINT32_MAX : (uint32_t)held;
    atomic_fetch_add(&p->wills_held, 1);
    if (w->fire_at) { /* its node was thought dead already: from the end of it */
        w->fire_at = 0;
        p->scheduled--;
    }
    if (!alive(p, node, inc)) schedule(p, w);
}

static void fire(brk_cluster_t *cl, const char *id, size_t len, pres_will_t *w)
{
    char cid[256];
    snprintf(cid, sizeof(cid), "%.*s", (int)len, id);
    brk_log(cl->b, BRK_LOG_INFO, "SLUICE-CLUSTER-WILL",
            "client '%s': node %s died with it connected: its will on %s is published here", cid,
            w->node, w->will->topic);
    atomic_fetch_add(&cl->pres.wills_fired, 1);
    brk_will_publish(cl->b, NULL, w->will, w->expiry, w->has_expiry, cid, w->username);
}

void brk_presence_record(brk_cluster_t *cl, const char *key, size_t klen, const char *node,
                         const char *inc, const bridge_kv_t *h, size_t n, const void *val,
                         size_t vlen)
{
    brk_presence_t *p = &cl->pres;
    if (brk_presence_kv_is(h, n, "sluice.kind", "present")) {
        on_present(cl, key, klen, node, inc, h, n, val, vlen);
    } else if (brk_presence_kv_is(h, n, "sluice.kind", "gone")) {
        owner_gone(p, key, klen, node, brk_presence_kv_is(h, n, "sluice.kept", "1"),
                   (int64_t)brk_presence_kv_u64(h, n, "sluice.at"));
        hold_or_drop(cl, key, klen, node, inc, h, n);
    } else if (brk_presence_kv_is(h, n, "sluice.kind", "claim")) {
        brk_session_claimed(cl, key, klen, node, inc, h, n);
    } else if (brk_presence_kv_is(h, n, "sluice.kind", "ckpt")) {
        brk_ckpt_record(cl, key, klen, node, h, n, val, vlen);
    } else if (brk_presence_kv_is(h, n, "sluice.kind", "share-floor")) {
        brk_ckpt_share_floor(cl, node, val, vlen);
    } else if (brk_presence_kv_is(h, n, "sluice.kind", "state")) {
        brk_session_state(cl, key, klen, node, h, n, val, vlen);
    } else if (brk_presence_kv_is(h, n, "sluice.kind", "will-fired")) {
        char owner[72], oinc[24];
        if (!brk_presence_kv_str(h, n, "sluice.owner", owner, sizeof(owner)) ||
            !brk_presence_kv_str(h, n, "sluice.owner_inc", oinc, sizeof(oinc)))
            return;
        /* the first marker takes it; later ones find nothing */
        pres_will_t *w =
            will_take(p, key, klen, owner, oinc, brk_presence_kv_u64(h, n, "sluice.token"));
        if (!w) return;
        /* the marker is this node's, for a will of another (dead) node: a
         * node's marker for its own held will says it published it already */
        if (!strcmp(node, cl->b->cfg->node_id) &&
            !strcmp(inc, bridge_cluster_incarnation(cl->bc)) && strcmp(owner, node))
            fire(cl, key, klen, w);
        will_free(w);
    }
}

static void each_will(brk_presence_t *p, void (*fn)(brk_cluster_t *, pres_ent_t *, pres_will_t *),
                      brk_cluster_t *cl)
{
    for (uint32_t i = 0; i < p->wills.cap; i++)
        for (pres_ent_t *e = p->wills.v[i]; e; e = e->next)
            for (pres_will_t *w = e->wills; w; w = w->next)
                fn(cl, e, w);
}

static void schedule_dead(brk_cluster_t *cl, pres_ent_t *e, pres_will_t *w)
{
    if (!alive(&cl->pres, w->node, w->inc)) schedule(&cl->pres, w);
}

void brk_presence_node(brk_cluster_t *cl, const char *node, const char *inc, bool up, bool left)
{
    brk_presence_t *p = &cl->pres;
    pres_node_t *k = (pres_node_t *)node_of(p, node);
    if (!k && p->n_nodes < sizeof(p->nodes) / sizeof(p->nodes[0])) k = &p->nodes[p->n_nodes++];
    if (!k) return;
    pthread_mutex_lock(&p->mu); /* brk_presence_up reads them on workers */
    snprintf(k->id, sizeof(k->id), "%s", node);
    snprintf(k->inc, sizeof(k->inc), "%s", inc);
    if (k->up && !up) k->down_at = brk_wall_ms();
    k->up = up;
    pthread_mutex_unlock(&p->mu);
    /* a node that left handled its clients' wills while it closed them */
    if (!up && !left) each_will(p, schedule_dead, cl);
}

void brk_presence_loaded(brk_cluster_t *cl)
{
    each_will(&cl->pres, schedule_dead, cl);
}

bool brk_presence_on_duty(const brk_cluster_t *cl)
{
    const brk_presence_t *p = &cl->pres;
    const char *me = cl->b->cfg->node_id, *low = NULL;
    bool me_alive = false;
    for (uint32_t i = 0; i < p->n_nodes; i++) {
        if (!p->nodes[i].up) continue;
        if (!low || strcmp(p->nodes[i].id, low) < 0) low = p->nodes[i].id;
        me_alive |= !strcmp(p->nodes[i].id, me);
    }
    return me_alive && !strcmp(low, me);
}

static void mark_due(brk_cluster_t *cl, pres_ent_t *e, pres_will_t *w)
{
    if (!w->fire_at || w->marked || brk_now_ms() < w->fire_at) return;
    char tok[24];
    snprintf(tok, sizeof(tok), "%llu", (unsigned long long)w->token);
    bridge_kv_t h[4] = {{"sluice.kind", "will-fired", 10},
                        {"sluice.owner", w->node, strlen(w->node)},
                        {"sluice.owner_inc", w->inc, strlen(w->inc)},
                        {"sluice.token", tok, strlen(tok)}};
    if (brk_presence_produce(cl, e->id, e->len, h, 4, "1", 1) == 0) w->marked = true;
}

void brk_cluster_will_fired(brk_t *b, const char *id, uint64_t token)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl || !cl->bc || !token) return;
    char tok[24];
    const char *me = b->cfg->node_id, *inc = bridge_cluster_incarnation(cl->bc);
    snprintf(tok, sizeof(tok), "%llu", (unsigned long long)token);
    bridge_kv_t h[4] = {{"sluice.kind", "will-fired", 10},
                        {"sluice.owner", me, strlen(me)},
                        {"sluice.owner_inc", inc, strlen(inc)},
                        {"sluice.token", tok, strlen(tok)}};
    brk_presence_produce(cl, id, strlen(id), h, 4, "1", 1);
}

void brk_presence_tick(brk_cluster_t *cl)
{
    brk_presence_t *p = &cl->pres;
    int64_t now = brk_now_ms();
    if (now - p->last_sweep >= 1000) { /* records read after their node's death */
        p->last_sweep = now;
        each_will(p, schedule_dead, cl);
    }
    if (p->scheduled && brk_presence_on_duty(cl)) each_will(p, mark_due, cl);
    brk_session_jobs_tick(cl);
    brk_session_claims_tick(cl);
}
