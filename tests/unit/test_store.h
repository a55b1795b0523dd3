/*
 * test_store.h - what the store's unit test files share (test_store.c
 * defines it): strings, temporary directories, opening and committing, the
 * suites' registration, and a gate that holds the store thread inside a
 * done callback, so that what is submitted meanwhile queues (one group, or
 * back-pressure). Test threads only.
 */
#ifndef SLUICE_TEST_STORE_H
#define SLUICE_TEST_STORE_H

#include <pthread.h>
#include <stdbool.h>

#include "store.h"

mqtt_str_t ts_str(const char *s);
char *ts_mkdtemp(void);
void ts_rmtree(const char *dir);
store_t *ts_open(const char *dir, store_sync_t sync);
int ts_commit(store_t *st, store_batch_t *b);
void ts_register_commit_suite(void);
void ts_register_group_suite(void);

typedef struct ts_gate {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool entered, open;
} ts_gate_t;
#define TS_GATE_INIT                                                                               \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false                          \
    }
/* Submit a one-record batch whose done callback blocks the store thread;
 * returns once it has. */
void ts_gate_hold(store_t *st, ts_gate_t *g);
/* Let the store thread go on. */
void ts_gate_open(ts_gate_t *g);

#endif
