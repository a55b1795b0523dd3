/*
 * cluster_session_in.c - the claiming node's half of a session that moves
 * (cluster_session.c has the protocol): a state record's JSON becomes a
 * local session, stored, subscribed and queued, and the paused CONNECT is
 * told to go on.
 *
 * A record is input like any other: a field of the wrong type, a topic or
 * filter that is not valid, properties a server would not forward, or
 * base64 that does not decode drop that entry (counted in the log line),
 * never the node. The subscriptions' JSON and copies are here too: a
 * checkpoint (cluster_ckpt.c) writes and reads them the same way.
 *
 * Threads: the cluster's reader thread; brk_session_for and
 * brk_session_import_subs also on a worker (a revival), the filters
 * helpers anywhere (locks as their comments in cluster_int.h say).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "grow.h"

#define MAX_IDS BRK_SESSION_MAX_IDS

static double num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* A QoS field, 0..2 whatever the record says. */
static uint8_t qos_at(const cJSON *o, const char *k)
{
    double q = num(o, k, 0);
    return q >= 2 ? 2 : q >= 1 ? 1 : 0;
}

/* A message entry; NULL if malformed. */
static brk_msg_t *msg_of(const cJSON *o)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "t");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "p");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "pr");
    if (!cJSON_IsString(t) || !cJSON_IsString(p) || (pr && !cJSON_IsString(pr))) return NULL;
    size_t tl = strlen(t->valuestring);
    if (!tl || tl > 0xffff || !mqtt_topic_valid((const uint8_t *)t->valuestring, tl)) return NULL;
    uint8_t *pl = NULL, *props = NULL;
    uint32_t pll = 0, prl = 0;
    brk_msg_t *m = NULL;
    if (!brk_b64_decode(p->valuestring, &pl, &pll) ||
        (pr && !brk_b64_decode(pr->valuestring, &props, &prl)) ||
        (prl && !mqtt_props_forwardable(props, prl)))
        goto out;
    double x = num(o, "x", 0);
    m = brk_msg_copy((const uint8_t *)t->valuestring, (uint16_t)tl, pl, pll, props, prl,
                     qos_at(o, "mq"), cJSON_IsTrue(cJSON_GetObjectItem(o, "r")));
    if (m && x >= 1 && x <= UINT32_MAX) m->expire_at_ms = brk_now_ms() + (int64_t)x * 1000;
out:
    free(pl);
    free(props);
    return m;
}

static uint32_t ids_of(const cJSON *o, uint32_t *ids)
{
    uint32_t n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(o, "ids"))
    {
        if (n == MAX_IDS) break;
        if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 268435455)
            ids[n++] = (uint32_t)v->valuedouble;
    }
    return n;
}

/* ---- a session's subscriptions ------------------------------------------- */

void brk_session_subs_json(cJSON *o, const brk_session_t *s, size_t *bytes)
{
    cJSON *subs = cJSON_AddArrayToObject(o, "subs");
    for (uint32_t i = 0; subs && i < s->n_subs; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(subs, e);
        char *f = strndup(s->subs[i].filter, s->subs[i].len);
        if (e && f) cJSON_AddStringToObject(e, "f", f);
        free(f);
        cJSON_AddNumberToObject(e, "o", s->subs[i].options);
        if (s->subs[i].sub_id) cJSON_AddNumberToObject(e, "id", s->subs[i].sub_id);
        *bytes += s->subs[i].len + 32;
    }
}

brk_subrec_t *brk_session_filters(const brk_session_t *s, uint32_t *n)
{
    brk_subrec_t *v = s->n_subs ? calloc(s->n_subs, sizeof(*v)) : NULL;
    *n = 0;
    for (uint32_t i = 0; v && i < s->n_subs; i++) {
        v[i] = s->subs[i];
        if (!(v[i].filter = malloc(s->subs[i].len))) break;
        memcpy(v[i].filter, s->subs[i].filter, s->subs[i].len);
        (*n)++;
    }
    return v;
}

void brk_session_filters_free(brk_subrec_t *f, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(f[i].filter);
    free(f);
}

