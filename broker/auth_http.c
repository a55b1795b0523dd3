/*
 * auth_http.c - the HTTP hook: a CONNECT (url) or a publish / subscribe
 * right (acl_url) decided by an operator's HTTP service.
 *
 * Requests never run on an I/O worker. The worker asks here; a miss queues
 * a job and answers BRK_ACL_WAIT, its connection pauses (BRK_PAUSE: the
 * packet is kept, the worker serves everyone else) and the tick hands the
 * same packet in again, which then finds the answer. max_inflight threads
 * each run one libcurl request at a time (so at most that many are in
 * flight); the queue in front of them is bounded and a full queue answers
 * as if the hook were down.
 *
 * Answers live in a table keyed by SHA-256(process secret, kind, connection,
 * request body): never the password itself. A CONNECT's answer (with the
 * "acl" rules of an allow) is for its own connection only (the key holds
 * it) and kept while that CONNECT may ask again (a will topic the ACL hook
 * is still deciding pauses it once more); an ACL answer is kept cache_ttl_ms for
 * every client with the same client id and user name (at least 1 s, so that
 * the waiting packet finds it). "Down" (no answer,
 * timeout, 5xx, 3xx) is kept 1 s so that the retry sees it, then asked
 * again; it becomes allow with "fail": "open", refusal otherwise.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "acl.h"
#include "base.h"

#define SETS 1024
#define WAYS 4
#define QUEUE_MAX 256
#define CONNECT_TTL_MS (30 * 1000) /* a CONNECT's answer, kept while it may ask again */
#define DOWN_TTL_MS 1000
#define REPLY_MAX 65536

enum { E_EMPTY, E_PENDING, E_ALLOW, E_DENY, E_DOWN };

typedef struct slot {
    uint8_t key[32];
    uint8_t state;
    bool superuser;
    char *acl; /* an allowed CONNECT's "acl" object (JSON text), or NULL */
    int64_t at_ms;
} slot_t;

typedef struct job {
    uint8_t key[32];
    const char *url;
    char *body;
} job_t;

struct brk_hook {
    const cfg_auth_http_t *cfg;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t *threads;
    uint32_t n_threads;
    bool stop;
    uint8_t secret[32];
    slot_t slots[SETS][WAYS];
    job_t q[QUEUE_MAX];
    uint32_t q_head, q_len;
};

typedef struct reply {
    char buf[REPLY_MAX];
    size_t len;
} reply_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_start(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    size_t len = size * n, room = REPLY_MAX - 1 - r->len;
    memcpy(r->buf + r->len, p, len < room ? len : room); /* more is cut, not an error */
    r->len += len < room ? len : room;
    return len;
}

/* One POST; the slot state it leads to. */
static int post(const cfg_auth_http_t *cfg, const char *url, const char *body, bool *superuser,
                char **acl)
{
    reply_t *r = calloc(1, sizeof(*r));
    CURL *e = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    int state = E_DOWN;
    long status = 0;
    *superuser = false;
    if (!r || !e || !hdr) goto done;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (curl_easy_perform(e) != CURLE_OK) goto done;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        r->buf[r->len] = 0;
        int v = cfg_http_auth_reply(r->buf, r->len, superuser, acl);
        state = v == 0 ? E_DENY : E_ALLOW; /* 2xx without a verdict: allow */
    } else if (status >= 400 && status < 500) {
        state = E_DENY;
    }
done:
    curl_slist_free_all(hdr);
    if (e) curl_easy_cleanup(e);
    free(r);
    return state;
}

/* The slot for key (found, or the one to reuse); lock held. */
static slot_t *lookup(brk_hook_t *h, const uint8_t key[32], bool *found)
{
    uint32_t set;
    memcpy(&set, key, sizeof(set)); /* SHA-256 output: already uniform */
    slot_t *s = h->slots[set % SETS], *old = &s[0];
    for (int i = 0; i < WAYS; i++) {
        if (s[i].state != E_EMPTY && !memcmp(s[i].key, key, 32)) {
            *found = true;
            return &s[i];
        }
        if (s[i].state == E_EMPTY || s[i].at_ms < old->at_ms) old = &s[i];
    }
    *found = false;
    return old;
}

