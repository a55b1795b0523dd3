/*
 * test_broker_subs.c - the subscription index (subs.c) through brk.h:
 * wildcards, $-topics, shared groups, merging, no-local, pruning.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_broker.h"

typedef struct subs_fx {
    fx_t fx;
    brk_session_t *s[4];
    brk_matches_t m;
} subs_fx_t;

static void sf_open(subs_fx_t *f)
{
    memset(f, 0, sizeof(*f));
    fx_open(&f->fx);
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof(id), "s%d", i);
        f->s[i] = brk_session_new(f->fx.b, id, (uint16_t)strlen(id));
        CU_ASSERT_PTR_NOT_NULL_FATAL(f->s[i]);
    }
}

static void sf_close(subs_fx_t *f)
{
    fx_close(&f->fx); /* frees the trie first: it never owned the sessions */
    for (int i = 0; i < 4; i++)
        brk_session_unref(f->s[i]);
    brk_matches_free(&f->m);
}

static int add(subs_fx_t *f, const char *filter, int who, uint8_t options, uint32_t id)
{
    return brk_subs_add(f->fx.b->subs, filter, (uint16_t)strlen(filter), f->s[who], options, id);
}

static bool del(subs_fx_t *f, const char *filter, int who)
{
    return brk_subs_remove(f->fx.b->subs, filter, (uint16_t)strlen(filter), f->s[who]);
}

static int match(subs_fx_t *f, const char *topic, const void *origin)
{
    brk_subs_t *t = f->fx.b->subs;
    brk_subs_rdlock(t);
    int n = brk_subs_match(t, topic, (uint16_t)strlen(topic), origin, &f->m);
    brk_subs_unlock(t);
    return n;
}

/* Table: does filter match topic? */
static void check_matches(const char *filter, const char *const *yes, const char *const *no)
{
    subs_fx_t f;
    sf_open(&f);
    CU_ASSERT_EQUAL(add(&f, filter, 0, 1, 0), 1);
    for (; *yes; yes++) {
        if (match(&f, *yes, NULL) != 1) fprintf(stderr, "\n  %s should match %s\n", filter, *yes);
        CU_ASSERT_EQUAL(match(&f, *yes, NULL), 1);
    }
    for (; *no; no++) {
        if (match(&f, *no, NULL) != 0) fprintf(stderr, "\n  %s should not match %s\n", filter, *no);
        CU_ASSERT_EQUAL(match(&f, *no, NULL), 0);
    }
    sf_close(&f);
}

static void test_plus_matches_exactly_one_level(void)
{
    check_matches("a/+/c", (const char *[]){"a/b/c", "a//c", "a/x y/c", NULL},
                  (const char *[]){"a/b", "a/b/c/d", "a/c", "b/b/c", "a/b/cc", NULL});
    check_matches("+", (const char *[]){"a", "", NULL}, (const char *[]){"a/b", "/a", NULL});
    check_matches("+/+", (const char *[]){"/a", "a/", "/", "a/b", NULL},
                  (const char *[]){"a", "a/b/c", NULL});
}

static void test_hash_matches_parent_and_every_descendant(void)
{
    check_matches("a/#", (const char *[]){"a", "a/", "a/b", "a/b/c/d", NULL},
                  (const char *[]){"b", "ab", "b/a", NULL});
    check_matches("#", (const char *[]){"a", "a/b", "/", "", NULL}, (const char *[]){NULL});
    check_matches("a/+/#", (const char *[]){"a/b", "a/b/c", NULL}, (const char *[]){"a", NULL});
}

static void test_exact_filter_matches_only_its_topic(void)
{
    check_matches("a/b", (const char *[]){"a/b", NULL},
                  (const char *[]){"a", "a/b/", "a/bc", "A/b", "a/b/c", NULL});
}

static void test_dollar_topics_are_excluded_from_first_level_wildcards(void)
{
    check_matches("#", (const char *[]){"a/$x", NULL}, (const char *[]){"$SYS/x", "$x", NULL});
    check_matches("+/x", (const char *[]){"a/x", NULL}, (const char *[]){"$SYS/x", NULL});
    check_matches("$SYS/#", (const char *[]){"$SYS", "$SYS/broker/uptime", NULL},
                  (const char *[]){"SYS/x", NULL});
    check_matches("$SYS/+", (const char *[]){"$SYS/x", NULL}, (const char *[]){"$SYS/x/y", NULL});
}

