/*
 * worker_call.h - the generic cross-worker call (worker_call.c, issue 12
 * item 3): run a function on one worker's thread, or on every worker with a
 * completion once all of them ran it. Callable from any thread.
 */
#ifndef SLUICE_WORKER_CALL_H
#define SLUICE_WORKER_CALL_H

#include "brk.h"

/* Generic cross-worker call: fn(w, arg) runs on w's thread at its next
 * inbox pass, so it may touch w's connections (w->conns) without locks.
 * Every call posted runs exactly once: one still queued when the broker
 * stops runs on the stopping thread after w's thread has ended (w->ctx is
 * then NULL). -1 without memory (fn not called). */
typedef void (*brk_call_fn)(brk_worker_t *w, void *arg);
int brk_worker_call(brk_worker_t *w, brk_call_fn fn, void *arg);
/* Run fn(w, arg) on every worker (concurrently: fn may write only its own
 * worker's slot of arg), then done(w_last, done_arg, missed) exactly once,
 * on the thread of the worker that finished last. missed counts the workers
 * the call could not be posted to (no memory, or the broker stopped); if the
 * last of those is the one to finish, done runs on the calling thread with
 * w NULL. -1 only without memory for the gather (done not called). */
typedef void (*brk_gather_done_fn)(brk_worker_t *w, void *arg, int missed);
int brk_worker_gather(brk_t *b, brk_call_fn fn, void *arg, brk_gather_done_fn done, void *done_arg);

#endif