static void *run(void *arg)
{
    brk_hook_t *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stop) {
        if (!h->q_len) {
            pthread_cond_wait(&h->cond, &h->lock);
            continue;
        }
        job_t j = h->q[h->q_head];
        h->q_head = (h->q_head + 1) % QUEUE_MAX;
        h->q_len--;
        pthread_mutex_unlock(&h->lock);
        bool su;
        char *acl = NULL;
        int state = post(h->cfg, j.url, j.body, &su, &acl);
        OPENSSL_cleanse(j.body, strlen(j.body));
        free(j.body);
        pthread_mutex_lock(&h->lock);
        bool found;
        slot_t *s = lookup(h, j.key, &found);
        if (found) { /* not evicted meanwhile: the waiting packet finds it */
            s->state = (uint8_t)state;
            s->superuser = su;
            free(s->acl);
            s->acl = acl;
            s->at_ms = brk_now_ms();
        } else {
            free(acl);
        }
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

brk_hook_t *brk_hook_new(const cfg_auth_http_t *cfg)
{
    pthread_once(&curl_once, curl_start);
    brk_hook_t *h = calloc(1, sizeof(*h));
    if (!h) return NULL;
    h->cfg = cfg;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    h->threads = calloc(cfg->max_inflight, sizeof(*h->threads));
    if (!h->threads || RAND_bytes(h->secret, sizeof(h->secret)) != 1) goto fail;
    for (; h->n_threads < cfg->max_inflight; h->n_threads++)
        if (pthread_create(&h->threads[h->n_threads], NULL, run, h)) goto fail;
    return h;
fail:
    brk_hook_free(h);
    return NULL;
}

void brk_hook_free(brk_hook_t *h)
{
    if (!h) return;
    pthread_mutex_lock(&h->lock);
    h->stop = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    for (uint32_t i = 0; i < h->n_threads; i++)
        pthread_join(h->threads[i], NULL);
    for (uint32_t i = 0; i < h->q_len; i++) {
        job_t *j = &h->q[(h->q_head + i) % QUEUE_MAX];
        OPENSSL_cleanse(j->body, strlen(j->body));
        free(j->body);
    }
    for (uint32_t i = 0; i < SETS; i++)
        for (int k = 0; k < WAYS; k++)
            free(h->slots[i][k].acl);
    free(h->threads);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    OPENSSL_cleanse(h->secret, sizeof(h->secret));
    free(h);
}

static void make_key(const brk_hook_t *h, char kind, uint64_t conn, const char *body,
                     uint8_t key[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, h->secret, sizeof(h->secret)) != 1 ||
        EVP_DigestUpdate(ctx, &kind, 1) != 1 || EVP_DigestUpdate(ctx, &conn, sizeof(conn)) != 1 ||
        EVP_DigestUpdate(ctx, body, strlen(body)) != 1 || EVP_DigestFinal_ex(ctx, key, NULL) != 1)
        RAND_bytes(key, 32); /* no digest: a key that matches nothing */
    EVP_MD_CTX_free(ctx);
}

/* The answer for body (taking ownership of it): a slot state, or E_PENDING
 * (queued, or already waiting). E_DOWN when the queue is full. *acl (if
 * not NULL) a copy of an allow's rules, NULL when none came. */
