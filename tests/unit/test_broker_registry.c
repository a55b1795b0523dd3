/*
 * test_broker_registry.c - the session registry (broker.c: brk_reg_*) and
 * the retained map (retain.c), through brk.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_broker.h"

static brk_session_t *reg_find(fx_t *fx, const char *id)
{
    return brk_reg_find(fx->b, id, (uint16_t)strlen(id));
}

static void test_registry_insert_find_remove(void)
{
    fx_t fx;
    fx_open(&fx);
    brk_session_t *a = brk_session_new(fx.b, "dev-a", 5);
    brk_session_t *b = brk_session_new(fx.b, "dev-b", 5);
    pthread_mutex_lock(&fx.b->reg_lock);
    CU_ASSERT_PTR_NULL(reg_find(&fx, "dev-a"));
    brk_reg_insert(fx.b, a);
    brk_reg_insert(fx.b, b);
    CU_ASSERT_TRUE(a->registered);
    CU_ASSERT_PTR_EQUAL(reg_find(&fx, "dev-a"), a);
    CU_ASSERT_PTR_EQUAL(reg_find(&fx, "dev-b"), b);
    CU_ASSERT_PTR_NULL(reg_find(&fx, "dev-"));   /* a prefix is another id */
    CU_ASSERT_PTR_NULL(reg_find(&fx, "dev-ab")); /* so is a longer one */
    CU_ASSERT_EQUAL(fx.b->reg_len, 2);
    brk_reg_remove(fx.b, a);
    CU_ASSERT_FALSE(a->registered);
    CU_ASSERT_PTR_NULL(reg_find(&fx, "dev-a"));
    CU_ASSERT_PTR_EQUAL(reg_find(&fx, "dev-b"), b);
    brk_reg_remove(fx.b, a); /* twice: nothing happens */
    CU_ASSERT_EQUAL(fx.b->reg_len, 1);
    pthread_mutex_unlock(&fx.b->reg_lock);
    brk_session_unref(a);
    fx_close(&fx); /* frees b with the registry */
}

static void test_registry_grows_and_survives_removals(void)
{
    enum { N = 5000 };
    fx_t fx;
    fx_open(&fx);
    uint32_t cap0 = fx.b->reg_cap;
    static brk_session_t *s[N];
    char id[32];
    pthread_mutex_lock(&fx.b->reg_lock);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "client-%d", i);
        s[i] = brk_session_new(fx.b, id, (uint16_t)strlen(id));
        CU_ASSERT_PTR_NOT_NULL_FATAL(s[i]);
        brk_reg_insert(fx.b, s[i]);
    }
    CU_ASSERT(fx.b->reg_cap > cap0);
    CU_ASSERT(fx.b->reg_cap >= 2 * N); /* load factor stays at or under 1/2 */
    CU_ASSERT_EQUAL(fx.b->reg_len, N);
    int found = 0;
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "client-%d", i);
        found += reg_find(&fx, id) == s[i];
    }
    CU_ASSERT_EQUAL(found, N);
    /* backward-shift deletion must keep every other probe chain intact */
    for (int i = 0; i < N; i += 3) {
        brk_reg_remove(fx.b, s[i]);
        brk_session_unref(s[i]);
    }
    int kept = 0, gone = 0;
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "client-%d", i);
        brk_session_t *f = reg_find(&fx, id);
        if (i % 3 == 0)
            gone += f == NULL;
        else
            kept += f == s[i];
    }
    CU_ASSERT_EQUAL(gone, (N + 2) / 3);
    CU_ASSERT_EQUAL(kept, N - (N + 2) / 3);
    CU_ASSERT_EQUAL(fx.b->reg_len, (uint32_t)(N - (N + 2) / 3));
    pthread_mutex_unlock(&fx.b->reg_lock);
    fx_close(&fx);
}

/* ---- retained ---------------------------------------------------------- */

typedef struct hits {
    int n;
    char topics[8][32];
    char payloads[8][32];
} hits_t;

static void collect_hit(void *arg, brk_msg_t *m)
{
    hits_t *h = arg;
    if (h->n < 8) {
        snprintf(h->topics[h->n], 32, "%.*s", (int)m->topic_len, m->topic);
        snprintf(h->payloads[h->n], 32, "%.*s", (int)m->payload_len, (const char *)m->payload);
    }
    h->n++;
    brk_msg_unref(&m);
}

static hits_t retained(fx_t *fx, const char *filter)
{
    hits_t h = {0};
    brk_retain_match(fx->b->retain, filter, (uint16_t)strlen(filter), collect_hit, &h);
    return h;
}

static void retain(fx_t *fx, const char *topic, const char *payload)
{
    brk_msg_t *m = fx_msg(topic, payload, 0);
    brk_retain_set(fx->b->retain, m);
    brk_msg_unref(&m);
}