uint32_t brk_session_import_subs(brk_session_t *s, const cJSON *subs)
{
    brk_t *b = s->b;
    uint32_t bad = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, subs)
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "f");
        size_t len = cJSON_IsString(f) ? strlen(f->valuestring) : 0;
        double o = num(e, "o", -1), id = num(e, "id", 0);
        if (!len || len > 0xffff || o < 0 || o > 255 || id < 0 || id > 268435455 ||
            !mqtt_filter_valid((const uint8_t *)f->valuestring, len)) {
            bad++;
            continue;
        }
        const char *fs = f->valuestring;
        if (!brk_session_subrec_put(s, fs, (uint16_t)len, (uint8_t)o, (uint32_t)id) ||
            brk_subs_add(b->subs, fs, (uint16_t)len, s, (uint8_t)o, (uint32_t)id) < 0) {
            bad++;
            continue;
        }
        pthread_mutex_lock(&s->lock);
        if (!s->ended) brk_persist_sub(s, fs, (uint16_t)len, (uint8_t)o, (uint32_t)id, true);
        pthread_mutex_unlock(&s->lock);
    }
    return bad;
}

static void import_in2(brk_session_t *s, const cJSON *in2)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, in2)
    {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 65535) continue;
        uint16_t pid = (uint16_t)v->valuedouble;
        if (brk_session_in2_add(s, pid)) brk_persist_in2(s, pid, true);
    }
}

static bool pid_used(const brk_session_t *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->inf_len; i++)
        if (s->inf[i].pid == pid) return true;
    return false;
}

/* One in-flight entry with its packet id and state, written to the store
 * the way a send writes it (s->lock held); false: deliver it as queued. */
static bool inflight_put(brk_session_t *s, const cJSON *o, uint32_t *bad)
{
    double pid = num(o, "pid", 0), st = num(o, "st", 0);
    if (pid < 1 || pid > 65535 ||
        (st != BRK_INF_PUBACK && st != BRK_INF_PUBREC && st != BRK_INF_PUBCOMP)) {
        (*bad)++;
        return true;
    }
    if (s->conn || pid_used(s, (uint16_t)pid)) return st == BRK_INF_PUBCOMP; /* merged: queue */
    brk_inflight_t e = {.pid = (uint16_t)pid, .state = (uint8_t)st};
    if (st != BRK_INF_PUBCOMP) {
        if (!(e.d.msg = msg_of(o))) {
            (*bad)++;
            return true;
        }
        e.d.qos = st == BRK_INF_PUBACK ? 1 : 2;
        e.d.retain = cJSON_IsTrue(cJSON_GetObjectItem(o, "r"));
        uint32_t ids[MAX_IDS], n = ids_of(o, ids);
        if (brk_subids_set(&e.d.sub_ids, &e.d.n_sub_ids, ids, n) < 0) n = 0;
        brk_persist_enqueue(s, &e.d);
        brk_persist_send(s, &e);
    } else {
        e.d.qos = 2; /* PUBREL sent: the client holds the message; in memory only */
    }
    if (s->inf_len == s->inf_cap && brk_grow_vec(&s->inf, &s->inf_cap, sizeof(*s->inf), 16)) {
        brk_delivery_release(&e.d);
        (*bad)++;
        return true;
    }
    s->inf[s->inf_len++] = e;
    if ((uint16_t)pid >= s->next_pid) s->next_pid = (uint16_t)((uint16_t)pid + 1);
    if (!s->next_pid) s->next_pid = 1;
    return true;
}

static void deliver(brk_session_t *s, const cJSON *o, uint32_t *bad)
{
    brk_msg_t *m = msg_of(o);
    if (!m) {
        (*bad)++;
        return;
    }
    uint32_t ids[MAX_IDS], n = ids_of(o, ids);
    brk_session_deliver(s, NULL, m, qos_at(o, "q"), cJSON_IsTrue(cJSON_GetObjectItem(o, "r")), ids,
                        n, NULL);
    brk_msg_unref(&m);
}

static uint32_t import_inflight(brk_session_t *s, const cJSON *inf)
{
    uint32_t bad = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, inf)
    {
        pthread_mutex_lock(&s->lock);
        bool done = inflight_put(s, o, &bad);
        pthread_mutex_unlock(&s->lock);
        if (!done) deliver(s, o, &bad);
    }
    return bad;
}