static void test_shared_group_delivers_to_one_member_in_turn(void)
{
    subs_fx_t f;
    sf_open(&f);
    CU_ASSERT_EQUAL(add(&f, "$share/g/t/+", 0, 1, 0), 1);
    CU_ASSERT_EQUAL(add(&f, "$share/g/t/+", 1, 1, 0), 1);
    CU_ASSERT_EQUAL(add(&f, "t/+", 2, 0, 0), 1); /* an ordinary subscriber sees all */
    int got[2] = {0, 0};
    for (int i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL_FATAL(match(&f, "t/x", NULL), 2);
        int plain = 0, shared = 0;
        for (uint32_t k = 0; k < f.m.n; k++) {
            brk_match_t *m = &f.m.v[k];
            if (!m->share) {
                CU_ASSERT_PTR_EQUAL(m->s, f.s[2]);
                plain++;
                continue;
            }
            shared++;
            CU_ASSERT_EQUAL(m->share->len, strlen("$share/g/t/+"));
            CU_ASSERT_EQUAL(memcmp(m->share->filter, "$share/g/t/+", m->share->len), 0);
            if (m->s == f.s[0]) got[0]++;
            if (m->s == f.s[1]) got[1]++;
        }
        CU_ASSERT_EQUAL(plain, 1);
        CU_ASSERT_EQUAL(shared, 1);
    }
    CU_ASSERT_EQUAL(got[0], 3);
    CU_ASSERT_EQUAL(got[1], 3);
    CU_ASSERT_EQUAL(match(&f, "$share/g/t/x", NULL), 0); /* the prefix is not a topic level */
    sf_close(&f);
}

static void test_each_shared_group_gets_its_own_copy(void)
{
    subs_fx_t f;
    sf_open(&f);
    CU_ASSERT_EQUAL(add(&f, "$share/g1/t/#", 0, 1, 0), 1);
    CU_ASSERT_EQUAL(add(&f, "$share/g2/t/#", 1, 1, 0), 1);
    CU_ASSERT_EQUAL(match(&f, "t/x/y", NULL), 2);
    CU_ASSERT_EQUAL(brk_subs_count(f.fx.b->subs), 2);
    /* the last member leaving removes its group; the other stays */
    CU_ASSERT_TRUE(del(&f, "$share/g1/t/#", 0));
    CU_ASSERT_FALSE(del(&f, "$share/g1/t/#", 0));
    CU_ASSERT_EQUAL(match(&f, "t/x/y", NULL), 1);
    CU_ASSERT_PTR_EQUAL(f.m.v[0].s, f.s[1]);
    sf_close(&f);
}

static bool has_id(const brk_match_t *m, uint32_t id)
{
    for (uint8_t i = 0; i < m->n_sub_ids; i++)
        if (m->sub_ids[i] == id) return true;
    return false;
}

static void test_overlapping_subscriptions_merge_to_highest_qos_and_every_id(void)
{
    subs_fx_t f;
    sf_open(&f);
    CU_ASSERT_EQUAL(add(&f, "a/+", 0, 0, 1), 1);
    CU_ASSERT_EQUAL(add(&f, "a/b", 0, 2, 2), 1);
    CU_ASSERT_EQUAL(add(&f, "#", 0, 1 | MQTT_SUBOPT_RAP, 3), 1);
    CU_ASSERT_EQUAL(add(&f, "a/b", 1, 1, 0), 1);
    CU_ASSERT_EQUAL_FATAL(match(&f, "a/b", NULL), 2);
    for (uint32_t k = 0; k < f.m.n; k++) {
        brk_match_t *m = &f.m.v[k];
        if (m->s == f.s[0]) {
            CU_ASSERT_EQUAL(m->qos, 2);
            CU_ASSERT_TRUE(m->rap);
            CU_ASSERT_EQUAL(m->n_sub_ids, 3);
            CU_ASSERT_TRUE(has_id(m, 1) && has_id(m, 2) && has_id(m, 3));
        } else {
            CU_ASSERT_PTR_EQUAL(m->s, f.s[1]);
            CU_ASSERT_EQUAL(m->qos, 1);
            CU_ASSERT_EQUAL(m->n_sub_ids, 0);
        }
    }
    sf_close(&f);
}

static void test_resubscribe_replaces_options_without_adding(void)
{
    subs_fx_t f;
    sf_open(&f);
    CU_ASSERT_EQUAL(add(&f, "a/b", 0, 0, 0), 1);
    CU_ASSERT_EQUAL(add(&f, "a/b", 0, 2, 7), 0);
    CU_ASSERT_EQUAL(brk_subs_count(f.fx.b->subs), 1);
    CU_ASSERT_EQUAL_FATAL(match(&f, "a/b", NULL), 1);
    CU_ASSERT_EQUAL(f.m.v[0].qos, 2);
    CU_ASSERT_EQUAL(f.m.v[0].n_sub_ids, 1);
    CU_ASSERT_EQUAL(f.m.v[0].sub_ids[0], 7);
    sf_close(&f);
}

static void test_no_local_skips_only_the_publishing_session(void)
{
    subs_fx_t f;
    sf_open(&f);
    CU_ASSERT_EQUAL(add(&f, "chat/#", 0, 1 | MQTT_SUBOPT_NO_LOCAL, 0), 1);
    CU_ASSERT_EQUAL(add(&f, "chat/#", 1, 1, 0), 1);
    CU_ASSERT_EQUAL(match(&f, "chat/room", f.s[0]), 1);
    CU_ASSERT_PTR_EQUAL(f.m.v[0].s, f.s[1]);
    CU_ASSERT_EQUAL(match(&f, "chat/room", f.s[1]), 2);
    CU_ASSERT_EQUAL(match(&f, "chat/room", NULL), 2);
    sf_close(&f);
}

