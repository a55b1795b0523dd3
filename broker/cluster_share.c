/*
 * cluster_share.c - shared subscriptions across the cluster: a message
 * goes to one member of a group cluster-wide, not one per node.
 *
 * Every node announces each of its groups as interest in
 * "$share/<g>/<f>" (brk_subs_watch). The publishing node picks, for each
 * group matching the topic, one node among those with members (itself
 * included), in turn, and names the picks in the record's sluice.share
 * header; each node delivers only to the groups picked for it (or not
 * named at all: groups the publisher did not know of yet). The groups
 * known are few and matched one by one.
 *
 * A group picked for a node whose last member there left while the
 * message was on its way: that node sends the message once more for those
 * groups alone, picking among the other nodes with members. The re-send's
 * header starts with an empty entry (u16 0, u8 0): "shared groups only",
 * so plain subscribers do not get it twice; a re-send is not re-sent.
 *
 * Locking: shares_lock (rwlock): the reader thread writes, sinks read.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "grow.h"

typedef struct rshare {
    char *full; /* "$share/<g>/<f>" */
    uint16_t len, f_off;
    uint16_t *nodes; /* indexes into cl->nodes */
    uint32_t n, cap;
} rshare_t;

static rshare_t *share_find(brk_cluster_t *cl, const char *full, uint16_t len)
{
    for (uint32_t i = 0; i < cl->n_shares; i++)
        if (cl->shares[i].len == len && !memcmp(cl->shares[i].full, full, len))
            return &cl->shares[i];
    return NULL;
}

static rshare_t *share_add(brk_cluster_t *cl, const char *full, uint16_t len)
{
    mqtt_str_t g, f;
    if (!mqtt_share_split((const uint8_t *)full, len, &g, &f)) return NULL;
    if (cl->n_shares == cl->cap_shares &&
        brk_grow_vec(&cl->shares, &cl->cap_shares, sizeof(*cl->shares), 8))
        return NULL;
    rshare_t *r = &cl->shares[cl->n_shares];
    memset(r, 0, sizeof(*r));
    if (!(r->full = malloc(len))) return NULL;
    memcpy(r->full, full, len);
    r->len = len;
    r->f_off = (uint16_t)((const char *)f.p - full);
    cl->n_shares++;
    return r;
}

void brk_cluster_share_interest(brk_cluster_t *cl, uint32_t node, const char *full, uint16_t len,
                                bool on)
{
    pthread_rwlock_wrlock(&cl->shares_lock);
    rshare_t *r = share_find(cl, full, len);
    if (on && !r) r = share_add(cl, full, len);
    uint32_t at = 0;
    while (r && at < r->n && r->nodes[at] != node)
        at++;
    if (r && on && at == r->n && (r->n < r->cap || !brk_grow_vec(&r->nodes, &r->cap, 2, 4))) {
        r->nodes[r->n++] = (uint16_t)node;
        atomic_fetch_add(&cl->remote_filters, 1);
        atomic_fetch_add(&cl->share_members, 1);
    } else if (r && !on && at < r->n) {
        r->nodes[at] = r->nodes[--r->n];
        atomic_fetch_sub(&cl->remote_filters, 1);
        atomic_fetch_sub(&cl->share_members, 1);
    }
    pthread_rwlock_unlock(&cl->shares_lock);
}

/* This node has members of the group full[0..len). */
static bool members_here(brk_cluster_t *cl, const char *full, uint16_t len)
{
    brk_subs_rdlock(cl->b->subs);
    bool here = brk_subs_has(cl->b->subs, full, len);
    brk_subs_unlock(cl->b->subs);
    return here;
}

/* One node in turn among r's living ones, and this one if mine: an id,
 * or NULL when nobody living has members. A node that died is not picked
 * once it is seen down: what it was picked for before that is the
 * duty node's to send again (brk_cluster_share_dead). */
static const char *pick_live(brk_cluster_t *cl, const rshare_t *r, bool mine)
{
    uint32_t live = 0;
    for (uint32_t j = 0; j < r->n; j++)
        live += !atomic_load_explicit(&cl->nodes[r->nodes[j]].down, memory_order_relaxed);
    if (!live && !mine) return NULL;
    uint32_t k =
        atomic_fetch_add_explicit(&cl->share_rr, 1, memory_order_relaxed) % (live + (mine ? 1 : 0));
    for (uint32_t j = 0; j < r->n; j++)
        if (!atomic_load_explicit(&cl->nodes[r->nodes[j]].down, memory_order_relaxed) && !k--)
            return cl->nodes[r->nodes[j]].id;
    return cl->b->cfg->node_id;
}