brk_session_t *brk_session_for(brk_cluster_t *cl, const char *id, size_t len, const cJSON *j)
{
    brk_t *b = cl->b;
    bool made = false;
    pthread_mutex_lock(&b->reg_lock);
    brk_session_t *s = brk_reg_find(b, id, (uint16_t)len);
    double exp = num(j, "expiry", 0), ver = num(j, "version", MQTT_V311);
    if (!s && exp >= 1 && (s = brk_session_new(b, id, (uint16_t)len))) {
        uint32_t max = b->cfg->mqtt.max_session_expiry;
        s->version = ver == MQTT_V5 || ver == MQTT_V31 ? (uint8_t)ver : MQTT_V311;
        s->expiry = exp >= max ? max : (uint32_t)exp;
        s->offline_since_ms = brk_now_ms();
        brk_reg_insert(b, s);
        made = true;
    }
    if (s) brk_session_ref(s);
    pthread_mutex_unlock(&b->reg_lock);
    if (made) brk_persist_session(s, NULL, 0, false);
    return s;
}

/* One part of a hand-over; false if it is not JSON of this format. */
static bool import_part(brk_cluster_t *cl, const char *id, size_t len, const char *txt, size_t tlen,
                        bool first, uint32_t *bad, int64_t *pos, int32_t *npos)
{
    cJSON *j = cJSON_ParseWithLength(txt, tlen);
    if (!cJSON_IsObject(j) || (first && num(j, "v", 0) != 1)) {
        cJSON_Delete(j);
        return false;
    }
    *npos = brk_ckpt_pos_of(j, pos); /* the last part's: the old node's msgs positions */
    brk_session_t *s = brk_session_for(cl, id, len, j);
    if (s) {
        if (first) {
            *bad += brk_session_import_subs(s, cJSON_GetObjectItemCaseSensitive(j, "subs"));
            import_in2(s, cJSON_GetObjectItemCaseSensitive(j, "in2"));
            *bad += import_inflight(s, cJSON_GetObjectItemCaseSensitive(j, "inf"));
        }
        const cJSON *o;
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(j, "q")) deliver(s, o, bad);
        brk_session_unref(s);
    }
    cJSON_Delete(j);
    return s != NULL;
}

/* ---- what this node read while the session was on its way ---------------- */

static void buffer_clear(brk_presence_t *p)
{
    for (uint32_t i = 0; i < p->buf_n; i++)
        brk_msg_unref(&p->buf[i].m);
    p->buf_n = 0;
    p->buf_on = p->buf_full = false;
}

void brk_session_buffer_free(brk_cluster_t *cl)
{
    buffer_clear(&cl->pres);
    free(cl->pres.buf);
    free(cl->pres.buf_start);
    cl->pres.buf = NULL;
    cl->pres.buf_start = NULL;
}

void brk_session_buffer(brk_cluster_t *cl, brk_msg_t *m, const bridge_cluster_at_t *at)
{
    brk_presence_t *p = &cl->pres;
    if (!atomic_load(&p->claims_active)) { /* the last claim is over */
        buffer_clear(p);
        bridge_cluster_own_records(cl->bc, false);
        return;
    }
    if (!p->buf_on) { /* from here on: every partition from where it stands */
        if (!p->buf_start && !(p->buf_start = malloc(BRK_CLUSTER_MAX_PARTS * sizeof(int64_t))))
            return;
        p->buf_parts = bridge_cluster_msgs_positions(cl->bc, p->buf_start, BRK_CLUSTER_MAX_PARTS);
        if (at->partition < p->buf_parts) p->buf_start[at->partition] = at->offset;
        p->buf_on = true;
    }
    if (p->buf_full) return;
    int64_t now = brk_now_ms();
    if (p->buf_n == PRES_BUF_MAX ||
        (p->buf_n == p->buf_cap && brk_grow_vec(&p->buf, &p->buf_cap, sizeof(*p->buf), 1024))) {
        p->buf_full = true; /* a hand-over now may miss records: said when it happens */
        p->buf_full_ms = now;
        return;
    }
    p->buf[p->buf_n++] = (pres_rec_t){at->partition, at->offset, now, brk_msg_ref(m)};
}

