/*
 * subs_walk.c - the subscription index seen whole (subs.h): the filters it
 * holds, and whoever must hear when one comes or goes (the cluster's
 * interest, cluster.c).
 */
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "subs_int.h"

void brk_subs_watch(brk_subs_t *t, brk_subs_watch_fn fn, void *ctx)
{
    t->watch = fn;
    t->watch_ctx = ctx;
}

/* The filter of node n, rebuilt from its parents into buf (cap >= 65536). */
static uint16_t filter_of(const node_t *n, char *buf, size_t cap)
{
    size_t len = 0;
    for (const node_t *k = n; k->parent; k = k->parent)
        len += k->len + (k->parent->parent ? 1 : 0);
    if (len > cap || len > 0xffff) return 0;
    size_t at = len;
    for (const node_t *k = n; k->parent; k = k->parent) {
        at -= k->len;
        memcpy(buf + at, k->level, k->len);
        if (k->parent->parent) buf[--at] = '/';
    }
    return (uint16_t)len;
}

void brk_subs_each(brk_subs_t *t, void (*fn)(void *ctx, const char *filter, uint16_t len),
                   void *ctx)
{
    char *buf = malloc(65536);
    node_t **stack = NULL;
    uint32_t n = 0, cap = 0;
    if (!buf || brk_grow_vec(&stack, &cap, sizeof(*stack), 64)) goto out;
    stack[n++] = &t->root;
    while (n) { /* iterative: a filter may be 65,535 levels deep */
        node_t *k = stack[--n];
        if (k->n_subs && k->parent) {
            uint16_t len = filter_of(k, buf, 65536);
            if (len) fn(ctx, buf, len);
        }
        for (uint32_t g = 0; g < k->n_groups; g++) /* the group's id is its full name */
            fn(ctx, k->groups[g].id->filter, k->groups[g].id->len);
        uint32_t need = n + k->n_kids + 2;
        while (cap < need)
            if (brk_grow_vec(&stack, &cap, sizeof(*stack), 64)) goto out;
        for (uint32_t i = 0; i < k->cap_kids; i++)
            if (k->kids[i]) stack[n++] = k->kids[i];
        if (k->plus) stack[n++] = k->plus;
        if (k->hash_kid) stack[n++] = k->hash_kid;
    }
out:
    free(stack);
    free(buf);
}
