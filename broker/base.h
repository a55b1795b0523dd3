/*
 * base.h - what every file of broker/ shares: the names of the four big
 * types (brk_t, brk_worker_t, brk_conn_t, brk_session_t), relaxed
 * counters, clocks, latency histograms and the log. Any thread.
 */
#ifndef SLUICE_BRK_BASE_H
#define SLUICE_BRK_BASE_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws;
struct lws_context;
typedef struct brk brk_t;
typedef struct brk_worker brk_worker_t;
typedef struct brk_conn brk_conn_t;
typedef struct brk_session brk_session_t;

/* Relaxed counters: written by one thread, read by the $SYS publisher. */
typedef _Atomic uint64_t brk_counter_t;
static inline void brk_count(brk_counter_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline uint64_t brk_read(brk_counter_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

int64_t brk_now_ms(void); /* CLOCK_MONOTONIC */
int64_t brk_now_us(void); /* CLOCK_MONOTONIC */

/* Latency histograms for /metrics: upper bounds in microseconds (the last
 * bucket, +Inf, is implicit); one writer per histogram, relaxed counters. */
#define BRK_LAT_N 16
extern const uint64_t brk_lat_le_us[BRK_LAT_N];
typedef struct brk_hist {
    brk_counter_t bucket[BRK_LAT_N + 1]; /* not cumulative */
    brk_counter_t sum_us, count;
} brk_hist_t;
void brk_hist_observe(brk_hist_t *h, uint64_t us);
int64_t brk_wall_s(void);  /* CLOCK_REALTIME seconds */
int64_t brk_wall_ms(void); /* CLOCK_REALTIME milliseconds (records other nodes read) */
void brk_log(brk_t *b, int level, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
enum { BRK_LOG_ERROR, BRK_LOG_WARN, BRK_LOG_INFO, BRK_LOG_DEBUG };

#endif
