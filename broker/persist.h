/*
 * persist.h - the broker's side of the store (persist.c, persist_recover.c):
 * what sessions, subscriptions, retained messages, queues and in-flight
 * state become in LevelDB, and their recovery at start-up (before the
 * listeners open).
 */
#ifndef SLUICE_BRK_PERSIST_H
#define SLUICE_BRK_PERSIST_H

#include "session.h"

/* ---- persistence (persist.c) -----------------------------------------
 * No-ops without a store or for sessions that end at disconnect. Functions
 * marked "locked" are called with s->lock held: every write touching a
 * session's queue and in-flight records is submitted under that lock, so the
 * store commits them in the order memory saw them, whichever worker made
 * them. */
int brk_persist_open(brk_t *b, char *err, size_t errlen);
void brk_persist_close(brk_t *b);
bool brk_persist_on(const brk_session_t *s);
void brk_persist_session(brk_session_t *s, const brk_msg_t *will, uint32_t will_delay,
                         bool connected);
void brk_persist_session_end(brk_session_t *s);
void brk_persist_sub(brk_session_t *s, const char *filter, uint16_t len, uint8_t options,
                     uint32_t sub_id, bool add);
void brk_persist_retained(brk_t *b, const brk_msg_t *m);
void brk_persist_enqueue(brk_session_t *s, brk_delivery_t *d);      /* locked */
void brk_persist_send(brk_session_t *s, brk_inflight_t *e);         /* locked */
void brk_persist_pubrec(brk_session_t *s, const brk_inflight_t *e); /* locked */
void brk_persist_done(brk_session_t *s, const brk_inflight_t *e);   /* locked */
void brk_persist_drop(brk_session_t *s, const brk_delivery_t *d);   /* locked */
void brk_persist_in2(brk_session_t *s, uint16_t pid, bool add);
/* One batch for a pass over a session (a drain, an ack and the drain it
 * allows): between begin and end, with s->lock held throughout, the locked
 * writes above gather in one batch instead of one each; end submits it,
 * still under the lock, so the order stays memory's. flush submits what is
 * gathered so far (before a barrier that must follow it). All locked. */
void brk_persist_begin(brk_session_t *s);
void brk_persist_flush(brk_session_t *s);
void brk_persist_end(brk_session_t *s);
/* Load the next page of a backlog into s->q (locked; home worker). */
void brk_persist_refill(brk_session_t *s);
#define BRK_QUEUE_PAGE 256
/* Fan-out of one QoS 1/2 message to several sessions: the body is written
 * once under a pseudo-reference held for the duration of the route, so each
 * session's batch adds only its reference (not another copy of the body). */
void brk_persist_pin(brk_t *b, brk_msg_t *m);
void brk_persist_unpin(brk_t *b, brk_msg_t *m);
/* While the disk is full, one harmless write per call so that the store
 * notices when space returns (worker 0's tick). */
void brk_persist_probe(brk_t *b);
/* Submit an empty batch: done(arg, err) runs on the store thread once every
 * write submitted before it is durable. Returns false without a store. */
bool brk_persist_barrier(brk_t *b, void (*done)(void *arg, int err), void *arg);
/* Block (not on a worker: a bridge or cluster thread) until every write
 * submitted so far is durable. 0 (also without a store, or when the store
 * refuses the barrier), -1 if the store reported a failed write. */
int brk_persist_wait(brk_t *b);
/* Rebuild sessions, subscriptions, retained messages, queues and in-flight
 * state from the store (before the listeners open). */
int brk_persist_recover(brk_t *b, char *err, size_t errlen);

#endif
