/*
 * acl.c - the access-control seam (see acl.h): each listener's policy, the
 * identity a session carries, the one check every MQTT site calls, the
 * CONNECT decision with its log line, and the counters.
 *
 * Hot path: with no ACL configured anywhere, brk_acl_session returns at
 * once (b->acl_on is false). With ACLs, a delivery or a publish is checked against the
 * few rules of its subscriber (its user's section and the patterns), after
 * a small per-identity cache of recent topics.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acl.h"
#include "auth_jwt.h"
#include "brk.h"

#define CACHE_SLOTS 16

typedef struct policy {
    bool allow_anonymous;
    brk_passwd_t *pw;       /* NULL: user names are not checked */
    brk_acl_rules_t *rules; /* NULL: no ACL, allow all */
    brk_hook_t *hook;       /* auth.http: NULL = none */
    brk_jwt_t *jwt;         /* auth.jwt: NULL = none */
    bool jwt_acl;           /* a token's acl_claim replaces the rules */
    uint8_t cert_identity;  /* CFG_CERT_*: the user name is the certificate's */
    const cfg_auth_http_t *http;
} policy_t;

enum { ST_FAILURES, ST_CONN_OK, ST_CONN_DENIED, ST_ACL_OK, ST_ACL_DENIED, ST_N };
static const char *const stat_names[ST_N] = {"failures", "connect/allowed", "connect/denied",
                                             "acl/allowed", "acl/denied"};

/* Everything a reload replaces: the policies and the config they were made
 * from. Counted: one reference for being current, one per identity made
 * from it; the last one frees it (so a reload never pulls a policy from
 * under a CONNECT in progress or a session's checks). */
typedef struct auth_state {
    policy_t top;
    policy_t *own; /* listeners with their own "auth", by listener index */
    const cfg_t *cfg;
    cfg_t *owned; /* a reloaded config, freed with the state */
    _Atomic uint32_t refs;
} auth_state_t;

struct brk_auth {
    auth_state_t *_Atomic cur;
    pthread_mutex_t lock; /* taking a reference to cur vs replacing it */
    const cfg_t *cfg;     /* the start config: c->listener points into it */
    brk_verify_t *verify;
    brk_backoff_t *backoff;
    _Atomic uint64_t st[ST_N];
};

typedef struct cache_slot {
    char *topic;
    uint16_t len;
    uint8_t access;
    bool allowed;
} cache_slot_t;

struct brk_acl_id {
    brk_auth_t *auth;
    auth_state_t *st; /* a reference: pol lives in it */
    size_t listener;  /* index in the start config (n_listeners: none) */
    const policy_t *pol;
    char *user;
    char *client_id;
    const mqtt_str_t *password; /* during brk_acl_connect only */
    brk_hook_login_t login;     /* during brk_acl_connect only */
    bool superuser;             /* the HTTP hook said so: no ACL applies */
    brk_acl_rules_t *own;       /* rules from the client's JWT; NULL = the policy's */
    const char *why;            /* a refusal's reason, when more precise than its code */
    brk_acl_view_t *view;       /* NULL when the policy has no ACL */
    cache_slot_t cache[CACHE_SLOTS];
    uint32_t cache_next;
};

static void count(brk_auth_t *a, int which)
{
    if (a) atomic_fetch_add_explicit(&a->st[which], 1, memory_order_relaxed);
}

static int policy_load(policy_t *p, const cfg_auth_t *c, char *err, size_t errlen)
{
    p->allow_anonymous = c->allow_anonymous;
    if (c->password_file && brk_passwd_load(c->password_file, &p->pw, err, errlen)) return -1;
    if (c->has_acl && brk_acl_rules_load(c, &p->rules, err, errlen)) return -1;
    if (c->jwt && brk_jwt_load(c->jwt, &p->jwt, err, errlen)) return -1;
    p->jwt_acl = c->jwt && c->jwt->acl_claim;
    p->cert_identity = c->cert_identity;
    if ((p->http = c->http) && !(p->hook = brk_hook_new(c->http))) {
        snprintf(err, errlen, "auth.http: cannot start its threads");
        return -1;
    }
    return 0;
}

