/*
 * flow.c - end-to-end flow control for QoS 1/2 (mqtt.queue_full
 * "backpressure"): a message routed to an online subscriber whose queue is
 * at mqtt.max_queued is queued all the same, and the publisher's
 * PUBACK/PUBREC is held until that queue has room again. The publisher's
 * own window (Receive Maximum, or its in-flight limit) then slows it to
 * what its subscribers take, instead of the broker acknowledging messages
 * it would then drop.
 *
 * A held acknowledgement is a token (brk_flow_t) with a count: one for the
 * publisher while it routes, plus one per session holding it. Sessions keep
 * their tokens in a FIFO under their lock and give back one per delivery
 * that leaves the queue, so a subscriber at the mark lets publishers through
 * at its own pace rather than in bursts. The last one to drop the count
 * completes the acknowledgement on the publisher's worker (inbox ACK item).
 *
 * Threads: brk_flow_begin/end/attach on the publisher's worker;
 * brk_flow_hold/release under the session lock, on any thread.
 */
#include <stdlib.h>

#include "brk.h"
#include "grow.h"

struct brk_flow {
    brk_pending_t p; /* first: the inbox ACK handler frees the token as a brk_pending_t */
    _Atomic uint32_t count;
};

void brk_flow_begin(brk_worker_t *w, brk_conn_t *c)
{
    w->flow_conn = c;
    w->flow = NULL;
}

brk_flow_t *brk_flow_end(brk_worker_t *w)
{
    brk_flow_t *f = w->flow;
    w->flow = NULL;
    w->flow_conn = NULL;
    return f;
}

/* Drop one count; the last completes the acknowledgement. */
static void flow_put(brk_flow_t *f)
{
    if (atomic_fetch_sub_explicit(&f->count, 1, memory_order_acq_rel) != 1) return;
    brk_pending_complete(&f->p, 0); /* posts to the publisher's worker, frees f there */
}

void brk_flow_attach(brk_flow_t *f, brk_conn_t *c, uint64_t seq)
{
    atomic_fetch_add(&c->refs, 1);
    f->p.c = c;
    f->p.seq = seq;
    f->p.flow = true;
    c->flow_waits++;
    if (atomic_fetch_sub_explicit(&f->count, 1, memory_order_acq_rel) != 1) return;
    /* every session let go while we routed: complete here, on our worker */
    c->flow_waits--;
    brk_conn_ack_done(c, seq, 0);
    brk_conn_unref(c);
    free(f);
}

bool brk_flow_hold(brk_session_t *s, brk_worker_t *from)
{
    if (!from || !from->flow_conn) return false; /* nobody to slow down */
    if (s->hold_len == s->hold_cap &&
        brk_grow_ring(&s->holds, &s->hold_cap, &s->hold_head, s->hold_len, sizeof(*s->holds), 16))
        return false;
    brk_flow_t *f = from->flow;
    if (!f) {
        if (!(f = calloc(1, sizeof(*f)))) return false;
        atomic_init(&f->count, 1); /* the publisher's, until brk_flow_attach */
        from->flow = f;
    }
    atomic_fetch_add_explicit(&f->count, 1, memory_order_relaxed);
    s->holds[(s->hold_head + s->hold_len++) % s->hold_cap] = f;
    if (!atomic_load_explicit(&s->over_since_ms, memory_order_relaxed))
        atomic_store_explicit(&s->over_since_ms, brk_now_ms(), memory_order_relaxed);
    brk_count(&from->st.flow_held, 1);
    return true;
}

void brk_flow_release(brk_session_t *s, uint64_t depth, bool all)
{
    if (!s->hold_len && !s->holds && !all) return;
    uint64_t mark = s->hold_len && !all ? s->b->cfg->mqtt.max_queued : 0;
    bool moved = false;
    /* one held publisher per delivery that left: keep holds <= depth - mark */
    while (s->hold_len && (all || depth < mark + s->hold_len)) {
        brk_flow_t *f = s->holds[s->hold_head];
        s->hold_head = (s->hold_head + 1) % s->hold_cap;
        s->hold_len--;
        flow_put(f);
        moved = true;
    }
    /* no publisher held: nothing to be stuck on (the next hold starts it) */
    if (!s->hold_len)
        atomic_store_explicit(&s->over_since_ms, 0, memory_order_relaxed);
    else if (moved) /* it takes messages: slow, not stuck (brk_flow_stuck) */
        atomic_store_explicit(&s->over_since_ms, brk_now_ms(), memory_order_relaxed);
    if (all && s->holds) {
        free(s->holds);
        s->holds = NULL;
        s->hold_cap = s->hold_head = 0;
    }
}

/* Stuck: held publishers and not one delivery out of the queue for
 * queue_full_timeout_ms (a subscriber that keeps up with less than its
 * publishers send is slowed, never disconnected for it). */
bool brk_flow_stuck(brk_session_t *s, int64_t now)
{
    uint32_t limit = s->b->cfg->mqtt.queue_full_timeout_ms;
    int64_t since = atomic_load_explicit(&s->over_since_ms, memory_order_relaxed);
    return limit && since && now - since > (int64_t)limit;
}
