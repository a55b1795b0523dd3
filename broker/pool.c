/*
 * pool.c - per-worker free lists for messages and their frames.
 *
 * Every inbound PUBLISH allocates a message and, on the subscriber's worker,
 * its encoded frame; the last reference is usually dropped on another
 * thread. Through malloc that was two allocations per message and a free
 * that took the other arena's lock (a fifth of the broker's cycles in the
 * pairs benchmark, perf). Here a worker allocates from its own lists, a
 * block freed on its owner's thread goes back to them directly, and one
 * freed anywhere else is pushed onto the owner's lock-free "remote" stack,
 * which the owner takes whole when its own list runs dry.
 *
 * Threads without a pool (main, store, bridge) and sizes above the largest
 * class use malloc. Sanitizer builds (BRK_POOL_OFF) always use malloc, so
 * that AddressSanitizer still sees every use after free.
 */
#include <stdlib.h>

#include "msg.h"

#define LOCAL_CAP 1024 /* blocks kept per class; more go back to malloc */

static const uint32_t class_size[BRK_POOL_CLASSES] = {128, 256, 512, 1024, 2048};

/* In front of every block: 16 bytes, so the caller's memory stays aligned. */
typedef struct hdr {
    brk_pool_t *pool; /* NULL: from malloc */
    uint32_t cls;
    uint32_t pad;
} hdr_t;

typedef struct blk {
    struct blk *next;
} blk_t;

static _Thread_local brk_pool_t *tls_pool;

void brk_pool_bind(brk_pool_t *p)
{
    tls_pool = p;
}

void *brk_pool_alloc(size_t n)
{
    brk_pool_t *p = tls_pool;
    size_t total = n + sizeof(hdr_t);
    uint32_t cls = 0;
#ifdef BRK_POOL_OFF
    p = NULL;
#endif
    while (cls < BRK_POOL_CLASSES && class_size[cls] < total)
        cls++;
    if (!p || cls == BRK_POOL_CLASSES) {
        hdr_t *h = malloc(total);
        if (!h) return NULL;
        h->pool = NULL;
        return h + 1;
    }
    blk_t *b = p->local[cls];
    if (!b) { /* take back everything other threads freed */
        b = atomic_exchange_explicit(&p->remote[cls], NULL, memory_order_acquire);
        uint32_t k = 0;
        for (blk_t *i = b; i; i = i->next)
            k++;
        p->n_local[cls] = k;
    }
    hdr_t *h;
    if (b) {
        p->local[cls] = b->next;
        p->n_local[cls]--;
        h = (hdr_t *)b;
    } else {
        h = malloc(class_size[cls]);
        if (!h) return NULL;
    }
    h->pool = p;
    h->cls = cls;
    return h + 1;
}

void brk_pool_free(void *ptr)
{
    if (!ptr) return;
    hdr_t *h = (hdr_t *)ptr - 1;
    brk_pool_t *p = h->pool;
    if (!p) {
        free(h);
        return;
    }
    uint32_t cls = h->cls;
    blk_t *b = (blk_t *)h;
    if (p == tls_pool) {
        if (p->n_local[cls] >= LOCAL_CAP) {
            free(h);
            return;
        }
        b->next = p->local[cls];
        p->local[cls] = b;
        p->n_local[cls]++;
        return;
    }
    blk_t *head = atomic_load_explicit(&p->remote[cls], memory_order_relaxed);
    do
        b->next = head;
    while (!atomic_compare_exchange_weak_explicit(&p->remote[cls], &head, b, memory_order_release,
                                                  memory_order_relaxed));
}

void brk_pool_destroy(brk_pool_t *p)
{
    for (int c = 0; c < BRK_POOL_CLASSES; c++) {
        blk_t *lists[2] = {p->local[c], atomic_exchange(&p->remote[c], NULL)};
        for (int l = 0; l < 2; l++)
            while (lists[l]) {
                blk_t *n = lists[l]->next;
                free(lists[l]);
                lists[l] = n;
            }
        p->local[c] = NULL;
        p->n_local[c] = 0;
    }
}
