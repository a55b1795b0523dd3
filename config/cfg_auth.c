/*
 * cfg_auth.c - the "auth" objects: top-level and per listener.
 *
 * Only names and inline rules are checked here; the password and ACL files
 * are read (and their lines reported) by the broker at start. The rule for
 * allow_anonymous: an explicit value wins; otherwise an auth object with a
 * password_file refuses anonymous clients (as Mosquitto 2.0 does), and the
 * top-level one falls back to the older mqtt.allow_anonymous.
 */
#include <stdlib.h>
#include <string.h>

#include "cfg_internal.h"

static const char *const access_names[] = {"deny", "read", "write", "readwrite", NULL};

static int parse_rule(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_acl_rule_t *r)
{
    static const char *const keys[] = {"user", "topic", "pattern", "access", NULL};
    char where[CFG_PATH_MAX];
    char *topic = NULL, *pattern = NULL;
    int rc, access = CFG_ACL_READWRITE;

    if (!cJSON_IsObject(o))
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected rule object, got %s", cfg_type_name(o));
    if ((rc = cfg_check_object(ctx, o, path, keys))) return rc;
    if ((rc = cfg_get_str(ctx, o, path, "user", CFG_STR_NONEMPTY, &r->user))) return rc;
    if ((rc = cfg_get_str(ctx, o, path, "topic", CFG_STR_NONEMPTY, &topic))) return rc;
    if ((rc = cfg_get_str(ctx, o, path, "pattern", CFG_STR_NONEMPTY, &pattern))) {
        free(topic);
        return rc;
    }
    if (!topic == !pattern) {
        free(topic);
        free(pattern);
        return cfg_fail(ctx, CFG_ERR_FIELD, path,
                        "expected exactly one of \"topic\" or \"pattern\"");
    }
    r->pattern = pattern != NULL;
    r->filter = topic ? topic : pattern;
    long levels;
    const char *why = cfg_filter_problem(r->filter, &levels);
    if (why) {
        cfg_path_key(where, path, r->pattern ? "pattern" : "topic");
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected MQTT topic filter (%s), got \"%.64s\"",
                        why, r->filter);
    }
    if (r->pattern && r->user) {
        cfg_path_key(where, path, "user");
        return cfg_fail(ctx, CFG_ERR_FIELD, where,
                        "a pattern applies to every client (use \"topic\" with \"user\")");
    }
    if ((rc = cfg_get_enum(ctx, o, path, "access", access_names, &access))) return rc;
    r->access = (uint8_t)access;
    return CFG_OK;
}

static int parse_rules(cfg_ctx_t *ctx, const cJSON *arr, const char *path, cfg_auth_t *a)
{
    if (!cJSON_IsArray(arr))
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected array of rule objects, got %s",
                        cfg_type_name(arr));
    size_t n = (size_t)cJSON_GetArraySize(arr);
    a->has_acl = true;
    if (!n) return CFG_OK;
    if (!(a->acl = calloc(n, sizeof(*a->acl)))) return cfg_nomem(ctx);
    a->n_acl = n;
    size_t i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char where[CFG_PATH_MAX];
        int rc;
        cfg_path_index(where, path, i);
        if ((rc = parse_rule(ctx, o, where, &a->acl[i]))) return rc;
    }
    return CFG_OK;
}

static const char *const fail_names[] = {"closed", "open", NULL};

static int parse_http(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_auth_t *a)
{
    static const char *const keys[] = {"url",          "acl_url", "timeout_ms", "max_inflight",
                                       "cache_ttl_ms", "fail",    NULL};
    int rc, fail = 0;
    if (!cJSON_IsObject(o))
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected object, got %s", cfg_type_name(o));
    if ((rc = cfg_check_object(ctx, o, path, keys))) return rc;
    cfg_auth_http_t *h = calloc(1, sizeof(*h));
    if (!h) return cfg_nomem(ctx);
    a->http = h;
    *h = (cfg_auth_http_t){.timeout_ms = 5000, .max_inflight = 8, .cache_ttl_ms = 60000};
    if ((rc = cfg_get_str(ctx, o, path, "url", CFG_STR_NONEMPTY, &h->url)) ||
        (rc = cfg_get_str(ctx, o, path, "acl_url", CFG_STR_NONEMPTY, &h->acl_url)) ||
        (rc = cfg_get_u32(ctx, o, path, "timeout_ms", 10, 60000, &h->timeout_ms)) ||
        (rc = cfg_get_u32(ctx, o, path, "max_inflight", 1, 64, &h->max_inflight)) ||
        (rc = cfg_get_u32(ctx, o, path, "cache_ttl_ms", 0, 86400000, &h->cache_ttl_ms)) ||
        (rc = cfg_get_enum(ctx, o, path, "fail", fail_names, &fail)))
        return rc;
    h->fail_open = fail == 1;
    if (!h->url && !h->acl_url)
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected \"url\" or \"acl_url\" (or both)");
    return CFG_OK;
}

/* One auth object into a (already zeroed); *anon_set says whether
 * allow_anonymous was given. */
