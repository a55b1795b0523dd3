/*
 * broker.c - the broker object: shared indexes, the session registry, the
 * workers' lifecycle, and the periodic duties (session expiry).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "brk.h"
#include "mqtt_hash.h"
#include "sink.h"
#include "grow.h"

int64_t brk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t brk_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const uint64_t brk_lat_le_us[BRK_LAT_N] = {100,     250,     500,     1000,    2500,   5000,
                                           10000,   25000,   50000,   100000,  250000, 500000,
                                           1000000, 2500000, 5000000, 10000000};

void brk_hist_observe(brk_hist_t *h, uint64_t us)
{
    int i = 0;
    while (i < BRK_LAT_N && us > brk_lat_le_us[i])
        i++;
    brk_count(&h->bucket[i], 1);
    brk_count(&h->sum_us, us);
    brk_count(&h->count, 1);
}

int64_t brk_wall_s(void)
{
    return (int64_t)time(NULL);
}

int64_t brk_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Text: "TIME LEVEL ID message", control characters of the message (a
 * client id may hold any) shown as '?', one line each. JSON (log.format):
 * {"time","level","id","msg"} through cJSON, which escapes them. */
void brk_log(brk_t *b, int level, const char *id, const char *fmt, ...)
{
    if (level > b->log_level) return;
    static const char *names[] = {"error", "warn", "info", "debug"};
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[80];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    const cfg_t *cfg = b->cfg;
    if (cfg && cfg->log.json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "time", ts);
        cJSON_AddStringToObject(o, "level", names[level]);
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "msg", msg);
        char *line = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (line) fprintf(stderr, "%s\n", line);
        free(line);
        return;
    }
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20) *c = '?';
    fprintf(stderr, "%s %s %s %s\n", ts, names[level], id, msg);
}

/* Open addressing with tombstones would complicate removal; the registry
 * uses linear probing with backward-shift deletion instead. */
static uint32_t reg_slot(brk_t *b, const char *id, uint16_t len)
{
    uint32_t mask = b->reg_cap - 1;
    for (uint32_t i = mqtt_fnv1a(id, len) & mask;; i = (i + 1) & mask) {
        brk_session_t *s = b->reg[i];
        if (!s || (s->id_len == len && memcmp(s->client_id, id, len) == 0)) return i;
    }
}

brk_session_t *brk_reg_find(brk_t *b, const char *id, uint16_t len)
{
    return b->reg[reg_slot(b, id, len)];
}

static void reg_grow(brk_t *b)
{
    uint32_t old_cap = b->reg_cap;
    brk_session_t **old = b->reg;
    brk_session_t **n = calloc((size_t)old_cap * 2, sizeof(*n));
    if (!n) return;
    b->reg = n;
    b->reg_cap = old_cap * 2;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i]) b->reg[reg_slot(b, old[i]->client_id, old[i]->id_len)] = old[i];
    free(old);
}

void brk_reg_insert(brk_t *b, brk_session_t *s)
{
    if ((b->reg_len + 1) * 2 > b->reg_cap) reg_grow(b);
    b->reg[reg_slot(b, s->client_id, s->id_len)] = s;
    b->reg_len++;
    s->registered = true;
}

void brk_reg_remove(brk_t *b, brk_session_t *s)
{
    uint32_t mask = b->reg_cap - 1;
    uint32_t i = reg_slot(b, s->client_id, s->id_len);
    if (b->reg[i] != s) return;
    b->reg[i] = NULL;
    b->reg_len--;
    s->registered = false;
    /* backward shift: move later entries of the probe chain into the hole */
    for (uint32_t j = (i + 1) & mask; b->reg[j]; j = (j + 1) & mask) {
        brk_session_t *e = b->reg[j];
        uint32_t home = mqtt_fnv1a(e->client_id, e->id_len) & mask;
        bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            b->reg[i] = e;
            b->reg[j] = NULL;
            i = j;
        }
    }
}

const char *const brk_limit_names[BRK_LIMIT_N] = {
    "connections", "subscriptions", "topic_levels", "topic_length", "retained", "retained_bytes",
};

/* ---- expiry heap (registry lock held) ---- */

static void heap_swap(brk_timer_t *h, uint32_t i, uint32_t j)
{
    brk_timer_t t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static bool heap_push(brk_t *b, int64_t at, brk_session_t *s)
{
    if (b->expiry_len == b->expiry_cap &&
        brk_grow_vec(&b->expiry_heap, &b->expiry_cap, sizeof(*b->expiry_heap), 64))
        return false;
    brk_timer_t *h = b->expiry_heap;
    uint32_t i = b->expiry_len++;
    h[i] = (brk_timer_t){at, s};
    while (i && h[(i - 1) / 2].at > h[i].at) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return true;
}

static brk_timer_t heap_pop(brk_t *b)
{
    brk_timer_t *h = b->expiry_heap;
    brk_timer_t top = h[0];
    h[0] = h[--b->expiry_len];
    for (uint32_t i = 0;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < b->expiry_len && h[l].at < h[m].at) m = l;
        if (r < b->expiry_len && h[r].at < h[m].at) m = r;
        if (m == i) break;
        heap_swap(h, i, m);
        i = m;
    }
    return top;
}

/* The next moment s needs the tick: its delayed will or its expiry; 0 if
 * it is attached, ended or never expires (s->lock held). */
