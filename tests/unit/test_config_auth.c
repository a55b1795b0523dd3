/*
 * test_config_auth.c - the "auth" objects: values, defaults and the
 * mqtt.allow_anonymous alias (the error table lives in test_config.c).
 */
#include <CUnit/Basic.h>
#include <string.h>

#include "config.h"

void test_config_auth_register(CU_pSuite s);

static cfg_t *parse(const char *json)
{
    char err[512] = "";
    cfg_t *c = NULL;
    int rc = cfg_parse("auth.json", json, strlen(json), &c, err, sizeof(err));
    if (rc != CFG_OK) fprintf(stderr, "unexpected error: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, CFG_OK);
    return c;
}

static void test_defaults(void)
{
    cfg_t *c = parse("{}");
    CU_ASSERT(c->auth.allow_anonymous);
    CU_ASSERT_PTR_NULL(c->auth.password_file);
    CU_ASSERT(!c->auth.has_acl);
    CU_ASSERT_PTR_NULL(c->listeners[0].auth);
    cfg_free(c);
}

static void test_alias_and_password_default(void)
{
    cfg_t *c = parse("{\"mqtt\":{\"allow_anonymous\":false}}");
    CU_ASSERT(!c->auth.allow_anonymous); /* the older name still works */
    cfg_free(c);
    c = parse("{\"auth\":{\"password_file\":\"p\"}}");
    CU_ASSERT(!c->auth.allow_anonymous); /* a password file refuses anonymous by default */
    CU_ASSERT(!c->mqtt.allow_anonymous);
    cfg_free(c);
    c = parse("{\"auth\":{\"password_file\":\"p\",\"allow_anonymous\":true}}");
    CU_ASSERT(c->auth.allow_anonymous);
    cfg_free(c);
    c = parse("{\"mqtt\":{\"allow_anonymous\":true},\"auth\":{\"password_file\":\"p\"}}");
    CU_ASSERT(c->auth.allow_anonymous); /* explicit old key wins over the default */
    cfg_free(c);
}

static void test_inline_rules(void)
{
    cfg_t *c = parse("{\"auth\":{\"acl_file\":\"a\",\"acl\":["
                     "{\"topic\":\"x/#\"},"
                     "{\"user\":\"u\",\"topic\":\"y\",\"access\":\"read\"},"
                     "{\"pattern\":\"d/%c/#\",\"access\":\"write\"},"
                     "{\"topic\":\"z\",\"access\":\"deny\"}]}}");
    CU_ASSERT(c->auth.has_acl);
    CU_ASSERT_STRING_EQUAL(c->auth.acl_file, "a");
    CU_ASSERT_EQUAL_FATAL(c->auth.n_acl, 4);
    CU_ASSERT_PTR_NULL(c->auth.acl[0].user);
    CU_ASSERT_EQUAL(c->auth.acl[0].access, CFG_ACL_READWRITE);
    CU_ASSERT_STRING_EQUAL(c->auth.acl[1].user, "u");
    CU_ASSERT_EQUAL(c->auth.acl[1].access, CFG_ACL_READ);
    CU_ASSERT(c->auth.acl[2].pattern);
    CU_ASSERT_STRING_EQUAL(c->auth.acl[2].filter, "d/%c/#");
    CU_ASSERT_EQUAL(c->auth.acl[2].access, CFG_ACL_WRITE);
    CU_ASSERT_EQUAL(c->auth.acl[3].access, CFG_ACL_DENY);
    cfg_free(c);
    c = parse("{\"auth\":{\"acl\":[]}}");
    CU_ASSERT(c->auth.has_acl); /* an empty rule list still means "deny the rest" */
    cfg_free(c);
}

static void test_listener_auth(void)
{
    cfg_t *c = parse("{\"listeners\":[{\"protocol\":\"mqtt\",\"bind\":\"h:1\"},"
                     "{\"protocol\":\"mqtt\",\"bind\":\"h:2\",\"auth\":{\"password_file\":\"p\"}},"
                     "{\"protocol\":\"ws\",\"bind\":\"h:3\",\"auth\":{}}]}");
    CU_ASSERT_PTR_NULL(c->listeners[0].auth);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->listeners[1].auth);
    CU_ASSERT_STRING_EQUAL(c->listeners[1].auth->password_file, "p");
    CU_ASSERT(!c->listeners[1].auth->allow_anonymous);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->listeners[2].auth);
    CU_ASSERT(c->listeners[2].auth->allow_anonymous);
    cfg_free(c);
}

void test_config_auth_register(CU_pSuite s)
{
    CU_add_test(s, "auth_defaults", test_defaults);
    CU_add_test(s, "auth_alias_and_password_default", test_alias_and_password_default);
    CU_add_test(s, "auth_inline_rules", test_inline_rules);
    CU_add_test(s, "auth_listener_replaces_top", test_listener_auth);
}
