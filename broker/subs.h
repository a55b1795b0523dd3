/*
 * subs.h - the subscription index (subs.c): filters to sessions, shared
 * subscription groups, and the topic limits a filter or topic must meet.
 *
 * The index is guarded by its rwlock: routing holds the read lock while it
 * delivers into sessions; subscribe, unsubscribe and session destruction
 * take the write lock. A worker owns its brk_matches_t scratch.
 */
#ifndef SLUICE_BRK_SUBS_H
#define SLUICE_BRK_SUBS_H

#include "config.h"
#include "msg.h"

typedef struct brk_subs brk_subs_t;

typedef struct brk_sub {
    brk_session_t *s;
    uint8_t options; /* MQTT_SUBOPT_* */
    uint32_t sub_id; /* 0 = none */
} brk_sub_t;

/* The identity of a shared subscription group ("$share/g/filter"),
 * refcounted so a delivery can name its group after the group is gone. */
typedef struct brk_share {
    _Atomic uint32_t refs;
    uint16_t len;
    char filter[];
} brk_share_t;
brk_share_t *brk_share_ref(brk_share_t *sh);
void brk_share_unref(brk_share_t **sh);
/* Hand m to another member of the group (a member left with it unacked);
 * false if the group has no other member here. */
bool brk_share_redispatch(brk_subs_t *t, brk_share_t *sh, brk_msg_t *m, uint8_t qos);

/* One matched delivery target, after merging overlapping subscriptions. */
typedef struct brk_match {
    brk_session_t *s;
    brk_share_t *share; /* set when matched through a shared subscription */
    uint8_t qos;
    bool rap; /* retain as published */
    uint32_t n_sub_ids;
    const uint32_t *sub_ids; /* &one, or a run of the matches' ids */
    uint32_t one;            /* the only id (n_sub_ids <= 1) */
    uint32_t ids_off;        /* n_sub_ids > 1: where the run starts in ids */
} brk_match_t;

/* Reused between matches; sub_ids pointers are valid until the next one. */
typedef struct brk_matches {
    brk_match_t *v;
    uint32_t n, cap;
    uint32_t nodes; /* how many index nodes contributed (merge needed if > 1) */
    uint32_t *ids;  /* the Subscription Identifiers of merged matches */
    uint32_t n_ids, cap_ids;
} brk_matches_t;
void brk_matches_free(brk_matches_t *m);

brk_subs_t *brk_subs_new(void);
void brk_subs_free(brk_subs_t *t);
/* Write-locked inside. Returns 1 if the subscription is new, 0 if it
 * replaced an existing one of the same session and filter, BRK_SUBS_ENDED
 * if s has ended (checked under the write lock, so brk_session_end's
 * removal cannot miss it), -1 on ENOMEM. */
#define BRK_SUBS_ENDED (-2)
int brk_subs_add(brk_subs_t *t, const char *filter, uint16_t len, brk_session_t *s, uint8_t options,
                 uint32_t sub_id);
/* Returns true if the session had that subscription. */
bool brk_subs_remove(brk_subs_t *t, const char *filter, uint16_t len, brk_session_t *s);
void brk_subs_rdlock(brk_subs_t *t);
void brk_subs_unlock(brk_subs_t *t);
/* Collect matches for a topic (caller holds the read lock); overlapping
 * subscriptions of one session are merged. out is reused between calls. */
int brk_subs_match(brk_subs_t *t, const char *topic, uint16_t len, const void *origin,
                   brk_matches_t *out);
uint64_t brk_subs_count(brk_subs_t *t);

/* Told when a filter gains its first subscriber (on) or loses its last,
 * and when a shared group ("$share/<group>/<filter>", named so) gains its
 * first member or loses its last: what other cluster nodes must know. Called under the write lock,
 * in the order the index changed; must not block or touch the index. Set once, before the index is
 * shared. */
typedef void (*brk_subs_watch_fn)(void *ctx, const char *filter, uint16_t len, bool on);
void brk_subs_watch(brk_subs_t *t, brk_subs_watch_fn fn, void *ctx);
/* Every filter with a subscriber and every shared group, as
 * brk_subs_watch names them (subs_walk.c;
 * caller holds the read lock). fn's filter is valid during the call. */
void brk_subs_each(brk_subs_t *t, void (*fn)(void *ctx, const char *filter, uint16_t len),
                   void *ctx);
/* Some subscription on exactly this filter, or a member in this shared
 * group (caller holds the read lock). */
bool brk_subs_has(brk_subs_t *t, const char *filter, uint16_t len);
/* A topic or filter within mqtt.max_topic_length and max_topic_levels
 * (a shared filter counts the filter after "$share/<group>/"). */
enum { BRK_TOPIC_OK, BRK_TOPIC_TOO_LONG, BRK_TOPIC_TOO_DEEP };
int brk_topic_limits(const cfg_t *cfg, const uint8_t *p, uint32_t len);

#endif