static int parse_obj(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_auth_t *a,
                     bool *anon_set)
{
    static const char *const keys[] = {
        "allow_anonymous", "password_file", "acl_file", "acl", "http", NULL};
    char where[CFG_PATH_MAX];
    int rc;
    if (!cJSON_IsObject(o))
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected object, got %s", cfg_type_name(o));
    if ((rc = cfg_check_object(ctx, o, path, keys))) return rc;
    *anon_set = cJSON_GetObjectItemCaseSensitive(o, "allow_anonymous") != NULL;
    if ((rc = cfg_get_bool(ctx, o, path, "allow_anonymous", &a->allow_anonymous)) ||
        (rc = cfg_get_str(ctx, o, path, "password_file", CFG_STR_NONEMPTY, &a->password_file)) ||
        (rc = cfg_get_str(ctx, o, path, "acl_file", CFG_STR_NONEMPTY, &a->acl_file)))
        return rc;
    if (a->acl_file) a->has_acl = true;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "acl");
    cfg_path_key(where, path, "acl");
    if (v && (rc = parse_rules(ctx, v, where, a))) return rc;
    v = cJSON_GetObjectItemCaseSensitive(o, "http");
    cfg_path_key(where, path, "http");
    if (v && (rc = parse_http(ctx, v, where, a))) return rc;
    if (a->http && a->http->url && a->password_file)
        return cfg_fail(ctx, CFG_ERR_FIELD, where,
                        "\"url\" and \"password_file\" both check passwords: keep one (a "
                        "listener's own \"auth\" can use the other)");
    return CFG_OK;
}

/* Whether a client with a user name must prove it (anonymous refused by
 * default, as Mosquitto 2.0 does with a password file). */
static bool checks_passwords(const cfg_auth_t *a)
{
    return a->password_file || (a->http && a->http->url);
}

int cfg_parse_listener_auth(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_auth_t **out)
{
    bool anon_set = false;
    cfg_auth_t *a = calloc(1, sizeof(*a));
    if (!a) return cfg_nomem(ctx);
    *out = a; /* freed with the listener on any error */
    int rc = parse_obj(ctx, o, path, a, &anon_set);
    if (rc) return rc;
    if (!anon_set) a->allow_anonymous = !checks_passwords(a);
    return CFG_OK;
}

int cfg_parse_auth(cfg_ctx_t *ctx, const cJSON *root, cfg_t *cfg)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "auth");
    const cJSON *mq = cJSON_GetObjectItemCaseSensitive(root, "mqtt");
    bool old_set = mq && cJSON_GetObjectItemCaseSensitive(mq, "allow_anonymous");
    bool anon_set = false;
    cfg->auth.allow_anonymous = cfg->mqtt.allow_anonymous;
    if (!o) return CFG_OK;
    int rc = parse_obj(ctx, o, "auth", &cfg->auth, &anon_set);
    if (rc) return rc;
    if (anon_set && old_set && cfg->auth.allow_anonymous != cfg->mqtt.allow_anonymous)
        return cfg_fail(ctx, CFG_ERR_FIELD, "auth.allow_anonymous",
                        "contradicts mqtt.allow_anonymous (an older name for it; keep one)");
    if (!anon_set)
        cfg->auth.allow_anonymous =
            old_set ? cfg->mqtt.allow_anonymous : !checks_passwords(&cfg->auth);
    cfg->mqtt.allow_anonymous = cfg->auth.allow_anonymous; /* the alias reads the same */
    return CFG_OK;
}

void cfg_free_auth(cfg_auth_t *a)
{
    if (!a) return;
    free(a->password_file);
    free(a->acl_file);
    for (size_t i = 0; i < a->n_acl; i++) {
        free(a->acl[i].user);
        free(a->acl[i].filter);
    }
    free(a->acl);
    if (a->http) {
        free(a->http->url);
        free(a->http->acl_url);
        free(a->http);
    }
    memset(a, 0, sizeof(*a));
}

char *cfg_http_auth_body(const char *const *keys, const char *const *values, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    char *out = NULL;
    for (size_t i = 0; o && i < n; i++) {
        cJSON *v = values[i] ? cJSON_CreateString(values[i]) : cJSON_CreateNull();
        if (!v || !cJSON_AddItemToObject(o, keys[i], v)) {
            cJSON_Delete(v);
            goto done;
        }
    }
    if (o) out = cJSON_PrintUnformatted(o);
done:
    cJSON_Delete(o);
    return out;
}

int cfg_http_auth_reply(const char *body, size_t len, bool *superuser)
{
    *superuser = false;
    if (!body || !len) return -1;
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "result");
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(o, "is_superuser");
    int verdict = -1;
    if (cJSON_IsString(r) && !strcmp(r->valuestring, "allow")) verdict = 1;
    if (cJSON_IsString(r) && !strcmp(r->valuestring, "deny")) verdict = 0;
    *superuser = verdict == 1 && cJSON_IsTrue(su);
    cJSON_Delete(o);
    return verdict;
}
