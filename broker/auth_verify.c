/*
 * auth_verify.c - checking a password without stalling the I/O workers.
 *
 * A cheap hash (the $6$ lines, $7$ with up to 200 iterations such as
 * mosquitto 2.0's 101: about 0.06 ms here) is checked on the worker.
 * A slower one goes to one auth thread; the CONNECT answers BRK_ACL_WAIT
 * and its connection pauses (BRK_PAUSE: not read, other clients served)
 * until the worker's tick hands it the same CONNECT again, which then
 * finds the answer here.
 *
 * Answers are kept in a small table keyed by SHA-256(secret, password file,
 * user, password), never the password itself: a client reconnecting with
 * the same credentials pays no hash again. Failures are kept for a minute,
 * successes for an hour; the table is bounded (4-way sets, oldest out).
 * Everything is under one mutex; the thread takes jobs from a bounded
 * queue (a full queue answers BUSY rather than grow).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "acl.h"
#include "base.h"

#define SETS 1024
#define WAYS 4
#define QUEUE_MAX 256
#define OK_TTL_MS (3600 * 1000)
#define BAD_TTL_MS (60 * 1000)
#define PENDING_TTL_MS (30 * 1000) /* a job lost to shutdown is asked again */

enum { E_EMPTY, E_PENDING, E_OK, E_BAD };

typedef struct slot {
    uint8_t key[32];
    uint8_t state;
    int64_t at_ms;
} slot_t;

typedef struct job {
    uint8_t key[32];
    const brk_passwd_t *pw;
    char *user;
    uint8_t *pass;
    size_t len;
} job_t;

struct brk_verify {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop;
    const brk_passwd_t *running; /* the file of the job being hashed */
    pthread_cond_t idle;         /* running went back to NULL */
    uint32_t gen;                /* in every key: brk_verify_forget invalidates all */
    uint8_t secret[32];
    slot_t slots[SETS][WAYS];
    job_t q[QUEUE_MAX];
    uint32_t q_head, q_len;
};

static void job_clear(job_t *j)
{
    free(j->user);
    if (j->pass) OPENSSL_cleanse(j->pass, j->len);
    free(j->pass);
    memset(j, 0, sizeof(*j));
}

/* The slot for key (found, or the one to reuse); lock held. */
static slot_t *lookup(brk_verify_t *v, const uint8_t key[32], bool *found)
{
    uint32_t set;
    memcpy(&set, key, sizeof(set)); /* SHA-256 output: already uniform */
    slot_t *s = v->slots[set % SETS], *old = &s[0];
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

static void settle(brk_verify_t *v, const uint8_t key[32], bool ok)
{
    bool found;
    pthread_mutex_lock(&v->lock);
    slot_t *s = lookup(v, key, &found);
    memcpy(s->key, key, 32);
    s->state = ok ? E_OK : E_BAD;
    s->at_ms = brk_now_ms();
    pthread_mutex_unlock(&v->lock);
}

static void *run(void *arg)
{
    brk_verify_t *v = arg;
    pthread_mutex_lock(&v->lock);
    while (!v->stop) {
        if (!v->q_len) {
            pthread_cond_wait(&v->cond, &v->lock);
            continue;
        }
        job_t j = v->q[v->q_head];
        memset(&v->q[v->q_head], 0, sizeof(j));
        v->q_head = (v->q_head + 1) % QUEUE_MAX;
        v->q_len--;
        v->running = j.pw;
        pthread_mutex_unlock(&v->lock);
        bool ok = brk_passwd_verify(j.pw, j.user, j.pass, j.len);
        settle(v, j.key, ok);
        job_clear(&j);
        pthread_mutex_lock(&v->lock);
        v->running = NULL;
        pthread_cond_broadcast(&v->idle);
    }
    pthread_mutex_unlock(&v->lock);
    return NULL;
}

brk_verify_t *brk_verify_new(void)
{
    brk_verify_t *v = calloc(1, sizeof(*v));
    if (!v) return NULL;
    if (RAND_bytes(v->secret, sizeof(v->secret)) != 1) {
        free(v);
        return NULL;
    }
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->cond, NULL);
    pthread_cond_init(&v->idle, NULL);
    return v;
}

void brk_verify_free(brk_verify_t *v)
{
    if (!v) return;
    pthread_mutex_lock(&v->lock);
    v->stop = true;
    pthread_cond_signal(&v->cond);
    pthread_mutex_unlock(&v->lock);
    if (v->started) pthread_join(v->thread, NULL);
    for (uint32_t i = 0; i < v->q_len; i++)
        job_clear(&v->q[(v->q_head + i) % QUEUE_MAX]);
    pthread_mutex_destroy(&v->lock);
    pthread_cond_destroy(&v->cond);
    pthread_cond_destroy(&v->idle);
    OPENSSL_cleanse(v->secret, sizeof(v->secret));
    free(v);
}