static void policy_free(policy_t *p)
{
    brk_passwd_free(p->pw);
    brk_acl_rules_free(p->rules);
    brk_hook_free(p->hook);
    brk_jwt_free(p->jwt);
}

static bool state_acl_on(const auth_state_t *st)
{
    /* a CONNECT hook may hand a client rules of its own ("acl") */
    bool on = st->top.rules || st->top.jwt_acl || st->top.http;
    for (size_t i = 0; i < st->cfg->n_listeners; i++)
        on = on || st->own[i].rules || st->own[i].jwt_acl || st->own[i].http;
    return on;
}

static void state_free(brk_auth_t *a, auth_state_t *st)
{
    if (!st) return;
    for (size_t i = 0; i <= st->cfg->n_listeners; i++) {
        policy_t *p = i < st->cfg->n_listeners ? (st->own ? &st->own[i] : NULL) : &st->top;
        if (!p) continue;
        if (p->pw) brk_verify_forget(a->verify, p->pw); /* no job may still read it */
        policy_free(p);
    }
    free(st->own);
    cfg_free(st->owned);
    free(st);
}

static auth_state_t *state_load(brk_auth_t *a, const cfg_t *cfg, char *err, size_t errlen)
{
    auth_state_t *st = calloc(1, sizeof(*st));
    if (!st || !(st->own = calloc(cfg->n_listeners ? cfg->n_listeners : 1, sizeof(*st->own)))) {
        snprintf(err, errlen, "out of memory");
        free(st);
        return NULL;
    }
    st->cfg = cfg;
    atomic_init(&st->refs, 1);
    int rc = policy_load(&st->top, &cfg->auth, err, errlen);
    for (size_t i = 0; !rc && i < cfg->n_listeners; i++)
        if (cfg->listeners[i].auth)
            rc = policy_load(&st->own[i], cfg->listeners[i].auth, err, errlen);
    if (rc) {
        state_free(a, st);
        return NULL;
    }
    return st;
}

static auth_state_t *state_get(brk_auth_t *a)
{
    pthread_mutex_lock(&a->lock);
    auth_state_t *st = atomic_load(&a->cur);
    atomic_fetch_add(&st->refs, 1);
    pthread_mutex_unlock(&a->lock);
    return st;
}

static void state_put(brk_auth_t *a, auth_state_t *st)
{
    if (st && atomic_fetch_sub(&st->refs, 1) == 1) state_free(a, st);
}