static size_t hdr_put(uint8_t *hdr, size_t at, size_t cap, const rshare_t *r, const char *node)
{
    size_t nl = strlen(node);
    if (at + 3 + r->len + nl > cap) return at;
    hdr[at++] = (uint8_t)(r->len >> 8);
    hdr[at++] = (uint8_t)r->len;
    memcpy(hdr + at, r->full, r->len);
    at += r->len;
    hdr[at++] = (uint8_t)nl;
    memcpy(hdr + at, node, nl);
    return at + nl;
}

size_t brk_cluster_share_pick(brk_cluster_t *cl, const brk_msg_t *m, brk_origin_t *o, uint8_t *hdr,
                              size_t cap, bool *remote)
{
    size_t at = 0;
    *remote = false;
    /* no shared group anywhere else: no lock taken per message */
    if (!atomic_load_explicit(&cl->share_members, memory_order_relaxed)) return 0;
    const char *me = cl->b->cfg->node_id;
    pthread_rwlock_rdlock(&cl->shares_lock);
    for (uint32_t i = 0; i < cl->n_shares; i++) {
        const rshare_t *r = &cl->shares[i];
        if (!r->n || !mqtt_topic_match((const uint8_t *)r->full + r->f_off, r->len - r->f_off,
                                       (const uint8_t *)m->topic, m->topic_len))
            continue;
        const char *pick = pick_live(cl, r, members_here(cl, r->full, r->len));
        if (!pick) continue; /* members only on dead nodes: nobody to give it to */
        size_t was = at;
        at = hdr_put(hdr, at, cap, r, pick);
        if (pick == me || at == was) continue; /* ours, or no room: delivered here */
        *remote = true;
        if (!brk_origin_skip(o, r->full, r->len)) at = was; /* cannot skip: ours after all */
    }
    pthread_rwlock_unlock(&cl->shares_lock);
    return at;
}

/* One entry of a sluice.share header: the group full[0..fl), the node
 * picked for it node[0..nl), and whether that is this node. */
typedef struct share_ent {
    const char *full, *node;
    uint16_t fl;
    uint8_t nl;
    bool mine;
} share_ent_t;

/* The entry at *at (moved past it); false at the end, or where the header
 * is cut short. */
static bool share_next(brk_cluster_t *cl, const uint8_t *hdr, size_t len, size_t *at,
                       share_ent_t *e)
{
    const char *me = cl->b->cfg->node_id;
    size_t ml = strlen(me), i = *at;
    if (i + 2 > len) return false;
    e->fl = (uint16_t)(hdr[i] << 8 | hdr[i + 1]);
    if (i + 2 + e->fl + 1 > len) return false;
    e->full = (const char *)hdr + i + 2;
    e->nl = hdr[i + 2 + e->fl];
    if (i + 3 + e->fl + e->nl > len) return false;
    e->node = (const char *)hdr + i + 3 + e->fl;
    e->mine = e->nl == ml && !memcmp(e->node, me, ml);
    *at = i + 3u + e->fl + e->nl;
    return true;
}

void brk_cluster_share_apply(brk_cluster_t *cl, const uint8_t *hdr, size_t len, brk_origin_t *o)
{
    if (len >= 3 && !hdr[0] && !hdr[1] && !hdr[2]) o->shares_only = true;
    share_ent_t e;
    for (size_t at = 0; share_next(cl, hdr, len, &at, &e);)
        if (!e.mine) (void)brk_origin_skip(o, e.full, e.fl);
}

/* The groups of hdr picked for this node that have no member here, each
 * picked again among the other nodes with members, into out (after the
 * "groups only" entry); its length, 0 if none. Reader thread. */
static size_t orphans(brk_cluster_t *cl, const uint8_t *hdr, size_t len, uint8_t *out, size_t cap)
{
    size_t at_out = 3;
    share_ent_t e;
    memset(out, 0, 3);
    pthread_rwlock_rdlock(&cl->shares_lock);
    for (size_t at = 0; share_next(cl, hdr, len, &at, &e);) {
        if (!e.mine || !e.fl) continue;
        const rshare_t *r = members_here(cl, e.full, e.fl) ? NULL : share_find(cl, e.full, e.fl);
        const char *pick = r ? pick_live(cl, r, false) : NULL;
        if (!pick) continue; /* members here, or nowhere else either */
        at_out = hdr_put(out, at_out, cap, r, pick);
    }
    pthread_rwlock_unlock(&cl->shares_lock);
    return at_out > 3 ? at_out : 0;
}