void brk_verify_forget(brk_verify_t *v, const brk_passwd_t *pw)
{
    pthread_mutex_lock(&v->lock);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < v->q_len; i++) { /* keep the other files' jobs, in order */
        job_t *j = &v->q[(v->q_head + i) % QUEUE_MAX];
        if (j->pw == pw) {
            job_clear(j);
            continue;
        }
        job_t moved = *j;
        memset(j, 0, sizeof(*j));
        v->q[(v->q_head + kept++) % QUEUE_MAX] = moved;
    }
    v->q_len = kept;
    while (v->running == pw)
        pthread_cond_wait(&v->idle, &v->lock);
    v->gen++; /* a new file may get the old one's address: no old answer may match */
    pthread_mutex_unlock(&v->lock);
}

static void make_key(brk_verify_t *v, const brk_passwd_t *pw, const char *user,
                     const mqtt_str_t *pass, uint8_t key[32])
{
    pthread_mutex_lock(&v->lock);
    uint32_t gen = v->gen;
    pthread_mutex_unlock(&v->lock);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const uint8_t zero = 0;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, v->secret, sizeof(v->secret)) != 1 ||
        EVP_DigestUpdate(ctx, &pw, sizeof(pw)) != 1 ||
        EVP_DigestUpdate(ctx, &gen, sizeof(gen)) != 1 ||
        EVP_DigestUpdate(ctx, user, strlen(user) + 1) != 1 ||
        EVP_DigestUpdate(ctx, pass ? pass->p : &zero, pass ? pass->len : 0) != 1 ||
        EVP_DigestFinal_ex(ctx, key, NULL) != 1)
        RAND_bytes(key, 32); /* no digest: a key that matches nothing, so no cache */
    EVP_MD_CTX_free(ctx);
}

/* Queue a job (lock held); false when the queue is full or no thread. */
static bool enqueue(brk_verify_t *v, const uint8_t key[32], const brk_passwd_t *pw,
                    const char *user, const mqtt_str_t *pass)
{
    if (v->q_len == QUEUE_MAX) return false;
    if (!v->started) {
        if (pthread_create(&v->thread, NULL, run, v) != 0) return false;
        v->started = true;
    }
    job_t *j = &v->q[(v->q_head + v->q_len) % QUEUE_MAX];
    memcpy(j->key, key, 32);
    j->pw = pw;
    j->user = strdup(user);
    j->len = pass ? pass->len : 0;
    j->pass = malloc(j->len + 1);
    if (!j->user || !j->pass) {
        job_clear(j);
        return false;
    }
    if (j->len) memcpy(j->pass, pass->p, j->len);
    v->q_len++;
    pthread_cond_signal(&v->cond);
    return true;
}

int brk_verify(brk_verify_t *v, const brk_passwd_t *pw, const char *user, const mqtt_str_t *pass)
{
    uint8_t key[32];
    bool found;
    make_key(v, pw, user, pass, key);
    int64_t now = brk_now_ms();
    pthread_mutex_lock(&v->lock);
    slot_t *s = lookup(v, key, &found);
    if (found) {
        int64_t age = now - s->at_ms;
        int st = s->state;
        bool fresh = (st == E_OK && age < OK_TTL_MS) || (st == E_BAD && age < BAD_TTL_MS) ||
                     (st == E_PENDING && age < PENDING_TTL_MS);
        if (fresh) {
            pthread_mutex_unlock(&v->lock);
            return st == E_OK ? BRK_ACL_ALLOW : st == E_BAD ? BRK_ACL_BAD_LOGIN : BRK_ACL_WAIT;
        }
    }
    if (brk_passwd_slow(pw, user)) {
        int rc = BRK_ACL_BUSY;
        if (enqueue(v, key, pw, user, pass)) {
            memcpy(s->key, key, 32);
            s->state = E_PENDING;
            s->at_ms = now;
            rc = BRK_ACL_WAIT;
        }
        pthread_mutex_unlock(&v->lock);
        return rc;
    }
    pthread_mutex_unlock(&v->lock);
    bool ok =
        brk_passwd_verify(pw, user, pass ? pass->p : (const uint8_t *)"", pass ? pass->len : 0);
    settle(v, key, ok);
    return ok ? BRK_ACL_ALLOW : BRK_ACL_BAD_LOGIN;
}