void brk_session_buffer_trim(brk_cluster_t *cl)
{
    brk_presence_t *p = &cl->pres;
    int64_t now = brk_now_ms(), keep = 2 * (int64_t)cl->b->cfg->cluster.node_timeout_ms + 2000;
    if (!p->buf_on || now - p->buf_trim_ms < 1000) return;
    p->buf_trim_ms = now;
    /* no claim lives longer than keep: claims opened since the overflow
     * are whole again once it is that old */
    if (p->buf_full && now - p->buf_full_ms > keep) p->buf_full = false;
    uint32_t cut = 0;
    while (cut < p->buf_n && now - p->buf[cut].at > keep)
        brk_msg_unref(&p->buf[cut++].m);
    if (!cut) return;
    memmove(p->buf, p->buf + cut, (p->buf_n - cut) * sizeof(*p->buf));
    p->buf_n -= cut;
    /* where each partition's kept records begin now: its first one kept,
     * or (none kept) where the reader stands */
    p->buf_parts = bridge_cluster_msgs_positions(cl->bc, p->buf_start, BRK_CLUSTER_MAX_PARTS);
    for (uint32_t i = p->buf_n; i-- > 0;)
        if (p->buf[i].part < p->buf_parts) p->buf_start[p->buf[i].part] = p->buf[i].off;
}

bool brk_session_match(const brk_subrec_t *f, uint32_t n, const brk_msg_t *m, const char *from,
                       const char *id, size_t len, uint8_t *qos, bool *rap, uint32_t *ids,
                       uint32_t *n_ids)
{
    bool any = false, mine = from && strlen(from) == len && !memcmp(from, id, len);
    mqtt_str_t g, rest;
    *n_ids = 0;
    for (uint32_t i = 0; i < n; i++) {
        if ((mine && (f[i].options & 4)) || /* no-local */
            mqtt_share_split((const uint8_t *)f[i].filter, f[i].len, &g, &rest) ||
            !mqtt_topic_match((const uint8_t *)f[i].filter, f[i].len, (const uint8_t *)m->topic,
                              m->topic_len))
            continue;
        uint8_t q = (uint8_t)(f[i].options & 3);
        q = q < m->qos ? q : m->qos;
        *qos = any && *qos > q ? *qos : q;
        *rap = (any && *rap) || (f[i].options & 8);
        if (f[i].sub_id && *n_ids < MAX_IDS) ids[(*n_ids)++] = f[i].sub_id;
        any = true;
    }
    return any;
}

/* A kept record for one session: with ACLs, a copy of its own, whose
 * topic the session's ACL is asked for when it is sent (the replay asks
 * none). A reference, or NULL without memory. */
static brk_msg_t *for_one(brk_t *b, brk_msg_t *m)
{
    if (!b->acl_on) return brk_msg_ref(m);
    brk_msg_t *c = brk_msg_copy((const uint8_t *)m->topic, m->topic_len, m->payload, m->payload_len,
                                m->props, m->props_len, m->qos, m->retain);
    if (!c) return NULL;
    c->expire_at_ms = m->expire_at_ms;
    c->epoch = m->epoch;
    c->acl_unchecked = true;
    return c;
}

/* The session of id came from `from`, which had read msgs up to pos:
 * what this node read from there (own records included) and the session
 * subscribed to goes into it now. A partition read here only after that
 * position is a gap, said loudly. */
