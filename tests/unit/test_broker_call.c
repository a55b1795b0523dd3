/*
 * test_broker_call.c - the generic cross-worker call (worker_call.c) on a
 * real broker: real worker threads with their lws contexts, no listeners.
 * Every wait is bounded (5 s) on a condition variable the calls signal.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include <CUnit/Basic.h>

#include "brk.h"
#include "worker_call.h"

#define NW 3

typedef struct probe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    _Atomic int runs[NW];     /* fn runs per worker index */
    _Atomic int wrong_thread; /* fn ran off its worker's thread */
    _Atomic int done_calls;   /* completions */
    _Atomic int runs_at_done; /* sum of runs seen by the first completion */
    _Atomic int done_missed;  /* missed reported to the last completion */
    _Atomic int done_off_worker;
    brk_t *b;
} probe_t;

static size_t saved_listeners;

static brk_t *start_broker(cfg_t **cfgp)
{
    cfg_t *cfg = cfg_defaults();
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    saved_listeners = cfg->n_listeners; /* given back to cfg_free at the end */
    cfg->n_listeners = 0;               /* no ports: only the workers' loops */
    cfg->workers = NW;
    brk_t *b = brk_new(cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL_FATAL(brk_start(b), 0);
    *cfgp = cfg;
    return b;
}

static void stop_broker(brk_t *b, cfg_t *cfg)
{
    brk_stop(b);
    brk_free(b);
    cfg->n_listeners = saved_listeners;
    cfg_free(cfg);
}

static void probe_init(probe_t *p, brk_t *b)
{
    *p = (probe_t){.b = b};
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
}

static void probe_signal(probe_t *p)
{
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Wait until done_calls reaches want, at most 5 s; true if it did. */
static bool probe_wait(probe_t *p, int want)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&p->lock);
    while (atomic_load(&p->done_calls) < want)
        if (pthread_cond_timedwait(&p->cond, &p->lock, &dl)) break;
    pthread_mutex_unlock(&p->lock);
    return atomic_load(&p->done_calls) >= want;
}

static void on_worker(brk_worker_t *w, void *arg)
{
    probe_t *p = arg;
    if (!pthread_equal(pthread_self(), w->thread)) atomic_fetch_add(&p->wrong_thread, 1);
    atomic_fetch_add(&p->runs[w->index], 1);
}

static void on_done(brk_worker_t *w, void *arg, int missed)
{
    probe_t *p = arg;
    int sum = 0;
    for (int i = 0; i < NW; i++)
        sum += atomic_load(&p->runs[i]);
    int expected = 0;
    atomic_compare_exchange_strong(&p->runs_at_done, &expected, sum);
    atomic_store(&p->done_missed, missed);
    if (!w) atomic_fetch_add(&p->done_off_worker, 1);
    atomic_fetch_add(&p->done_calls, 1);
    probe_signal(p);
}

/* A single call: it runs on the worker it was posted to. */
static void on_call(brk_worker_t *w, void *arg)
{
    on_worker(w, arg);
    on_done(w, arg, 0);
}

static void test_call_runs_on_the_given_worker(void)
{
    cfg_t *cfg;
    brk_t *b = start_broker(&cfg);
    probe_t p;
    probe_init(&p, b);
    CU_ASSERT_EQUAL(brk_worker_call(&b->workers[1], on_call, &p), 0);
    CU_ASSERT_FATAL(probe_wait(&p, 1));
    CU_ASSERT_EQUAL(atomic_load(&p.runs[0]), 0);
    CU_ASSERT_EQUAL(atomic_load(&p.runs[1]), 1);
    CU_ASSERT_EQUAL(atomic_load(&p.runs[2]), 0);
    CU_ASSERT_EQUAL(atomic_load(&p.wrong_thread), 0);
    stop_broker(b, cfg);
}

static void test_gather_runs_once_per_worker_then_done(void)
{
    cfg_t *cfg;
    brk_t *b = start_broker(&cfg);
    probe_t p;
    probe_init(&p, b);
    CU_ASSERT_EQUAL(brk_worker_gather(b, on_worker, &p, on_done, &p), 0);
    CU_ASSERT_FATAL(probe_wait(&p, 1));
    for (int i = 0; i < NW; i++)
        CU_ASSERT_EQUAL(atomic_load(&p.runs[i]), 1);
    CU_ASSERT_EQUAL(atomic_load(&p.runs_at_done), NW); /* done came after every worker */
    CU_ASSERT_EQUAL(atomic_load(&p.done_missed), 0);
    CU_ASSERT_EQUAL(atomic_load(&p.done_off_worker), 0);
    CU_ASSERT_EQUAL(atomic_load(&p.wrong_thread), 0);
    stop_broker(b, cfg);
    CU_ASSERT_EQUAL(atomic_load(&p.done_calls), 1); /* and only once */
}

