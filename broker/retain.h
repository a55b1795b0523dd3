/*
 * retain.h - the retained messages (retain.c), a map from topic to its
 * last retained message, guarded inside; any thread.
 */
#ifndef SLUICE_BRK_RETAIN_H
#define SLUICE_BRK_RETAIN_H

#include "msg.h"

typedef struct brk_retain brk_retain_t;
brk_retain_t *brk_retain_new(void);
void brk_retain_free(brk_retain_t *r);
/* mqtt.max_retained / max_retained_bytes (0 = no limit). */
void brk_retain_limit(brk_retain_t *r, uint32_t max_n, uint64_t max_bytes);
enum { BRK_RETAIN_OK, BRK_RETAIN_FULL_COUNT, BRK_RETAIN_FULL_BYTES };
/* Takes a reference to m; an empty payload deletes. Returns BRK_RETAIN_OK,
 * or which limit kept m out (the old entry, if any, stays). */
int brk_retain_set(brk_retain_t *r, brk_msg_t *m);
/* The answer brk_retain_set would give now (a PUBLISH checks before it
 * routes, to refuse rather than half-accept). */
int brk_retain_fits(brk_retain_t *r, const brk_msg_t *m);
/* Calls fn for every retained message matching filter (with a ref the
 * callee must drop). */
void brk_retain_match(brk_retain_t *r, const char *filter, uint16_t len,
                      void (*fn)(void *arg, brk_msg_t *m), void *arg);
uint64_t brk_retain_count(brk_retain_t *r);

#endif
