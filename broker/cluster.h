/*
 * cluster.h - the broker's side of the cluster through Kafka (cluster.c;
 * docs/CLUSTER.md): a router sink that sends other nodes what they
 * subscribed to, and a source that routes what they sent to local
 * subscribers. bridge/bridge_cluster.c does the Kafka part.
 *
 * Ownership: b->cluster (NULL unless cluster.enabled) is created by
 * brk_cluster_prepare and freed by brk_cluster_free.
 *
 * Threads: prepare, start, stop and free on the main thread (prepare
 * before the store restores sessions, start before the listeners open,
 * stop after the workers). stats and ready from any thread.
 */
#ifndef SLUICE_BRK_CLUSTER_H
#define SLUICE_BRK_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct brk;
typedef struct brk_cluster brk_cluster_t;

/* Watch the subscription index (this node's interest). 0, or -1 (ENOMEM). */
int brk_cluster_prepare(struct brk *b);
/* Join: register the sink, start reading the internal topics; once
 * retained messages, interest, nodes and sessions are loaded, this node's
 * interest is announced. -1 with a message in err. */
int brk_cluster_start(struct brk *b, char *err, size_t errlen);
/* CONNECTs are taken: not in a cluster, loaded, or cluster.load_timeout_ms
 * passed without (then /readyz still says not ready). Any thread. */
bool brk_cluster_accepting(struct brk *b);
void brk_cluster_stop(struct brk *b);
void brk_cluster_free(struct brk *b);
/* Every cluster figure by name ("ready", "nodes", "msgs_produced", ...). */
void brk_cluster_stats(struct brk *b, void (*fn)(void *arg, const char *name, uint64_t v),
                       void *arg);
/* A client's connection was accepted (its worker, after CONNACK) or is
 * gone (its worker, at close): other nodes learn who is where, close their
 * older connection of the same client id (0x8E), and publish the will if
 * this node dies (cluster_presence.c). */
struct brk_conn;
void brk_cluster_connected(struct brk *b, struct brk_conn *c, const char *client_id);
void brk_cluster_disconnected(struct brk *b, struct brk_conn *c, const char *client_id);

/* A will held for its delay after its connection ended here was
 * published (any thread): the other nodes forget it (a will-fired marker). */
void brk_cluster_will_fired(struct brk *b, const char *client_id, uint64_t token);

/* A member of shared group `full` left with m unconfirmed and no other
 * member here: m goes to a node that has members (any thread); false if
 * none has, or not in a cluster. */
struct brk_msg;
bool brk_cluster_share_away(struct brk *b, const char *full, uint16_t len, struct brk_msg *m);

/* A CONNECT with clean start 0 (its worker): 0 to go on, or BRK_PAUSE
 * while its session comes from the node holding it (cluster_session.c);
 * the CONNECT is handled again at the worker's next tick. */
int brk_cluster_claim(struct brk *b, struct brk_conn *c, const char *client_id, size_t len);

/* false, with the reason in why, while the node is not loaded or cannot
 * reach Kafka (readiness). */
bool brk_cluster_ready(struct brk *b, char *why, size_t len);
/* A persistent session's subscriptions changed (SUBSCRIBE, UNSUBSCRIBE):
 * its checkpoint goes out now rather than at the next scan (any thread). */
void brk_cluster_subs_changed(struct brk *b, struct brk_session *s);
/* A session that had a checkpoint ended here: the checkpoint goes too
 * (any thread). */
void brk_cluster_session_ended(struct brk *b, const char *client_id, size_t len);

#endif
