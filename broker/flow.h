/*
 * flow.h - flow control (flow.c): a subscriber's full queue holds its
 * publishers' acknowledgements instead of dropping QoS 1/2 messages.
 */
#ifndef SLUICE_BRK_FLOW_H
#define SLUICE_BRK_FLOW_H

#include "conn.h"

/* ---- flow control (flow.c) -----------------------------------------------
 * mqtt.queue_full "backpressure": a QoS 1/2 delivery to an online session
 * at mqtt.max_queued holds the publisher's PUBACK/PUBREC instead of being
 * dropped. */
typedef struct brk_flow brk_flow_t;
/* Publisher's worker, around brk_route of a client's QoS 1/2 PUBLISH. */
void brk_flow_begin(brk_worker_t *w, brk_conn_t *c);
/* The token some session holds (its ack must wait one more completion), or NULL. */
brk_flow_t *brk_flow_end(brk_worker_t *w);
/* Hand the token its acknowledgement (number seq on c); completes it now if
 * every session already let go. */
void brk_flow_attach(brk_flow_t *f, brk_conn_t *c, uint64_t seq);
/* s->lock held: hold the PUBLISH being routed on `from`; false if there is
 * no publisher to hold (then the caller decides: queue or drop). */
bool brk_flow_hold(brk_session_t *s, brk_worker_t *from);
/* s->lock held: let go of the holds a queue of `depth` no longer justifies
 * (all: every one, e.g. the session went offline or ended). */
void brk_flow_release(brk_session_t *s, uint64_t depth, bool all);
/* Holding publishers, with no delivery out of the queue for longer than
 * mqtt.queue_full_timeout_ms (tick). */
bool brk_flow_stuck(brk_session_t *s, int64_t now);

#endif
