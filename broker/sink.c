/*
 * sink.c - the list of router sinks (sink.h): append-only, read by every
 * route without a lock.
 */
#include <stdlib.h>
#include <string.h>

#include "brk.h"
#include "sink.h"

struct brk_sinks {
    brk_sink_t v[BRK_SINKS_MAX];
    _Atomic uint32_t n; /* slots below n are written and never change */
};

brk_sinks_t *brk_sinks_new(void)
{
    return calloc(1, sizeof(brk_sinks_t));
}

void brk_sinks_free(brk_sinks_t *l)
{
    free(l);
}

int brk_sink_add(brk_t *b, const brk_sink_t *s)
{
    brk_sinks_t *l = b->sinks;
    uint32_t n = atomic_load_explicit(&l->n, memory_order_relaxed);
    if (n == BRK_SINKS_MAX) return -1;
    l->v[n] = *s;
    /* a route that sees the new count sees the slot written */
    atomic_store_explicit(&l->n, n + 1, memory_order_release);
    return 0;
}

void brk_sinks_offer(brk_t *b, brk_worker_t *w, const brk_msg_t *m, brk_origin_t *o)
{
    brk_sinks_t *l = b->sinks;
    uint32_t n = atomic_load_explicit(&l->n, memory_order_acquire);
    o->holds = o->taken = 0;
    o->refused = false;
    for (uint32_t i = 0; i < n; i++) {
        int rc = l->v[i].offer(l->v[i].ctx, w, m, o);
        if (rc == BRK_SINK_HELD || rc == BRK_SINK_TAKEN) {
            o->holds += rc == BRK_SINK_HELD;
            o->taken++;
        } else if (rc == BRK_SINK_REFUSE && (o->conn || o->kind == BRK_ORIGIN_API)) {
            /* later sinks are not offered what the publisher is refused */
            o->refused = true;
            return;
        }
    }
}

bool brk_origin_skips(const brk_origin_t *o, const char *filter, uint16_t len)
{
    for (uint32_t at = 0; at + 2 <= o->share_skip_len;) {
        uint16_t l = (uint16_t)(o->share_skip[at] << 8 | o->share_skip[at + 1]);
        if (l == len && !memcmp(o->share_skip + at + 2, filter, len)) return true;
        at += 2u + l;
    }
    return false;
}

bool brk_origin_skip(brk_origin_t *o, const char *filter, uint16_t len)
{
    if ((size_t)o->share_skip_len + 2 + len > sizeof(o->share_skip)) return false;
    o->share_skip[o->share_skip_len] = (uint8_t)(len >> 8);
    o->share_skip[o->share_skip_len + 1] = (uint8_t)len;
    memcpy(o->share_skip + o->share_skip_len + 2, filter, len);
    o->share_skip_len = (uint16_t)(o->share_skip_len + 2 + len);
    return true;
}