void brk_auth_close(brk_auth_t *a)
{
    if (!a) return;
    state_put(a, atomic_load(&a->cur)); /* identities went with the sessions */
    brk_verify_free(a->verify);
    brk_backoff_free(a->backoff);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

brk_auth_t *brk_auth_open(const cfg_t *cfg, char *err, size_t errlen)
{
    brk_auth_t *a = calloc(1, sizeof(*a));
    if (!a || !(a->verify = brk_verify_new()) || !(a->backoff = brk_backoff_new())) {
        snprintf(err, errlen, "out of memory");
        if (a) brk_verify_free(a->verify);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    a->cfg = cfg;
    auth_state_t *st = state_load(a, cfg, err, errlen);
    if (!st) {
        brk_verify_free(a->verify);
        brk_backoff_free(a->backoff);
        pthread_mutex_destroy(&a->lock);
        free(a);
        return NULL;
    }
    atomic_init(&a->cur, st);
    return a;
}

bool brk_auth_acl_on(const brk_auth_t *a)
{
    return a && state_acl_on(atomic_load(&((brk_auth_t *)a)->cur));
}

int brk_auth_reload(brk_auth_t *a, cfg_t *cfg, bool acl_on, char *err, size_t errlen)
{
    if (!a) {
        snprintf(err, errlen, "auth: not open");
        return -1;
    }
    if (cfg->n_listeners != a->cfg->n_listeners) {
        snprintf(err, errlen, "listeners were added or removed: that needs a restart");
        return -1;
    }
    auth_state_t *st = state_load(a, cfg, err, errlen);
    if (!st) return -1;
    if (state_acl_on(st) && !acl_on) {
        snprintf(err, errlen, "ACLs were off at start: turning them on needs a restart");
        state_free(a, st);
        return -1;
    }
    st->owned = cfg;
    pthread_mutex_lock(&a->lock);
    auth_state_t *old = atomic_exchange(&a->cur, st);
    pthread_mutex_unlock(&a->lock);
    state_put(a, old); /* freed now, or by the last identity made from it */
    return 0;
}

void brk_auth_stats(const brk_t *b, void (*fn)(void *arg, const char *name, uint64_t v), void *arg)
{
    brk_auth_t *a = b->auth;
    for (int i = 0; i < ST_N; i++)
        fn(arg, stat_names[i], a ? atomic_load_explicit(&a->st[i], memory_order_relaxed) : 0);
}

/* The policy for listener index i (the start config's) in state st. */
static const policy_t *policy_of(const auth_state_t *st, size_t i)
{
    return i < st->cfg->n_listeners && st->cfg->listeners[i].auth ? &st->own[i] : &st->top;
}

void brk_acl_id_free(brk_acl_id_t *id)
{
    if (!id) return;
    for (int i = 0; i < CACHE_SLOTS; i++)
        free(id->cache[i].topic);
    brk_acl_view_free(id->view);
    brk_acl_rules_free(id->own);
    free(id->user);
    free(id->client_id);
    state_put(id->auth, id->st);
    free(id);
}

const char *brk_acl_id_user(const brk_acl_id_t *id)
{
    return id ? id->user : NULL;
}

static char *dup_str(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

brk_acl_id_t *brk_acl_id_new(brk_auth_t *a, size_t listener, const char *user,
                             const char *client_id)
{
    brk_acl_id_t *id = calloc(1, sizeof(*id));
    if (!id) return NULL;
    id->auth = a;
    id->st = state_get(a);
    id->listener = listener < a->cfg->n_listeners ? listener : a->cfg->n_listeners;
    id->pol = policy_of(id->st, id->listener);
    id->client_id = strdup(client_id);
    if (user) id->user = strdup(user);
    if (!id->client_id || (user && !id->user) ||
        (id->pol->rules &&
         !(id->view = brk_acl_view_new(id->pol->rules, id->user, id->client_id)))) {
        brk_acl_id_free(id);
        return NULL;
    }
    return id;
}

/* Rules of the client's own (a token's claim, the hook's "acl") replace the
 * policy's; then the view is made again. False without memory. */
static bool own_rules(brk_acl_id_t *id, cfg_acl_rule_t *rules, size_t n)
{
    char err[128];
    cfg_auth_t tmp = {.acl = rules, .n_acl = n, .has_acl = true};
    brk_acl_rules_free(id->own);
    id->own = NULL;
    if (brk_acl_rules_load(&tmp, &id->own, err, sizeof(err))) return false;
    brk_acl_view_free(id->view);
    id->view = brk_acl_view_new(id->own, NULL, id->client_id);
    return id->view != NULL;
}

/* The token's claims applied: its user name, its rules (then the view is
 * made again for them). False without memory. */
static bool jwt_apply(brk_acl_id_t *id, brk_jwt_claims_t *cl)
{
    if (cl->user) {
        free(id->user);
        id->user = cl->user;
        cl->user = NULL;
    }
    if (id->pol->jwt_acl) return own_rules(id, cl->rules, cl->n_rules);
    const brk_acl_rules_t *r = id->pol->rules;
    brk_acl_view_free(id->view);
    id->view = r ? brk_acl_view_new(r, id->user, id->client_id) : NULL;
    return !r || id->view;
}

static int jwt_login(brk_acl_id_t *id)
{
    if (!id->password) {
        id->why = "no token in the password field";
        return BRK_ACL_BAD_LOGIN;
    }
    char *tok = dup_str(id->password->p, id->password->len);
    if (!tok) return BRK_ACL_BUSY;
    brk_jwt_claims_t cl;
    int64_t now = (int64_t)time(NULL); /* exp and nbf are wall-clock seconds */
    int v = brk_jwt_verify(id->pol->jwt, tok, now, &cl);
    free(tok);
    static const char *const why[] = {NULL, "JWT: bad signature, key or algorithm",
                                      "JWT: expired or not yet valid",
                                      "JWT: username or ACL claim missing or malformed"};
    id->why = why[v];
    if (v) return BRK_ACL_BAD_LOGIN;
    bool ok = jwt_apply(id, &cl);
    brk_jwt_claims_free(&cl);
    return ok ? BRK_ACL_ALLOW : BRK_ACL_BUSY;
}

/* The CONNECT hook's verdict; an allow's "acl" becomes the client's rules. */
static bool hook_login(brk_acl_id_t *id, int *rc)
{
    char *acl = NULL;
    id->login.client_id = id->client_id;
    id->login.user = id->user;
    id->login.password = id->password;
    *rc = brk_hook_connect(id->pol->hook, &id->login, &id->superuser, &acl);
    if (*rc == BRK_ACL_ALLOW && acl) {
        cfg_acl_rule_t *rules = NULL;
        size_t n = 0;
        if (cfg_jwt_acl_rules(acl, &rules, &n)) {
            id->why = "HTTP hook: \"acl\" is not {\"pub\"|\"sub\"|\"all\": [filters]}";
            *rc = BRK_ACL_DENY;
        } else if (!own_rules(id, rules, n)) {
            *rc = BRK_ACL_BUSY;
        }
        cfg_auth_rules_free(rules, n);
    }
    free(acl);
    return *rc == BRK_ACL_ALLOW;
}

static bool login_ok(brk_acl_id_t *id, int *rc)
{
    const policy_t *p = id->pol;
    if (p->cert_identity) {
        *rc = id->user ? BRK_ACL_ALLOW : BRK_ACL_DENY;
        return id->user != NULL;
    }
    if (p->jwt && (id->user || id->password)) {
        *rc = jwt_login(id);
        return *rc == BRK_ACL_ALLOW;
    }
    if (!id->user) {
        *rc = p->allow_anonymous ? BRK_ACL_ALLOW : BRK_ACL_DENY;
        return *rc == BRK_ACL_ALLOW;
    }
    if (p->http && p->http->url) return hook_login(id, rc);
    if (!p->pw) { /* no password file: a user name is all that is asked */
        *rc = BRK_ACL_ALLOW;
        return true;
    }
    *rc = brk_verify(id->auth->verify, p->pw, id->user, id->password);
    return *rc == BRK_ACL_ALLOW;
}

/* The recent-topic cache of an identity (the caller serialises). */
static cache_slot_t *cache_find(brk_acl_id_t *id, const char *topic, uint16_t len, uint8_t access)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cache_slot_t *s = &id->cache[i];
        if (s->topic && s->len == len && s->access == access && !memcmp(s->topic, topic, len))
            return s;
    }
    return NULL;
}

static void cache_put(brk_acl_id_t *id, const char *topic, uint16_t len, uint8_t access,
                      bool allowed)
{
    cache_slot_t *s = &id->cache[id->cache_next++ % CACHE_SLOTS];
    char *t = malloc(len ? len : 1);
    if (!t) return;
    free(s->topic);
    memcpy(t, topic, len);
    *s = (cache_slot_t){t, len, (uint8_t)access, allowed};
}

/* After a reload: the identity moves to the current policies of its
 * listener (rules, hook), keeping what its credentials gave it (user name,
 * a token's rules, superuser). Credentials are not asked again. The
 * caller serialises, as for every check. */
static void refresh(brk_acl_id_t *id)
{
    auth_state_t *st = state_get(id->auth);
    const policy_t *pol = policy_of(st, id->listener);
    brk_acl_view_t *view = NULL;
    if (!id->own && pol->rules && !(view = brk_acl_view_new(pol->rules, id->user, id->client_id))) {
        state_put(id->auth, st); /* no memory: stay on the old rules, try again next time */
        return;
    }
    if (!id->own) {
        brk_acl_view_free(id->view);
        id->view = view;
    }
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(id->cache[i].topic);
        id->cache[i].topic = NULL;
    }
    state_put(id->auth, id->st);
    id->st = st;
    id->pol = pol;
}

