/*
 * store_bench.c - group-commit throughput: T threads submit N one-record
 * batches (200-byte values) each, keeping at most W batches in flight per
 * thread (W = 1 is a client waiting for each PUBACK), in each sync mode.
 *
 *   store_bench [dir] [records=100000] [threads=4]
 *
 * dir defaults to a fresh directory under /tmp, removed afterwards.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

struct worker {
    store_t *st;
    int id, n, window;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int inflight;
    int errors;
};

static void done(void *arg, int err)
{
    struct worker *w = arg;
    pthread_mutex_lock(&w->mu);
    w->inflight--;
    if (err != STORE_OK) w->errors++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

static void *run(void *arg)
{
    struct worker *w = arg;
    char value[200];
    memset(value, 'v', sizeof(value));
    for (int i = 0; i < w->n; i++) {
        pthread_mutex_lock(&w->mu);
        while (w->inflight >= w->window)
            pthread_cond_wait(&w->cond, &w->mu);
        w->inflight++;
        pthread_mutex_unlock(&w->mu);
        store_batch_t *b = store_batch_new();
        if (!b || store_batch_put_spool(b, ((uint64_t)w->id << 40) | (uint64_t)(i + 1), value,
                                        sizeof(value)) != STORE_OK) {
            fprintf(stderr, "store_bench: cannot build a batch\n");
            exit(1);
        }
        while (store_submit(w->st, b, done, w) == STORE_ERR_BUSY)
            usleep(100);
    }
    pthread_mutex_lock(&w->mu);
    while (w->inflight > 0)
        pthread_cond_wait(&w->cond, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int rm_one(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb;
    (void)f;
    (void)ftw;
    return remove(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench(const char *base, store_sync_t mode, int records, int threads, int window)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/bench-%d-%d", base, (int)mode, window);
    store_opts_t o;
    store_opts_default(&o);
    o.sync = mode;
    store_t *st;
    char err[512];
    if (store_open(dir, &o, &st, err, sizeof(err)) != STORE_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct worker w[64];
    pthread_t th[64];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){.st = st, .id = i, .n = records / threads, .window = window};
        pthread_mutex_init(&w[i].mu, NULL);
        pthread_cond_init(&w[i].cond, NULL);
        pthread_create(&th[i], NULL, run, &w[i]);
    }
    int errors = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        errors += w[i].errors;
    }
    double dt = now_s() - t0;
    store_stats_t s;
    store_get_stats(st, &s);
    printf("%-6s window=%-4d %7d records in %6.2fs: %9.0f records/s, %8.0f commits/s, "
           "%7.1f records/commit, %llu fsyncs, %d errors\n",
           mode == STORE_SYNC_ALWAYS ? "always" : "batch", window, records, dt, records / dt,
           (double)s.commits / dt, (double)s.batches / (double)(s.commits ? s.commits : 1),
           (unsigned long long)s.syncs, errors);
    store_close(st);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return errors != 0;
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/sluice-bench-XXXXXX";
    const char *base = argc > 1 ? argv[1] : mkdtemp(tmpl);
    int records = argc > 2 ? atoi(argv[2]) : 100000;
    int threads = argc > 3 ? atoi(argv[3]) : 4;
    if (!base || records <= 0 || threads <= 0 || threads > 64) return 2;
    int rc = 0;
    static const int windows[] = {1, 64, 4096};
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < 3; i++)
            rc |= bench(base, m == 0 ? STORE_SYNC_ALWAYS : STORE_SYNC_BATCH, records, threads,
                        windows[i]);
    if (argc <= 1) rmdir(base);
    return rc;
}