/* A gather started from a worker itself (as an HTTP request would). */
static void start_gather(brk_worker_t *w, void *arg)
{
    probe_t *p = arg;
    (void)w;
    brk_worker_gather(p->b, on_worker, p, on_done, p);
}

static void test_gather_from_a_worker(void)
{
    cfg_t *cfg;
    brk_t *b = start_broker(&cfg);
    probe_t p;
    probe_init(&p, b);
    CU_ASSERT_EQUAL(brk_worker_call(&b->workers[2], start_gather, &p), 0);
    CU_ASSERT_FATAL(probe_wait(&p, 1));
    for (int i = 0; i < NW; i++)
        CU_ASSERT_EQUAL(atomic_load(&p.runs[i]), 1);
    CU_ASSERT_EQUAL(atomic_load(&p.wrong_thread), 0);
    stop_broker(b, cfg);
}

#define ROUNDS 500
static void *gather_many(void *arg)
{
    probe_t *p = arg;
    for (int i = 0; i < ROUNDS; i++)
        if (brk_worker_gather(p->b, on_worker, p, on_done, p)) break;
    return NULL;
}

/* Two threads gathering concurrently: every gather completes exactly once. */
static void test_concurrent_gathers_all_complete(void)
{
    cfg_t *cfg;
    brk_t *b = start_broker(&cfg);
    probe_t p;
    probe_init(&p, b);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, gather_many, &p);
    pthread_create(&t2, NULL, gather_many, &p);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CU_ASSERT_FATAL(probe_wait(&p, 2 * ROUNDS));
    for (int i = 0; i < NW; i++)
        CU_ASSERT_EQUAL(atomic_load(&p.runs[i]), 2 * ROUNDS);
    CU_ASSERT_EQUAL(atomic_load(&p.wrong_thread), 0);
    stop_broker(b, cfg);
    CU_ASSERT_EQUAL(atomic_load(&p.done_calls), 2 * ROUNDS);
}

/* Calls queued when the broker stops still run, once; after the stop a
 * call is refused and a gather completes at once, every worker missed. */
static void test_stop_runs_queued_calls_then_refuses(void)
{
    cfg_t *cfg;
    brk_t *b = start_broker(&cfg);
    probe_t p;
    probe_init(&p, b);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(brk_worker_gather(b, on_worker, &p, on_done, &p), 0);
    brk_stop(b);
    CU_ASSERT_EQUAL(atomic_load(&p.done_calls), 100);
    for (int i = 0; i < NW; i++)
        CU_ASSERT_EQUAL(atomic_load(&p.runs[i]), 100);

    probe_t q;
    probe_init(&q, b);
    CU_ASSERT_EQUAL(brk_worker_call(&b->workers[0], on_call, &q), -1);
    CU_ASSERT_EQUAL(brk_worker_gather(b, on_worker, &q, on_done, &q), 0);
    CU_ASSERT_EQUAL(atomic_load(&q.done_calls), 1);
    CU_ASSERT_EQUAL(atomic_load(&q.done_missed), NW);
    CU_ASSERT_EQUAL(atomic_load(&q.done_off_worker), 1);
    CU_ASSERT_EQUAL(atomic_load(&q.runs[0]), 0);
    brk_free(b);
    cfg->n_listeners = saved_listeners;
    cfg_free(cfg);
}

void tbc_register(void)
{
    CU_pSuite s = CU_add_suite("broker_call", NULL, NULL);
    CU_add_test(s, "call_runs_on_the_given_worker", test_call_runs_on_the_given_worker);
    CU_add_test(s, "gather_runs_once_per_worker_then_done",
                test_gather_runs_once_per_worker_then_done);
    CU_add_test(s, "gather_from_a_worker", test_gather_from_a_worker);
    CU_add_test(s, "concurrent_gathers_all_complete", test_concurrent_gathers_all_complete);
    CU_add_test(s, "stop_runs_queued_calls_then_refuses", test_stop_runs_queued_calls_then_refuses);
}