/* m once more, for the groups picked in hdr[0..n) only. */
static bool resend(brk_cluster_t *cl, const brk_msg_t *m, uint32_t expiry_s, const uint8_t *out,
                   size_t n)
{
    if (brk_cluster_send_again(cl, m, expiry_s, out, n) < 0) {
        brk_log(cl->b, BRK_LOG_WARN, "SLUICE-CLUSTER-FULL",
                "message on %s not sent again for its shared groups", m->topic);
        return false;
    }
    atomic_fetch_add(&cl->share_resent, 1);
    return true;
}

void brk_cluster_share_resend(brk_cluster_t *cl, const brk_msg_t *m, uint32_t expiry_s,
                              const uint8_t *hdr, size_t len)
{
    uint8_t out[BRK_SHARE_HDR_MAX];
    size_t n = orphans(cl, hdr, len, out, sizeof(out));
    if (n) (void)resend(cl, m, expiry_s, out, n);
}

/* The node e names is a member node of r and down (shares_lock held). */
static bool member_down(brk_cluster_t *cl, const rshare_t *r, const share_ent_t *e)
{
    for (uint32_t j = 0; j < r->n; j++) {
        const char *id = cl->nodes[r->nodes[j]].id;
        if (strlen(id) == e->nl && !memcmp(id, e->node, e->nl))
            return atomic_load(&cl->nodes[r->nodes[j]].down);
    }
    return false;
}

/* hdr's groups picked for nodes that are down, picked again among the
 * living (this one included) into out after the "groups only" entry;
 * every other group named for nobody (""), so that no node delivers it
 * twice. Its length, 0 if nothing was picked again; *remote: another
 * node was. */
static size_t repick(brk_cluster_t *cl, const uint8_t *hdr, size_t len, uint8_t *out, size_t cap,
                     bool *remote)
{
    const char *me = cl->b->cfg->node_id;
    size_t at_out = 3, n = 0;
    share_ent_t e;
    memset(out, 0, 3);
    *remote = false;
    pthread_rwlock_rdlock(&cl->shares_lock);
    for (size_t at = 0; share_next(cl, hdr, len, &at, &e);) {
        if (!e.fl) continue;
        const rshare_t *r = !e.mine && e.nl ? share_find(cl, e.full, e.fl) : NULL;
        if (r && !member_down(cl, r, &e)) r = NULL;
        const char *pick = r ? pick_live(cl, r, members_here(cl, e.full, e.fl)) : NULL;
        rshare_t none = {.full = (char *)e.full, .len = e.fl};
        size_t before = at_out;
        at_out = hdr_put(out, at_out, cap, r ? r : &none, pick ? pick : "");
        if (pick && at_out != before) {
            n++;
            *remote |= strcmp(pick, me) != 0;
        }
    }
    pthread_rwlock_unlock(&cl->shares_lock);
    return n ? at_out : 0;
}

bool brk_cluster_share_dead(brk_cluster_t *cl, const brk_msg_t *m, uint32_t expiry_s,
                            const uint8_t *hdr, size_t len)
{
    uint8_t out[BRK_SHARE_HDR_MAX];
    bool remote;
    size_t n = repick(cl, hdr, len, out, sizeof(out), &remote);
    if (!n) return false;
    brk_origin_t o = {.kind = BRK_ORIGIN_CLUSTER, .client_id = ""};
    brk_cluster_share_apply(cl, out, n, &o); /* groups only; those picked here */
    brk_route_from(cl->b, NULL, (brk_msg_t *)m, &o);
    if (remote) (void)resend(cl, m, expiry_s, out, n);
    return true;
}

bool brk_cluster_share_away(brk_t *b, const char *full, uint16_t len, brk_msg_t *m)
{
    brk_cluster_t *cl = b->cluster;
    if (!cl || !cl->bc) return false;
    uint8_t out[BRK_SHARE_HDR_MAX] = {0};
    size_t n = 3;
    pthread_rwlock_rdlock(&cl->shares_lock);
    const rshare_t *r = share_find(cl, full, len);
    const char *pick = r ? pick_live(cl, r, false) : NULL;
    if (pick) n = hdr_put(out, n, sizeof(out), r, pick);
    pthread_rwlock_unlock(&cl->shares_lock);
    uint32_t expiry_s = 0;
    if (m->expire_at_ms) {
        int64_t left = (m->expire_at_ms - brk_now_ms() + 999) / 1000;
        if (left <= 0) return false; /* expired meanwhile */
        expiry_s = (uint32_t)left;
    }
    return n > 3 && resend(cl, m, expiry_s, out, n);
}

void brk_cluster_shares_free(brk_cluster_t *cl)
{
    for (uint32_t i = 0; i < cl->n_shares; i++) {
        free(cl->shares[i].full);
        free(cl->shares[i].nodes);
    }
    free(cl->shares);
    cl->shares = NULL;
    cl->n_shares = cl->cap_shares = 0;
}
