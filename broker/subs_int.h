/*
 * subs_int.h - the subscription index's trie (subs.c), shared with
 * subs_walk.c. Private to those two files; the locking is subs.h's.
 */
#ifndef SLUICE_BRK_SUBS_INT_H
#define SLUICE_BRK_SUBS_INT_H

#include <pthread.h>

#include "subs.h"

typedef struct share_group {
    char *name;
    uint16_t len;
    brk_share_t *id;
    brk_sub_t *m;
    uint32_t n, cap;
    _Atomic uint32_t rr;
} share_group_t;

typedef struct node {
    struct node *parent;
    char *level;
    uint16_t len;
    uint32_t hash;
    struct node **kids; /* open addressing, cap is a power of two */
    uint32_t n_kids, cap_kids;
    struct node *plus, *hash_kid;
    brk_sub_t *subs;
    uint32_t n_subs, cap_subs;
    share_group_t *groups;
    uint32_t n_groups;
} node_t;

struct brk_subs {
    pthread_rwlock_t lock;
    node_t root;
    uint64_t count;
    brk_subs_watch_fn watch; /* set before the index is shared */
    void *watch_ctx;
};

#endif
