/*
 * test_broker_acl.c - the ACL decisions of broker/auth_acl.c on their own:
 * rules as config/ hands them over, one view per client, every access kind.
 * The black-box suite (tests/integration/test_auth.py) checks the sites.
 */
#define _DEFAULT_SOURCE /* mkstemp */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

#define R(u, f, a)                                                                                 \
    {                                                                                              \
        (char *)(u), (char *)(f), false, (a)                                                       \
    }
#define P(f, a)                                                                                    \
    {                                                                                              \
        NULL, (char *)(f), true, (a)                                                               \
    }

static cfg_acl_rule_t rules[] = {
    R(NULL, "public/#", CFG_ACL_READ),          R("alice", "alice/#", CFG_ACL_READWRITE),
    R("alice", "alice/secret/#", CFG_ACL_DENY), R("alice", "cmd/+/set", CFG_ACL_WRITE),
    R("ops", "$SYS/#", CFG_ACL_READ),           R("ops", "#", CFG_ACL_READ),
    P("devices/%c/#", CFG_ACL_READWRITE),       P("users/%u", CFG_ACL_READ),
};

static brk_acl_rules_t *load(void)
{
    cfg_auth_t a = {.acl = rules, .n_acl = sizeof(rules) / sizeof(rules[0]), .has_acl = true};
    brk_acl_rules_t *r = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(brk_acl_rules_load(&a, &r, err, sizeof(err)), 0);
    return r;
}

static bool ok(brk_acl_view_t *v, const char *t, brk_acl_access_t a)
{
    return brk_acl_view_allows(v, t, (uint16_t)strlen(t), a);
}

static void test_topics(void)
{
    brk_acl_rules_t *r = load();
    brk_acl_view_t *v = brk_acl_view_new(r, "alice", "d1");
    CU_ASSERT(ok(v, "alice/x", BRK_ACL_PUBLISH));
    CU_ASSERT(ok(v, "alice", BRK_ACL_RECEIVE)); /* "x/#" matches "x" */
    CU_ASSERT(!ok(v, "alice/secret/k", BRK_ACL_RECEIVE));
    CU_ASSERT(!ok(v, "alice/secret", BRK_ACL_PUBLISH));
    CU_ASSERT(ok(v, "cmd/7/set", BRK_ACL_WILL));
    CU_ASSERT(!ok(v, "cmd/7/set", BRK_ACL_RETAINED)); /* write only */
    CU_ASSERT(!ok(v, "public/x", BRK_ACL_RECEIVE));   /* anonymous section only */
    CU_ASSERT(ok(v, "devices/d1/t", BRK_ACL_PUBLISH));
    CU_ASSERT(!ok(v, "devices/d2/t", BRK_ACL_PUBLISH));
    CU_ASSERT(ok(v, "users/alice", BRK_ACL_RECEIVE));
    CU_ASSERT(!ok(v, "users/bob", BRK_ACL_RECEIVE));
    brk_acl_view_free(v);

    v = brk_acl_view_new(r, NULL, "d2"); /* anonymous */
    CU_ASSERT(ok(v, "public/a/b", BRK_ACL_RECEIVE));
    CU_ASSERT(!ok(v, "public/a", BRK_ACL_PUBLISH));
    CU_ASSERT(ok(v, "devices/d2/x", BRK_ACL_PUBLISH));
    CU_ASSERT(!ok(v, "users/", BRK_ACL_RECEIVE)); /* %u needs a user name */
    brk_acl_view_free(v);

    v = brk_acl_view_new(r, "ops", "x");
    CU_ASSERT(ok(v, "$SYS/broker/uptime", BRK_ACL_RECEIVE));
    CU_ASSERT(ok(v, "a/b", BRK_ACL_RECEIVE));
    brk_acl_view_free(v);

    v = brk_acl_view_new(r, "nobody", "x"); /* a user with no section */
    CU_ASSERT(!ok(v, "public/x", BRK_ACL_RECEIVE));
    CU_ASSERT(ok(v, "devices/x/1", BRK_ACL_RECEIVE));
    brk_acl_view_free(v);
    brk_acl_rules_free(r);
}