static int64_t deadline(const brk_session_t *s)
{
    if (s->conn || s->pending || s->ended) return 0;
    int64_t d = INT64_MAX;
    if (s->will) d = s->will_at_ms;
    if (s->expiry != UINT32_MAX) {
        int64_t e = s->offline_since_ms + (int64_t)s->expiry * 1000;
        if (e < d) d = e;
    }
    return d == INT64_MAX ? 0 : d;
}

static void schedule_locked(brk_t *b, brk_session_t *s)
{
    if (!s->registered) return;
    pthread_mutex_lock(&s->lock);
    int64_t d = deadline(s);
    pthread_mutex_unlock(&s->lock);
    if (!d) return;
    if (d < 1) d = 1; /* 0 means "none" */
    /* an earlier entry re-arms s when it comes up: one entry per session
     * however often its client comes and goes */
    if (s->sched_at && s->sched_at <= d) return;
    if (!heap_push(b, d, brk_session_ref(s))) {
        brk_session_unref(s);
        return;
    }
    s->sched_at = d;
}

void brk_expiry_schedule(brk_t *b, brk_session_t *s)
{
    pthread_mutex_lock(&b->reg_lock);
    schedule_locked(b, s);
    pthread_mutex_unlock(&b->reg_lock);
}

void brk_expire_sessions(brk_t *b, int64_t now)
{
    pthread_mutex_lock(&b->reg_lock);
    if (!b->expiry_primed) { /* once: what the store restored before the workers ran */
        b->expiry_primed = true;
        for (uint32_t i = 0; i < b->reg_cap; i++)
            if (b->reg[i]) schedule_locked(b, b->reg[i]);
    }
    while (b->expiry_len && b->expiry_heap[0].at <= now) {
        brk_timer_t t = heap_pop(b);
        brk_session_t *s = t.s;
        if (s->sched_at == t.at) s->sched_at = 0;
        if (s->registered) {
            brk_session_will(b, s, now, false);
            pthread_mutex_lock(&s->lock);
            bool expired = !s->conn && !s->pending && s->expiry != UINT32_MAX &&
                           now - s->offline_since_ms >= (int64_t)s->expiry * 1000;
            pthread_mutex_unlock(&s->lock);
            if (expired)
                brk_session_end(b, s);
            else
                schedule_locked(b, s); /* a will went, or it came back and left again */
        }
        brk_session_unref(s);
    }
    pthread_mutex_unlock(&b->reg_lock);
}

brk_t *brk_new(const cfg_t *cfg)
{
    brk_t *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->cfg = cfg;
    b->start_ms = brk_now_ms();
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
    snprintf(b->incarnation, sizeof(b->incarnation), "%llx",
             (unsigned long long)(ms << 16 ^ (uint64_t)getpid()));
    b->log_level = BRK_LOG_INFO;
    if (cfg->log.level) {
        if (!strcmp(cfg->log.level, "error"))
            b->log_level = BRK_LOG_ERROR;
        else if (!strcmp(cfg->log.level, "warn"))
            b->log_level = BRK_LOG_WARN;
        else if (!strcmp(cfg->log.level, "debug"))
            b->log_level = BRK_LOG_DEBUG;
    }
    b->n_workers = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (b->n_workers < 1) b->n_workers = 1;
    b->reg_cap = 1024;
    b->reg = calloc(b->reg_cap, sizeof(*b->reg));
    b->subs = brk_subs_new();
    b->retain = brk_retain_new();
    b->sinks = brk_sinks_new();
    b->workers = calloc((size_t)b->n_workers, sizeof(*b->workers));
    pthread_mutex_init(&b->reg_lock, NULL);
    pthread_mutex_init(&b->retain_order, NULL);
    for (int i = 0; b->workers && i < b->n_workers; i++)
        b->workers[i].reserve_fd = -1;
    if (!b->reg || !b->subs || !b->retain || !b->sinks || !b->workers) {
        brk_free(b);
        return NULL;
    }
    brk_retain_limit(b->retain, cfg->mqtt.max_retained, cfg->mqtt.max_retained_bytes);
    return b;
}

void brk_free(brk_t *b)
{
    if (!b) return;
    while (b->expiry_len) {
        brk_timer_t t = heap_pop(b);
        brk_session_unref(t.s);
    }
    free(b->expiry_heap);
    if (b->reg) {
        for (uint32_t i = 0; i < b->reg_cap; i++)
            if (b->reg[i]) {
                brk_session_t *s = b->reg[i];
                b->reg[i] = NULL;
                brk_session_clear(s);
                brk_session_unref(s);
            }
    }
    free(b->reg);
    brk_subs_free(b->subs);
    brk_retain_free(b->retain);
    brk_sinks_free(b->sinks);
    /* the last messages are gone: their blocks can go */
    for (int i = 0; b->workers && i < b->n_workers; i++) {
        brk_pool_destroy(&b->workers[i].pool);
        free(b->workers[i].listen_conns);
        /* kept until here: a post after brk_stop is refused, not a crash */
        pthread_mutex_destroy(&b->workers[i].inbox_lock);
    }
    free(b->workers);
    pthread_mutex_destroy(&b->reg_lock);
    pthread_mutex_destroy(&b->retain_order);
    free(b);
}