static void replay(brk_cluster_t *cl, const char *id, size_t len, const int64_t *pos, int32_t npos,
                   const char *from)
{
    brk_presence_t *p = &cl->pres;
    brk_t *b = cl->b;
    pthread_mutex_lock(&b->reg_lock);
    brk_session_t *s = brk_reg_find(b, id, (uint16_t)len);
    if (s) brk_session_ref(s);
    pthread_mutex_unlock(&b->reg_lock);
    if (!s) return;
    uint32_t gaps = p->buf_full;
    for (int32_t i = 0; i < npos && p->buf_on; i++)
        gaps += i < p->buf_parts && pos[i] >= 0 && p->buf_start[i] >= 0 && pos[i] < p->buf_start[i];
    pthread_mutex_lock(&s->lock); /* its filters, copied: deliver takes the lock */
    uint32_t nf = 0;
    brk_subrec_t *f = brk_session_filters(s, &nf);
    pthread_mutex_unlock(&s->lock);
    uint64_t n = 0;
    for (uint32_t i = 0; f && i < p->buf_n; i++) {
        const pres_rec_t *r = &p->buf[i];
        uint8_t qos = 0;
        bool rap = false;
        uint32_t ids[MAX_IDS], n_ids;
        if ((r->part < npos && pos[r->part] >= 0 && r->off < pos[r->part]) ||
            !brk_session_match(f, nf, r->m, NULL, id, len, &qos, &rap, ids, &n_ids))
            continue;
        brk_msg_t *m = for_one(b, r->m);
        if (!m) continue;
        brk_session_deliver(s, NULL, m, qos, rap && m->retain, ids, n_ids, NULL);
        brk_msg_unref(&m);
        n++;
    }
    brk_session_filters_free(f, nf);
    brk_session_unref(s);
    atomic_fetch_add(&p->replayed, n);
    if (!gaps) return;
    atomic_fetch_add(&p->gaps, 1);
    brk_log(b, BRK_LOG_ERROR, "SLUICE-CLUSTER-SESSION-GAP",
            "client '%.*s': node %s handed its session over behind this node's reading of %s "
            "(%u partitions): messages published meanwhile may be missing from it",
            (int)len, id, from, b->cfg->cluster.topic_prefix, gaps);
}

static void claim_done(brk_presence_t *p, const char *id, size_t len, uint64_t token)
{
    pthread_mutex_lock(&p->mu);
    pres_ent_t *e = brk_presence_find(&p->claims, id, len, false);
    if (e && e->token == token && e->phase == CLAIM_WAIT) {
        e->seen = true;
        brk_session_claim_wake(e);
    }
    pthread_mutex_unlock(&p->mu);
}

void brk_session_state(brk_cluster_t *cl, const char *id, size_t len, const char *node,
                       const bridge_kv_t *h, size_t n, const void *val, size_t vlen)
{
    brk_presence_t *p = &cl->pres;
    const cfg_t *cfg = cl->b->cfg;
    char to[72], to_inc[24];
    if (!brk_presence_kv_str(h, n, "sluice.to", to, sizeof(to)) ||
        !brk_presence_kv_str(h, n, "sluice.to_inc", to_inc, sizeof(to_inc)) || len > 0xffff)
        return;
    bool last = brk_presence_kv_is(h, n, "sluice.last", "1");
    bool none = brk_presence_kv_is(h, n, "sluice.none", "1");
    if (!none) brk_presence_owner_set(p, id, len, to, true);
    /* for another node, or for an earlier run of this one */
    if (strcmp(to, cfg->node_id) || strcmp(to_inc, bridge_cluster_incarnation(cl->bc))) return;
    uint64_t token = brk_presence_kv_u64(h, n, "sluice.to_token");
    uint32_t bad = 0;
    int64_t pos[BRK_CLUSTER_MAX_PARTS];
    int32_t npos = 0;
    bool ok = none || import_part(cl, id, len, val, vlen,
                                  brk_presence_kv_u64(h, n, "sluice.part") == 0, &bad, pos, &npos);
    if (!ok || bad)
        brk_log(cl->b, BRK_LOG_ERROR, "SLUICE-CLUSTER-SESSION-BAD",
                "client '%.*s': %s from node %s (%u entries dropped)", (int)len, id,
                ok ? "malformed entries in the session" : "a session record that is not valid",
                node, bad);
    if (!last) return;
    if (!none && ok) replay(cl, id, len, pos, npos, node);
    if (!none) {
        atomic_fetch_add(&p->moved_in, 1);
        brk_log(cl->b, BRK_LOG_INFO, "SLUICE-CLUSTER-SESSION-IN",
                "client '%.*s': session taken over from node %s", (int)len, id, node);
    }
    claim_done(p, id, len, token);
}