static void test_unsubscribe_keeps_siblings_and_parents(void)
{
    subs_fx_t f;
    sf_open(&f);
    CU_ASSERT_EQUAL(add(&f, "a/b/c", 0, 1, 0), 1);
    CU_ASSERT_EQUAL(add(&f, "a/b", 0, 1, 0), 1);
    CU_ASSERT_EQUAL(add(&f, "a/b/d", 1, 1, 0), 1);
    CU_ASSERT_FALSE(del(&f, "a/b/c", 1)); /* not its subscription */
    CU_ASSERT_FALSE(del(&f, "a/x", 0));   /* no such filter */
    CU_ASSERT_TRUE(del(&f, "a/b/c", 0));
    CU_ASSERT_EQUAL(match(&f, "a/b/c", NULL), 0);
    CU_ASSERT_EQUAL(match(&f, "a/b", NULL), 1);
    CU_ASSERT_EQUAL(match(&f, "a/b/d", NULL), 1);
    CU_ASSERT_TRUE(del(&f, "a/b", 0));
    CU_ASSERT_EQUAL(match(&f, "a/b/d", NULL), 1);
    CU_ASSERT_TRUE(del(&f, "a/b/d", 1));
    CU_ASSERT_EQUAL(brk_subs_count(f.fx.b->subs), 0);
    /* pruned paths can be built again */
    CU_ASSERT_EQUAL(add(&f, "a/b/c", 0, 1, 0), 1);
    CU_ASSERT_EQUAL(match(&f, "a/b/c", NULL), 1);
    sf_close(&f);
}

/* Pruning is visible from outside as memory: a trie that kept its empty
 * nodes would hold on to several allocations per filter. */
static void test_unsubscribe_prunes_empty_nodes(void)
{
    enum { N = 2000 };
    subs_fx_t f;
    sf_open(&f);
    char filter[64];
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < N; i++) {
        snprintf(filter, sizeof(filter), "prune/%d/level/%d/x", i, i);
        CU_ASSERT_EQUAL(add(&f, filter, i % 4, 1, 0), 1);
    }
    size_t full = mallinfo2().uordblks;
    for (int i = 0; i < N; i++) {
        snprintf(filter, sizeof(filter), "prune/%d/level/%d/x", i, i);
        CU_ASSERT_TRUE(del(&f, filter, i % 4));
    }
    size_t after = mallinfo2().uordblks;
    CU_ASSERT_EQUAL(brk_subs_count(f.fx.b->subs), 0);
    CU_ASSERT_EQUAL(match(&f, "prune/1/level/1/x", NULL), 0);
    /* sanitizer builds allocate outside glibc's arenas: nothing to see */
    if (full > before + (size_t)N * 4 * 64) {
        size_t grown = full - before, kept = after > before ? after - before : 0;
        if (kept * 50 >= grown)
            fprintf(stderr, "\n  kept %zu of %zu bytes after unsubscribing\n", kept, grown);
        CU_ASSERT(kept * 50 < grown);
    }
    sf_close(&f);
}

void add_subs_tests(void)
{
    CU_pSuite s = CU_add_suite("broker_subs", NULL, NULL);
    CU_add_test(s, "plus_matches_exactly_one_level", test_plus_matches_exactly_one_level);
    CU_add_test(s, "hash_matches_parent_and_every_descendant",
                test_hash_matches_parent_and_every_descendant);
    CU_add_test(s, "exact_filter_matches_only_its_topic", test_exact_filter_matches_only_its_topic);
    CU_add_test(s, "dollar_topics_are_excluded_from_first_level_wildcards",
                test_dollar_topics_are_excluded_from_first_level_wildcards);
    CU_add_test(s, "shared_group_delivers_to_one_member_in_turn",
                test_shared_group_delivers_to_one_member_in_turn);
    CU_add_test(s, "each_shared_group_gets_its_own_copy", test_each_shared_group_gets_its_own_copy);
    CU_add_test(s, "overlapping_subscriptions_merge_to_highest_qos_and_every_id",
                test_overlapping_subscriptions_merge_to_highest_qos_and_every_id);
    CU_add_test(s, "resubscribe_replaces_options_without_adding",
                test_resubscribe_replaces_options_without_adding);
    CU_add_test(s, "no_local_skips_only_the_publishing_session",
                test_no_local_skips_only_the_publishing_session);
    CU_add_test(s, "unsubscribe_keeps_siblings_and_parents",
                test_unsubscribe_keeps_siblings_and_parents);
    CU_add_test(s, "unsubscribe_prunes_empty_nodes", test_unsubscribe_prunes_empty_nodes);
}
