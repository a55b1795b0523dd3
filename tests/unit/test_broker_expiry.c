/*
 * test_broker_expiry.c - the session expiry heap of broker.c: offline
 * sessions end at their deadline and not before, in deadline order, a
 * session that came back is left alone, a client that comes and goes keeps
 * one heap entry, and a tick with nothing due looks at the top only.
 *
 * Runs on a broker object without workers or store (brk_new only): the
 * expiry duties are plain functions of the registry and a clock value.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brk.h"

#define T0 1000000 /* a brk_now_ms() value; any will do */

static brk_session_t *offline(brk_t *b, const char *id, uint32_t expiry, int64_t since)
{
    brk_session_t *s = brk_session_new(b, id, (uint16_t)strlen(id));
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    s->expiry = expiry;
    s->offline_since_ms = since;
    pthread_mutex_lock(&b->reg_lock);
    brk_reg_insert(b, s);
    pthread_mutex_unlock(&b->reg_lock);
    brk_expiry_schedule(b, s);
    return s;
}

static bool present(brk_t *b, const char *id)
{
    pthread_mutex_lock(&b->reg_lock);
    bool p = brk_reg_find(b, id, (uint16_t)strlen(id)) != NULL;
    pthread_mutex_unlock(&b->reg_lock);
    return p;
}

static brk_t *new_broker(cfg_t **cfg)
{
    *cfg = cfg_defaults();
    CU_ASSERT_PTR_NOT_NULL_FATAL(*cfg);
    brk_t *b = brk_new(*cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    b->expiry_primed = true; /* nothing restored from a store here */
    return b;
}

static void test_deadlines(void)
{
    cfg_t *cfg;
    brk_t *b = new_broker(&cfg);
    offline(b, "a", 1, T0);
    offline(b, "b", 3, T0);
    offline(b, "never", UINT32_MAX, T0);
    brk_session_t *d = offline(b, "d", 2, T0);
    CU_ASSERT_EQUAL(b->expiry_len, 3); /* "never" has no deadline */

    brk_expire_sessions(b, T0 + 999);
    CU_ASSERT(present(b, "a") && present(b, "b") && present(b, "d"));
    brk_expire_sessions(b, T0 + 1000);
    CU_ASSERT(!present(b, "a"));
    CU_ASSERT(present(b, "b") && present(b, "d"));

    /* d comes back before its deadline: its entry is dropped, not acted on */
    pthread_mutex_lock(&d->lock);
    d->conn = (brk_conn_t *)&d; /* attached; never dereferenced here */
    pthread_mutex_unlock(&d->lock);
    brk_expire_sessions(b, T0 + 2500);
    CU_ASSERT(present(b, "d"));
    CU_ASSERT_EQUAL(b->expiry_len, 1); /* b's entry only */

    /* and goes away again: a new deadline from then */
    pthread_mutex_lock(&d->lock);
    d->conn = NULL;
    d->offline_since_ms = T0 + 2500;
    pthread_mutex_unlock(&d->lock);
    brk_expiry_schedule(b, d);
    brk_expire_sessions(b, T0 + 3000);
    CU_ASSERT(!present(b, "b"));
    CU_ASSERT(present(b, "d"));
    brk_expire_sessions(b, T0 + 4499);
    CU_ASSERT(present(b, "d"));
    brk_expire_sessions(b, T0 + 4500);
    CU_ASSERT(!present(b, "d"));
    CU_ASSERT(present(b, "never"));
    CU_ASSERT_EQUAL(b->expiry_len, 0);
    brk_free(b);
    cfg_free(cfg);
}

/* A client that comes and goes keeps one entry: a later deadline waits
 * behind the earlier one, which re-arms the session when it comes up. */
static void test_flapping_keeps_one_entry(void)
{
    cfg_t *cfg;
    brk_t *b = new_broker(&cfg);
    brk_session_t *s = offline(b, "flap", 10, T0);
    for (int i = 1; i <= 1000; i++) {
        pthread_mutex_lock(&s->lock);
        s->offline_since_ms = T0 + i;
        pthread_mutex_unlock(&s->lock);
        brk_expiry_schedule(b, s);
    }
    CU_ASSERT_EQUAL(b->expiry_len, 1);
    brk_expire_sessions(b, T0 + 10000); /* the first deadline: re-armed, not ended */
    CU_ASSERT(present(b, "flap"));
    CU_ASSERT_EQUAL(b->expiry_len, 1);
    brk_expire_sessions(b, T0 + 10999);
    CU_ASSERT(present(b, "flap"));
    brk_expire_sessions(b, T0 + 11000);
    CU_ASSERT(!present(b, "flap"));
    brk_free(b);
    cfg_free(cfg);
}

/* Many sessions with shuffled deadlines end exactly in deadline order. */
static void test_order(void)
{
    enum { N = 2000 };
    cfg_t *cfg;
    brk_t *b = new_broker(&cfg);
    static int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    srand(7);
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    char id[16];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "s%d", order[i]);
        offline(b, id, (uint32_t)order[i] + 1, T0);
    }
    CU_ASSERT_EQUAL(b->reg_len, N);
    int bad = 0;
    for (int k = 0; k < N; k += 97) {
        brk_expire_sessions(b, T0 + (int64_t)(k + 1) * 1000);
        CU_ASSERT_EQUAL(b->reg_len, (uint32_t)(N - k - 1));
        snprintf(id, sizeof(id), "s%d", k);
        bad += present(b, id);
        if (k + 1 < N) {
            snprintf(id, sizeof(id), "s%d", k + 1);
            bad += !present(b, id);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    brk_free(b);
    cfg_free(cfg);
}

void add_expiry_tests(void)
{
    CU_pSuite s = CU_add_suite("broker_expiry", NULL, NULL);
    if (!s) return;
    CU_add_test(s, "deadlines", test_deadlines);
    CU_add_test(s, "flapping_keeps_one_entry", test_flapping_keeps_one_entry);
    CU_add_test(s, "order", test_order);
}