int brk_acl_check(brk_acl_id_t *id, const char *topic, uint16_t len, brk_acl_access_t access)
{
    if (!id) return BRK_ACL_ALLOW;
    if (id->st != atomic_load_explicit(&id->auth->cur, memory_order_acquire)) refresh(id);
    int rc = BRK_ACL_ALLOW;
    if (access == BRK_ACL_CONNECT) { /* counted by brk_acl_connect, with the will */
        login_ok(id, &rc);
        return rc;
    }
    if (id->superuser) return BRK_ACL_ALLOW;
    const policy_t *p = id->pol;
    /* the hook decides writes and subscriptions; what a subscription it
     * allowed delivers is not asked again (EMQX's authorization does the same) */
    bool hooked =
        access == BRK_ACL_PUBLISH || access == BRK_ACL_SUBSCRIBE || access == BRK_ACL_WILL;
    if (p->http && p->http->acl_url && hooked) {
        rc = brk_hook_acl(p->hook, id->client_id, id->user, topic, len, access);
        if (rc == BRK_ACL_DENY || (rc == BRK_ACL_ALLOW && !id->view))
            count(id->auth, rc == BRK_ACL_ALLOW ? ST_ACL_OK : ST_ACL_DENIED);
        if (rc != BRK_ACL_ALLOW) return rc; /* rules, if any, are asked as well */
    }
    if (!id->view) return BRK_ACL_ALLOW; /* this listener has no ACL */
    /* the topics a client publishes and receives repeat: a hit skips its rules */
    bool cached = access == BRK_ACL_RECEIVE || access == BRK_ACL_PUBLISH;
    cache_slot_t *s = cached ? cache_find(id, topic, len, (uint8_t)access) : NULL;
    bool ok = s ? s->allowed : brk_acl_view_allows(id->view, topic, len, access);
    if (cached && !s) cache_put(id, topic, len, (uint8_t)access, ok);
    /* a shared counter bumped per message costs more than the check itself
     * (measured: pairs-auth): an allowed cache hit is not counted */
    if (!ok || !s) count(id->auth, ok ? ST_ACL_OK : ST_ACL_DENIED);
    return ok ? BRK_ACL_ALLOW : BRK_ACL_DENY;
}

