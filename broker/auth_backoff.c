/*
 * auth_backoff.c - failed logins per source address slow down that address.
 *
 * After BACKOFF_FREE failures from one address within FORGET_MS, each
 * further refusal to that address is held back for 250 ms, 500 ms, 1 s, then
 * 2 s at most, before its CONNACK goes out. The connection waits paused
 * (BRK_PAUSE: not read, the worker serves everyone else) and the tick hands
 * its CONNECT in again until the refusal is due; the held verdict is then
 * answered as it was decided (counted and logged once, when decided).
 * Successful logins are never delayed.
 *
 * Both tables are small and fixed (a burst from more addresses than that
 * simply is not delayed: bounded memory beats a perfect count), under one
 * mutex; they are touched on refused CONNECTs only.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

#define ADDRS 256
#define HELD 256
#define BACKOFF_FREE 2
#define FORGET_MS (60 * 1000)
#define STEP_MS 250
#define MAX_MS 2000
#define HELD_GRACE_MS 15000 /* a held entry whose client left is dropped after this */

typedef struct addr {
    char name[48];
    uint32_t fails;
    int64_t last_ms;
} addr_t;

typedef struct held {
    uint64_t conn; /* 0 = free */
    int verdict;
    int64_t due_ms;
} held_t;

struct brk_backoff {
    pthread_mutex_t lock;
    addr_t addrs[ADDRS];
    held_t held[HELD];
};

brk_backoff_t *brk_backoff_new(void)
{
    brk_backoff_t *b = calloc(1, sizeof(*b));
    if (b) pthread_mutex_init(&b->lock, NULL);
    return b;
}

void brk_backoff_free(brk_backoff_t *b)
{
    if (!b) return;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

int brk_backoff_pending(brk_backoff_t *b, uint64_t conn, int64_t now)
{
    int rc = -1;
    pthread_mutex_lock(&b->lock);
    for (int i = 0; i < HELD; i++) {
        held_t *h = &b->held[i];
        if (h->conn != conn) continue;
        rc = now < h->due_ms ? BRK_ACL_WAIT : h->verdict;
        if (rc != BRK_ACL_WAIT) h->conn = 0;
        break;
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* The address's entry, reusing the stalest one (lock held). */
static addr_t *addr_of(brk_backoff_t *b, const char *name, int64_t now)
{
    addr_t *old = &b->addrs[0];
    for (int i = 0; i < ADDRS; i++) {
        addr_t *a = &b->addrs[i];
        if (a->fails && !strcmp(a->name, name)) {
            if (now - a->last_ms > FORGET_MS) a->fails = 0;
            return a;
        }
        if (!a->fails || a->last_ms < old->last_ms) old = a;
    }
    memset(old, 0, sizeof(*old));
    strncpy(old->name, name, sizeof(old->name) - 1);
    return old;
}

bool brk_backoff_hold(brk_backoff_t *b, const char *addr, uint64_t conn, int verdict, int64_t now)
{
    bool held = false;
    pthread_mutex_lock(&b->lock);
    addr_t *a = addr_of(b, addr, now);
    a->fails++;
    a->last_ms = now;
    if (a->fails > BACKOFF_FREE) {
        uint32_t step = a->fails - BACKOFF_FREE - 1;
        int64_t delay = step >= 3 ? MAX_MS : (int64_t)STEP_MS << step;
        for (int i = 0; i < HELD && !held; i++) {
            held_t *h = &b->held[i];
            if (h->conn && now - h->due_ms < HELD_GRACE_MS) continue;
            *h = (held_t){conn, verdict, now + delay};
            held = true;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return held;
}
