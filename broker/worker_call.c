/*
 * worker_call.c - the generic cross-worker call (issue 12 item 3): run a
 * function on a given worker's thread through its inbox, or on every worker
 * with a countdown that calls a completion once all of them ran it (as h2o's
 * status handler collects per-thread state). Listing clients, kicking one or
 * collecting per-worker state then needs no new inbox item kind.
 *
 * Threads: brk_worker_call and brk_worker_gather may be called from any
 * thread. The calls run on the target workers' threads; the countdown is
 * atomic, so the completion runs exactly once, on the last worker.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "base.h"
#include "worker_call.h"

typedef struct brk_call {
    brk_call_fn fn;
    void *arg;
} brk_call_t;

int brk_worker_call(brk_worker_t *w, brk_call_fn fn, void *arg)
{
    brk_call_t *call = malloc(sizeof(*call));
    if (!call) return -1;
    *call = (brk_call_t){fn, arg};
    if (brk_worker_post(w, (brk_inbox_item_t){.kind = BRK_INBOX_CALL, .u.call = call})) {
        free(call);
        return -1;
    }
    return 0;
}

void brk_call_run(brk_worker_t *w, struct brk_call *call)
{
    call->fn(w, call->arg);
    free(call);
}

/* The countdown of one gather (h2o's status handler does the same): each
 * worker runs fn and counts down; the one that reaches zero calls done. */
typedef struct gather {
    brk_call_fn fn;
    void *arg;
    brk_gather_done_fn done;
    void *done_arg;
    _Atomic int left;
    _Atomic int missed;
} gather_t;

static void gather_countdown(brk_worker_t *w, gather_t *g)
{
    if (atomic_fetch_sub(&g->left, 1) != 1) return;
    g->done(w, g->done_arg, atomic_load(&g->missed));
    free(g);
}

static void gather_one(brk_worker_t *w, void *arg)
{
    gather_t *g = arg;
    g->fn(w, g->arg);
    gather_countdown(w, g);
}

int brk_worker_gather(brk_t *b, brk_call_fn fn, void *arg, brk_gather_done_fn done, void *done_arg)
{
    gather_t *g = malloc(sizeof(*g));
    if (!g) return -1;
    *g = (gather_t){.fn = fn, .arg = arg, .done = done, .done_arg = done_arg};
    atomic_store(&g->left, b->n_workers);
    for (int i = 0; i < b->n_workers; i++) {
        if (brk_worker_call(&b->workers[i], gather_one, g)) {
            /* that worker will not count down: do it for it */
            atomic_fetch_add(&g->missed, 1);
            gather_countdown(NULL, g);
        }
    }
    return 0;
}
