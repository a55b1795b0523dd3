/*
 * grow.h - the growth step shared by the broker's arrays and rings:
 * capacity doubles (from `first` when empty) and the contents are kept.
 * Callers test "full" themselves, so the common path costs nothing:
 *
 *     if (s->q_len == s->q_cap &&
 *         brk_grow_ring(&s->q, &s->q_cap, &s->q_head, s->q_len, sizeof(*s->q), 16))
 *         return false;
 *
 * `pv` is the address of the caller's typed pointer. On failure (no memory,
 * or a capacity past UINT32_MAX) nothing changes and the old block is still
 * the caller's. Any thread, on its own data.
 */
#ifndef SLUICE_BRK_GROW_H
#define SLUICE_BRK_GROW_H

#include <stddef.h>
#include <stdint.h>

/* Array of *cap elements of `size` bytes: realloc to twice as many.
 * Returns 0, or -1 with everything unchanged. */
int brk_grow_vec(void *pv, uint32_t *cap, size_t size, uint32_t first);
/* Ring of *cap elements holding `len` from *head (wrapping): a new block
 * twice as large with the elements in order from 0, *head = 0, the old
 * block freed. Returns 0, or -1 with everything unchanged. */
int brk_grow_ring(void *pv, uint32_t *cap, uint32_t *head, uint32_t len, size_t size,
                  uint32_t first);

#endif
