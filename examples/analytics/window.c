/* window.c - see window.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void win_expire(win_t *w, int64_t cutoff)
{
    while (w->n && w->s[w->head].ts_ms < cutoff) {
        w->head = (w->head + 1) % WIN_CAP;
        w->n--;
    }
}

void win_add(win_t *w, int64_t ts_ms, double v, int64_t window_ms, double z_limit, win_stats_t *out)
{
    win_expire(w, ts_ms - window_ms);
    /* the verdict compares the new reading with the window before it, so a
     * spike cannot hide itself by widening the deviation it is judged by */
    double sum = 0, sq = 0;
    for (size_t i = 0; i < w->n; i++) {
        double x = w->s[(w->head + i) % WIN_CAP].v;
        sum += x;
        sq += x * x;
    }
    out->z = 0;
    out->anomaly = false;
    if (w->n >= 10) {
        double mean = sum / (double)w->n, var = sq / (double)w->n - mean * mean;
        double sd = var > 1e-12 ? sqrt(var) : 0;
        out->z = sd > 0 ? (v - mean) / sd : 0;
        out->anomaly = fabs(out->z) >= z_limit && fabs(v - mean) > 1.0;
    }
    if (w->n == WIN_CAP) {
        w->head = (w->head + 1) % WIN_CAP;
        w->n--;
    }
    w->s[(w->head + w->n) % WIN_CAP] = (win_sample_t){ts_ms, v};
    w->n++;

    double sorted[WIN_CAP]; /* 8 KiB of stack */
    double mn = v, mx = v;
    sum = 0;
    for (size_t i = 0; i < w->n; i++) {
        double x = w->s[(w->head + i) % WIN_CAP].v;
        sorted[i] = x;
        sum += x;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
    }
    qsort(sorted, w->n, sizeof(double), cmp_double);
    size_t rank = (size_t)ceil(0.95 * (double)w->n); /* nearest-rank p95 */
    out->count = w->n;
    out->mean = sum / (double)w->n;
    out->min = mn;
    out->max = mx;
    out->p95 = sorted[rank ? rank - 1 : 0];
    out->last = v;
}
