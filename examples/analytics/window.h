/*
 * window.h - per-device, per-metric sliding windows for sluice-analytics:
 * count, mean, min, max, p95 over the last W milliseconds of readings, and a
 * z-score anomaly test of each new reading against the window before it.
 * Pure computation on caller-owned structs, no I/O; one thread at a time.
 */
#ifndef SLUICE_WINDOW_H
#define SLUICE_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIN_CAP 1024 /* readings kept per metric; older ones fall out first */

typedef struct win_sample {
    int64_t ts_ms;
    double v;
} win_sample_t;

typedef struct win {
    win_sample_t s[WIN_CAP];
    size_t head, n; /* ring: oldest at head */
} win_t;

typedef struct win_stats {
    size_t count;
    double mean, min, max, p95, last, z;
    bool anomaly;
} win_stats_t;

/* Adds a reading, drops those older than ts_ms - window_ms, and returns the
 * statistics with the anomaly verdict on this reading (|z| >= z_limit
 * against at least 10 earlier readings). */
void win_add(win_t *w, int64_t ts_ms, double v, int64_t window_ms, double z_limit,
             win_stats_t *out);

#endif
