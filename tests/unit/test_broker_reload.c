/*
 * test_broker_reload.c - brk_auth_reload (broker/acl.c): new ACL rules
 * swapped in while identities made before it are alive; they move to the
 * new rules at their next check, a bad reload changes nothing, and the old
 * state is freed only when the last identity lets go (run under ASan via
 * the sanitize build to see that). Registered by test_broker_acl.c.
 */
#define _DEFAULT_SOURCE /* mkstemp */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acl.h"

static char dir[] = "/tmp/sluice-reload-XXXXXX";

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* A config with n listeners whose top-level auth reads the file "acl". */
static cfg_t *config(int n)
{
    char json[1024], path[256], err[256];
    snprintf(json, sizeof(json),
             "{\"listeners\":[{\"protocol\":\"mqtt\",\"bind\":\"127.0.0.1:1\"}%s],"
             "\"auth\":{\"acl_file\":\"%s/acl\"}}",
             n > 1 ? ",{\"protocol\":\"mqtt\",\"bind\":\"127.0.0.1:2\"}" : "", dir);
    put("sluice.json", json);
    snprintf(path, sizeof(path), "%s/sluice.json", dir);
    cfg_t *cfg = NULL;
    CU_ASSERT_EQUAL_FATAL(cfg_load(path, &cfg, err, sizeof(err)), CFG_OK);
    return cfg;
}

static int pub(brk_acl_id_t *id, const char *topic)
{
    return brk_acl_check(id, topic, (uint16_t)strlen(topic), BRK_ACL_PUBLISH);
}

static void test_reload_moves_identities(void)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char err[256];
    put("acl", "user alice\ntopic write a/#\n");
    cfg_t *c1 = config(1);
    brk_auth_t *a = brk_auth_open(c1, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    brk_acl_id_t *old = brk_acl_id_new(a, 0, "alice", "c1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(old);
    CU_ASSERT_EQUAL(pub(old, "a/x"), BRK_ACL_ALLOW);
    CU_ASSERT_EQUAL(pub(old, "b/x"), BRK_ACL_DENY);

    /* the rights change: the identity made before sees the new ones */
    put("acl", "user alice\ntopic write b/#\n");
    cfg_t *c2 = config(1);
    CU_ASSERT_EQUAL_FATAL(brk_auth_reload(a, c2, true, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(pub(old, "a/x"), BRK_ACL_DENY);
    CU_ASSERT_EQUAL(pub(old, "b/x"), BRK_ACL_ALLOW);
    brk_acl_id_t *fresh = brk_acl_id_new(a, 0, "alice", "c2");
    CU_ASSERT_EQUAL(pub(fresh, "b/x"), BRK_ACL_ALLOW);

    /* a bad file: refused with its line, nothing changes */
    put("acl", "user alice\ntopic write b/#/c\n");
    cfg_t *c3 = config(1);
    CU_ASSERT_EQUAL(brk_auth_reload(a, c3, true, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "acl:2"));
    cfg_free(c3);
    CU_ASSERT_EQUAL(pub(old, "b/x"), BRK_ACL_ALLOW);

    /* listeners changed, or ACLs turned on from off: restart needed */
    put("acl", "user alice\ntopic write c/#\n");
    cfg_t *c4 = config(2);
    CU_ASSERT_EQUAL(brk_auth_reload(a, c4, true, err, sizeof(err)), -1);
    cfg_free(c4);
    cfg_t *c5 = config(1);
    CU_ASSERT_EQUAL(brk_auth_reload(a, c5, false, err, sizeof(err)), -1);
    cfg_free(c5);
    CU_ASSERT_EQUAL(pub(fresh, "c/x"), BRK_ACL_DENY);

    brk_acl_id_free(old);
    brk_acl_id_free(fresh);
    brk_auth_close(a); /* c2 went with the state that owned it */
    cfg_free(c1);
    char path[256];
    snprintf(path, sizeof(path), "%s/acl", dir);
    remove(path);
    snprintf(path, sizeof(path), "%s/sluice.json", dir);
    remove(path);
    rmdir(dir);
}

int broker_reload_suite(void)
{
    CU_pSuite s = CU_add_suite("broker_reload", NULL, NULL);
    return s && CU_add_test(s, "reload_moves_identities", test_reload_moves_identities) ? 0 : -1;
}
