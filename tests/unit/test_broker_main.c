/*
 * test_broker_main.c - runner and fixture of the broker core unit tests
 * (test_broker_*.c, one file per core module).
 */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "test_broker.h"

void fx_open(fx_t *fx)
{
    memset(fx, 0, sizeof(*fx));
    fx->cfg = cfg_defaults();
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx->cfg);
    fx->cfg->workers = 1;
    free(fx->cfg->log.level);
    fx->cfg->log.level = strdup("error"); /* keep test output clean */
    fx->b = brk_new(fx->cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx->b);
    fx->w = &fx->b->workers[0];
    fx->w->b = fx->b;
    fx->w->epfd = -1;
    pthread_mutex_init(&fx->w->inbox_lock, NULL);
}

void fx_close(fx_t *fx)
{
    fx_inbox_run(fx);
    brk_worker_t *w = fx->w;
    free(w->inbox); /* what the worker's thread frees when it stops */
    free(w->matches.v);
    pthread_mutex_destroy(&w->inbox_lock);
    brk_free(fx->b);
    cfg_free(fx->cfg);
    memset(fx, 0, sizeof(*fx));
}

brk_conn_t *fx_conn(fx_t *fx, uint8_t version)
{
    brk_conn_t *c = brk_conn_new(fx->w, NULL, -1, BRK_TRANSPORT_RAW, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    c->want_write = true; /* no transport: as if already asked, never put on a list */
    c->connected = true;
    c->version = version;
    return c;
}

void fx_attach(brk_session_t *s, brk_conn_t *c)
{
    pthread_mutex_lock(&s->lock);
    s->conn = c;
    s->home = c->w;
    s->version = c->version;
    pthread_mutex_unlock(&s->lock);
    c->session = brk_session_ref(s);
}

void fx_conn_close(brk_conn_t *c)
{
    brk_conn_closed(c);
}

const uint8_t *fx_out(brk_conn_t *c, uint32_t *len)
{
    *len = c->out_len - c->out_off;
    return c->out ? c->out + c->ops->headroom + c->out_off : NULL;
}

void fx_out_clear(brk_conn_t *c)
{
    c->out_off = c->out_len = 0;
}

uint32_t fx_inbox_run(fx_t *fx)
{
    brk_worker_t *w = fx->w;
    uint32_t n = 0;
    for (;;) {
        pthread_mutex_lock(&w->inbox_lock);
        if (!w->inbox_len) {
            pthread_mutex_unlock(&w->inbox_lock);
            return n;
        }
        brk_inbox_item_t it = w->inbox[0];
        memmove(w->inbox, w->inbox + 1, --w->inbox_len * sizeof(*w->inbox));
        pthread_mutex_unlock(&w->inbox_lock);
        n++;
        if (it.kind == BRK_INBOX_READY) {
            brk_session_drain(it.u.s, w);
            brk_session_unref(it.u.s);
        }
    }
}

brk_msg_t *fx_msg(const char *topic, const char *payload, uint8_t qos)
{
    brk_msg_t *m = brk_msg_new((const uint8_t *)topic, (uint16_t)strlen(topic),
                               (const uint8_t *)payload, (uint32_t)strlen(payload), 0, qos, false);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    add_subs_tests();
    add_registry_tests();
    add_retain_tests();
    add_ack_tests();
    add_pool_tests();
    add_grow_tests();
    add_session_tests();
    add_acl_tests();
    add_expiry_tests();
    tbc_register();
    if (broker_reload_suite()) return 2;
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
