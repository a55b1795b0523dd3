/*
 * grow.c - doubling arrays and rings (grow.h). The caller's pointer is read
 * and written through memcpy: it may be of any object type.
 */
#include <stdlib.h>
#include <string.h>

#include "grow.h"

/* The doubled capacity, or 0 when it (or its size in bytes) overflows. */
static uint32_t grow_cap(uint32_t cap, size_t size, uint32_t first)
{
    uint32_t nc = cap ? cap * 2 : first;
    if (nc <= cap || (size && nc > SIZE_MAX / size)) return 0;
    return nc;
}

int brk_grow_vec(void *pv, uint32_t *cap, size_t size, uint32_t first)
{
    uint32_t nc = grow_cap(*cap, size, first);
    void *v;
    memcpy(&v, pv, sizeof(v));
    void *nv = nc ? realloc(v, (size_t)nc * size) : NULL;
    if (!nv) return -1;
    memcpy(pv, &nv, sizeof(nv));
    *cap = nc;
    return 0;
}

int brk_grow_ring(void *pv, uint32_t *cap, uint32_t *head, uint32_t len, size_t size,
                  uint32_t first)
{
    uint32_t nc = grow_cap(*cap, size, first);
    uint8_t *v;
    memcpy(&v, pv, sizeof(v));
    uint8_t *nv = nc ? malloc((size_t)nc * size) : NULL;
    if (!nv) return -1;
    /* the elements from head to the end of the block, then the wrapped rest */
    uint32_t tail = *cap - *head < len ? *cap - *head : len;
    if (tail) memcpy(nv, v + (size_t)*head * size, (size_t)tail * size);
    if (len > tail) memcpy(nv + (size_t)tail * size, v, (size_t)(len - tail) * size);
    free(v);
    memcpy(pv, &nv, sizeof(nv));
    *cap = nc;
    *head = 0;
    return 0;
}