static void test_subscribe_filters(void)
{
    brk_acl_rules_t *r = load();
    brk_acl_view_t *v = brk_acl_view_new(r, "alice", "d1");
    CU_ASSERT(ok(v, "#", BRK_ACL_SUBSCRIBE));               /* overlaps alice/# */
    CU_ASSERT(ok(v, "+/x", BRK_ACL_SUBSCRIBE));             /* alice/x */
    CU_ASSERT(ok(v, "alice/+", BRK_ACL_SUBSCRIBE));         /* alice/secret is denied, others not */
    CU_ASSERT(!ok(v, "alice/secret/#", BRK_ACL_SUBSCRIBE)); /* covered by the deny */
    CU_ASSERT(!ok(v, "alice/secret/+/z", BRK_ACL_SUBSCRIBE));
    CU_ASSERT(!ok(v, "bob/#", BRK_ACL_SUBSCRIBE));
    CU_ASSERT(!ok(v, "cmd/+/set", BRK_ACL_SUBSCRIBE)); /* write only */
    CU_ASSERT(!ok(v, "$SYS/#", BRK_ACL_SUBSCRIBE));
    CU_ASSERT(ok(v, "devices/d1/#", BRK_ACL_SUBSCRIBE));
    CU_ASSERT(ok(v, "devices/+/t", BRK_ACL_SUBSCRIBE)); /* devices/d1/t */
    brk_acl_view_free(v);

    v = brk_acl_view_new(r, "ops", "o");
    CU_ASSERT(ok(v, "$SYS/#", BRK_ACL_SUBSCRIBE));
    CU_ASSERT(ok(v, "#", BRK_ACL_SUBSCRIBE));
    brk_acl_view_free(v);
    brk_acl_rules_free(r);
}

static void test_unsafe_substitution_skipped(void)
{
    brk_acl_rules_t *r = load();
    /* a client id with a wildcard or a level separator must not widen
     * "devices/%c/#" */
    const char *bad[] = {"+", "#", "a/b"};
    for (int i = 0; i < 3; i++) {
        brk_acl_view_t *v = brk_acl_view_new(r, NULL, bad[i]);
        CU_ASSERT(!ok(v, "devices/a/b/c", BRK_ACL_PUBLISH));
        CU_ASSERT(!ok(v, "devices/#", BRK_ACL_SUBSCRIBE));
        brk_acl_view_free(v);
    }
    brk_acl_rules_free(r);
}

static void test_empty_rules_deny_everything(void)
{
    cfg_auth_t a = {.has_acl = true};
    brk_acl_rules_t *r = NULL;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(brk_acl_rules_load(&a, &r, err, sizeof(err)), 0);
    brk_acl_view_t *v = brk_acl_view_new(r, "u", "c");
    for (int k = BRK_ACL_PUBLISH; k <= BRK_ACL_WILL; k++)
        CU_ASSERT(!ok(v, k == BRK_ACL_SUBSCRIBE ? "#" : "a/b", (brk_acl_access_t)k));
    brk_acl_view_free(v);
    brk_acl_rules_free(r);
}

static void test_file_errors(void)
{
    char path[] = "/tmp/sluice-acl-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# c\n\ntopic read a/#\nuser x\ntopic deny b\ntopic a/+/#/c\n", f);
    fclose(f);
    cfg_auth_t a = {.acl_file = path, .has_acl = true};
    brk_acl_rules_t *r = NULL;
    char err[512], want[600];
    CU_ASSERT_NOT_EQUAL(brk_acl_rules_load(&a, &r, err, sizeof(err)), 0);
    snprintf(want, sizeof(want), "%s:6: expected a valid MQTT topic filter", path);
    CU_ASSERT_STRING_EQUAL(err, want);
    f = fopen(path, "w");
    fputs("topic read a b c\npattern write x/%u\n", f); /* a filter with spaces is fine */
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(brk_acl_rules_load(&a, &r, err, sizeof(err)), 0);
    brk_acl_view_t *v = brk_acl_view_new(r, "me", "c");
    CU_ASSERT(!ok(v, "a b c", BRK_ACL_RECEIVE)); /* the anonymous section */
    CU_ASSERT(ok(v, "x/me", BRK_ACL_PUBLISH));
    brk_acl_view_free(v);
    v = brk_acl_view_new(r, NULL, "c");
    CU_ASSERT(ok(v, "a b c", BRK_ACL_RECEIVE));
    brk_acl_view_free(v);
    brk_acl_rules_free(r);
    remove(path);
}

int broker_reload_suite(void); /* test_broker_reload.c */

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("broker_acl", NULL, NULL);
    if (!s || !CU_add_test(s, "topics", test_topics) ||
        !CU_add_test(s, "subscribe_filters", test_subscribe_filters) ||
        !CU_add_test(s, "unsafe_substitution_skipped", test_unsafe_substitution_skipped) ||
        !CU_add_test(s, "empty_rules_deny_everything", test_empty_rules_deny_everything) ||
        !CU_add_test(s, "file_errors", test_file_errors) || broker_reload_suite()) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