static int ask(brk_hook_t *h, char kind, uint64_t conn, const char *url, char *body, bool *su,
               char **acl)
{
    uint8_t key[32];
    bool found;
    make_key(h, kind, conn, body, key);
    int64_t now = brk_now_ms(), ttl = kind == 'c' ? CONNECT_TTL_MS : h->cfg->cache_ttl_ms;
    if (ttl < DOWN_TTL_MS) ttl = DOWN_TTL_MS; /* the waiting packet must find its answer */
    int state = E_DOWN;
    pthread_mutex_lock(&h->lock);
    slot_t *s = lookup(h, key, &found);
    int64_t age = now - s->at_ms;
    if (found && s->state != E_EMPTY) {
        bool fresh = s->state == E_PENDING ? age < (int64_t)h->cfg->timeout_ms + 5000
                     : s->state == E_DOWN  ? age < DOWN_TTL_MS
                                           : age < ttl;
        if (fresh) {
            state = s->state;
            *su = s->superuser;
            if (acl && s->acl && !(*acl = strdup(s->acl))) state = E_DOWN;
            goto out;
        }
    }
    if (h->q_len < QUEUE_MAX) {
        h->q[(h->q_head + h->q_len++) % QUEUE_MAX] = (job_t){.url = url, .body = body};
        memcpy(h->q[(h->q_head + h->q_len - 1) % QUEUE_MAX].key, key, 32);
        body = NULL;
        free(s->acl);
        *s = (slot_t){.state = E_PENDING, .at_ms = now};
        memcpy(s->key, key, 32);
        pthread_cond_signal(&h->cond);
        state = E_PENDING;
    }
out:
    pthread_mutex_unlock(&h->lock);
    if (body) {
        OPENSSL_cleanse(body, strlen(body));
        free(body);
    }
    return state;
}

static const char *proto_name(const cfg_listener_t *l)
{
    static const char *const names[] = {"mqtt", "ws", "mqtts", "wss", "http"};
    return l && l->protocol <= CFG_PROTO_HTTP ? names[l->protocol] : "mqtt";
}

int brk_hook_connect(brk_hook_t *h, const brk_hook_login_t *r, bool *superuser, char **acl)
{
    char listener[300], *pass = NULL;
    *superuser = false;
    *acl = NULL;
    snprintf(listener, sizeof(listener), "%s:%u", r->listener ? r->listener->host : "",
             r->listener ? r->listener->port : 0);
    if (r->password && !(pass = malloc(r->password->len + 1))) return BRK_ACL_BUSY;
    if (pass) {
        if (r->password->len) memcpy(pass, r->password->p, r->password->len);
        pass[r->password->len] = 0; /* a NUL inside cuts it: JSON strings are text */
    }
    const char *keys[] = {"clientid", "username", "password", "peer", "protocol", "listener"};
    const char *vals[] = {r->client_id, r->user, pass, r->peer, proto_name(r->listener), listener};
    char *body = cfg_http_auth_body(keys, vals, 6);
    if (pass) {
        OPENSSL_cleanse(pass, r->password->len);
        free(pass);
    }
    if (!body) return BRK_ACL_BUSY;
    int st = ask(h, 'c', r->conn, h->cfg->url, body, superuser, acl);
    if (st == E_PENDING) return BRK_ACL_WAIT;
    if (st == E_ALLOW) return BRK_ACL_ALLOW;
    if (st == E_DENY) return BRK_ACL_BAD_LOGIN;
    return h->cfg->fail_open ? BRK_ACL_ALLOW : BRK_ACL_BUSY;
}

int brk_hook_acl(brk_hook_t *h, const char *client_id, const char *user, const char *topic,
                 uint16_t len, brk_acl_access_t access)
{
    char *t = malloc((size_t)len + 1);
    if (!t) return BRK_ACL_DENY;
    memcpy(t, topic, len);
    t[len] = 0;
    const char *keys[] = {"clientid", "username", "topic", "access"};
    /* the will is a publish; delivery is decided with the subscribe */
    const char *what = access == BRK_ACL_SUBSCRIBE ? "subscribe" : "publish";
    const char *vals[] = {client_id, user, t, what};
    char *body = cfg_http_auth_body(keys, vals, 4);
    free(t);
    if (!body) return BRK_ACL_DENY;
    bool su;
    int st = ask(h, 'a', 0, h->cfg->acl_url, body, &su, NULL);
    if (st == E_PENDING) return BRK_ACL_WAIT;
    if (st == E_ALLOW) return BRK_ACL_ALLOW;
    if (st == E_DENY) return BRK_ACL_DENY;
    return h->cfg->fail_open ? BRK_ACL_ALLOW : BRK_ACL_DENY;
}
