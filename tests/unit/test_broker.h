/*
 * test_broker.h - shared fixture of the broker core unit tests.
 *
 * A brk_t made by brk_new() from cfg_defaults() has its indexes, registry
 * and (unstarted) workers but no listeners, threads or store: the core
 * modules can be driven through their public functions in brk.h on the
 * test's own thread. Connections made here are "detached" (no socket, no
 * lws): their output stays in c->out for the test to read.
 */
#ifndef SLUICE_TEST_BROKER_H
#define SLUICE_TEST_BROKER_H

#include <CUnit/CUnit.h>

#include "brk.h"

typedef struct fx {
    cfg_t *cfg;
    brk_t *b;
    brk_worker_t *w; /* worker 0 */
} fx_t;

/* One worker, the defaults otherwise; change fx.cfg before use. */
void fx_open(fx_t *fx);
void fx_close(fx_t *fx);
/* A connected client of `version` on worker 0 with no transport. */
brk_conn_t *fx_conn(fx_t *fx, uint8_t version);
/* Attach s to c as a CONNECT would (s online, homed on c's worker). */
void fx_attach(brk_session_t *s, brk_conn_t *c);
/* Detach and free c (the transport "closed" it). */
void fx_conn_close(brk_conn_t *c);
/* Bytes c has written so far, and forget them. */
const uint8_t *fx_out(brk_conn_t *c, uint32_t *len);
void fx_out_clear(brk_conn_t *c);
/* Handle the worker's inbox as its thread would (READY items: drain). */
uint32_t fx_inbox_run(fx_t *fx);
brk_msg_t *fx_msg(const char *topic, const char *payload, uint8_t qos);

void add_subs_tests(void);
void add_registry_tests(void);
void add_retain_tests(void);
void add_ack_tests(void);
void add_pool_tests(void);
void add_grow_tests(void); /* test_broker_grow.c */
void add_session_tests(void);
void add_acl_tests(void);      /* test_broker_acl.c */
void add_expiry_tests(void);   /* test_broker_expiry.c */
void tbc_register(void);       /* test_broker_call.c */
int broker_reload_suite(void); /* test_broker_reload.c */

#endif