static void test_retained_set_replace_and_delete_by_empty_payload(void)
{
    fx_t fx;
    fx_open(&fx);
    retain(&fx, "home/temp", "20");
    CU_ASSERT_EQUAL(brk_retain_count(fx.b->retain), 1);
    hits_t h = retained(&fx, "home/temp");
    CU_ASSERT_EQUAL_FATAL(h.n, 1);
    CU_ASSERT_STRING_EQUAL(h.payloads[0], "20");
    retain(&fx, "home/temp", "21"); /* replaces */
    CU_ASSERT_EQUAL(brk_retain_count(fx.b->retain), 1);
    h = retained(&fx, "home/temp");
    CU_ASSERT_EQUAL_FATAL(h.n, 1);
    CU_ASSERT_STRING_EQUAL(h.payloads[0], "21");
    retain(&fx, "home/temp", ""); /* deletes */
    CU_ASSERT_EQUAL(brk_retain_count(fx.b->retain), 0);
    CU_ASSERT_EQUAL(retained(&fx, "home/temp").n, 0);
    retain(&fx, "home/none", ""); /* deleting nothing stores nothing */
    CU_ASSERT_EQUAL(brk_retain_count(fx.b->retain), 0);
    fx_close(&fx);
}

static void test_retained_holds_its_own_reference(void)
{
    fx_t fx;
    fx_open(&fx);
    brk_msg_t *m = fx_msg("a", "x", 0);
    brk_retain_set(fx.b->retain, m);
    CU_ASSERT_EQUAL(atomic_load(&m->refs), 2);
    brk_msg_t *del = fx_msg("a", "", 0);
    brk_retain_set(fx.b->retain, del);
    CU_ASSERT_EQUAL(atomic_load(&m->refs), 1); /* the map let go of it */
    CU_ASSERT_EQUAL(atomic_load(&del->refs), 1);
    brk_msg_unref(&m);
    brk_msg_unref(&del);
    fx_close(&fx);
}

static bool hit_has(const hits_t *h, const char *topic)
{
    for (int i = 0; i < h->n && i < 8; i++)
        if (!strcmp(h->topics[i], topic)) return true;
    return false;
}

static void test_retained_wildcard_match(void)
{
    fx_t fx;
    fx_open(&fx);
    const char *topics[] = {"a/b", "a/c", "a/b/c", "b/b", "$SYS/x", "a"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(*topics); i++)
        retain(&fx, topics[i], "v");
    for (int i = 0; i < 300; i++) { /* enough to make the map grow */
        char t[32];
        snprintf(t, sizeof(t), "bulk/%d", i);
        retain(&fx, t, "v");
    }
    hits_t h = retained(&fx, "a/+");
    CU_ASSERT_EQUAL(h.n, 2);
    CU_ASSERT_TRUE(hit_has(&h, "a/b") && hit_has(&h, "a/c"));
    h = retained(&fx, "a/#");
    CU_ASSERT_EQUAL(h.n, 4);
    CU_ASSERT_TRUE(hit_has(&h, "a") && hit_has(&h, "a/b/c"));
    h = retained(&fx, "+/b");
    CU_ASSERT_EQUAL(h.n, 2);
    CU_ASSERT_TRUE(hit_has(&h, "a/b") && hit_has(&h, "b/b"));
    CU_ASSERT_EQUAL(retained(&fx, "#").n, 5 + 300); /* not $SYS/x */
    h = retained(&fx, "$SYS/#");
    CU_ASSERT_EQUAL(h.n, 1);
    CU_ASSERT_EQUAL(retained(&fx, "bulk/+").n, 300);
    CU_ASSERT_EQUAL(retained(&fx, "bulk/299").n, 1);
    CU_ASSERT_EQUAL(retained(&fx, "bulk/300").n, 0);
    fx_close(&fx);
}

void add_registry_tests(void)
{
    CU_pSuite s = CU_add_suite("broker_registry", NULL, NULL);
    CU_add_test(s, "registry_insert_find_remove", test_registry_insert_find_remove);
    CU_add_test(s, "registry_grows_and_survives_removals",
                test_registry_grows_and_survives_removals);
}

void add_retain_tests(void)
{
    CU_pSuite s = CU_add_suite("broker_retain", NULL, NULL);
    CU_add_test(s, "retained_set_replace_and_delete_by_empty_payload",
                test_retained_set_replace_and_delete_by_empty_payload);
    CU_add_test(s, "retained_holds_its_own_reference", test_retained_holds_its_own_reference);
    CU_add_test(s, "retained_wildcard_match", test_retained_wildcard_match);
}