int brk_acl_session(brk_session_t *s, const char *topic, uint16_t len, brk_acl_access_t access)
{
    if (!s->b->acl_on) return BRK_ACL_ALLOW;
    pthread_mutex_lock(&s->lock);
    /* recovered from the store and not back yet: nobody to grant anything to */
    int rc = s->acl ? brk_acl_check(s->acl, topic, len, access) : BRK_ACL_DENY;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static const char *reason_text(int rc)
{
    switch (rc) {
    case BRK_ACL_BAD_LOGIN:
        return "bad user name or password";
    case BRK_ACL_BUSY:
        return "too many checks waiting, or the HTTP hook is down";
    default:
        return "not authorized";
    }
}

int brk_acl_connect(brk_conn_t *c, mqtt_connect_t *p, const mqtt_str_t *client_id,
                    brk_acl_id_t **out)
{
    brk_t *b = c->w->b;
    *out = NULL;
    if (!b->auth) return BRK_ACL_ALLOW;
    /* a refusal already decided for this connection and held back */
    uint64_t key = ((uint64_t)(c->w->index + 1) << 48) | (c->id & 0xFFFFFFFFFFFFu);
    int64_t now = brk_now_ms();
    int held = brk_backoff_pending(b->auth->backoff, key, now);
    if (held >= 0) return held;
    brk_acl_id_t *id = calloc(1, sizeof(*id));
    if (!id) return BRK_ACL_BUSY;
    id->auth = b->auth;
    id->st = state_get(b->auth);
    id->listener =
        c->listener ? (size_t)(c->listener - b->auth->cfg->listeners) : b->auth->cfg->n_listeners;
    id->pol = policy_of(id->st, id->listener);
    id->client_id = dup_str(client_id->p, client_id->len);
    bool named = p->has_username && !id->pol->cert_identity;
    if (named) id->user = dup_str(p->username.p, p->username.len);
    if (id->pol->cert_identity) { /* the certificate speaks; the CONNECT's name does not */
        id->user = brk_cert_identity(c->ops->tls ? c->ops->tls(c) : NULL, id->pol->cert_identity);
        if (!id->user) id->why = "no identity in a verified client certificate";
    }
    if (!id->client_id || (named && !id->user) ||
        (id->pol->rules &&
         !(id->view = brk_acl_view_new(id->pol->rules, id->user, id->client_id)))) {
        brk_acl_id_free(id);
        return BRK_ACL_BUSY;
    }
    id->password = p->has_password ? &p->password : NULL;
    id->login = (brk_hook_login_t){.conn = key, .peer = c->peer, .listener = c->listener};
    int rc = brk_acl_check(id, NULL, 0, BRK_ACL_CONNECT);
    id->password = NULL;
    if (rc == BRK_ACL_ALLOW && p->will) {
        int w = brk_acl_check(id, (const char *)p->will_topic.p, (uint16_t)p->will_topic.len,
                              BRK_ACL_WILL);
        if (w == BRK_ACL_WAIT) { /* an ACL hook still deciding: this CONNECT again later */
            brk_acl_id_free(id); /* (the login's answer stays for it) */
            return BRK_ACL_WAIT;
        }
        if (w != BRK_ACL_ALLOW) {
            brk_log(b, BRK_LOG_WARN, "SLUICE-AUTH-WILL", "%s: will topic of \"%s\" not authorized",
                    c->peer, id->client_id);
            p->will = false;
        }
    }
    const char *why = id->why ? id->why : reason_text(rc);
    if (rc != BRK_ACL_WAIT) count(b->auth, rc == BRK_ACL_ALLOW ? ST_CONN_OK : ST_CONN_DENIED);
    if (rc == BRK_ACL_DENY || rc == BRK_ACL_BAD_LOGIN) count(b->auth, ST_FAILURES);
    if (rc != BRK_ACL_ALLOW && rc != BRK_ACL_WAIT)
        brk_log(b, BRK_LOG_WARN, "SLUICE-AUTH-REFUSED",
                "%s: CONNECT refused: client id \"%s\", user name %s%s%s: %s", c->peer,
                id->client_id, id->user ? "\"" : "", id->user ? id->user : "(none)",
                id->user ? "\"" : "", why);
    if (rc == BRK_ACL_ALLOW) {
        *out = id;
        return rc;
    }
    brk_acl_id_free(id);
    if ((rc == BRK_ACL_DENY || rc == BRK_ACL_BAD_LOGIN) &&
        brk_backoff_hold(b->auth->backoff, c->peer, key, rc, now))
        return BRK_ACL_WAIT; /* answered when due (brk_backoff_pending above) */
    return rc;
}
