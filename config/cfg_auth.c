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

static const char *const alg_names[] = {"HS256", "HS384", "HS512", "RS256", "RS384",
                                        "RS512", "ES256", "ES384", NULL};

static int parse_algs(cfg_ctx_t *ctx, const cJSON *arr, const char *path, uint32_t *out)
{
    char where[CFG_PATH_MAX];
    if (!cJSON_IsArray(arr) || !cJSON_GetArraySize(arr))
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected non-empty array of algorithm names");
    size_t i = 0;
    for (const cJSON *v = arr->child; v; v = v->next, i++) {
        int k = 0;
        while (alg_names[k] && !(cJSON_IsString(v) && !strcmp(v->valuestring, alg_names[k])))
            k++;
        cfg_path_index(where, path, i);
        if (!alg_names[k])
            return cfg_fail(ctx, CFG_ERR_FIELD, where,
                            "expected one of HS256, HS384, HS512, RS256, RS384, RS512, ES256, "
                            "ES384 (\"none\" is never accepted)");
        *out |= 1u << k;
    }
    return CFG_OK;
}

static int parse_jwt(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_auth_t *a)
{
    static const char *const keys[] = {"secret",         "public_key", "jwks",     "algorithms",
                                       "username_claim", "acl_claim",  "leeway_s", NULL};
    char where[CFG_PATH_MAX];
    int rc;
    if (!cJSON_IsObject(o))
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected object, got %s", cfg_type_name(o));
    if ((rc = cfg_check_object(ctx, o, path, keys))) return rc;
    cfg_auth_jwt_t *j = calloc(1, sizeof(*j));
    if (!j) return cfg_nomem(ctx);
    a->jwt = j;
    j->leeway_s = 30;
    if ((rc = cfg_get_str(ctx, o, path, "secret", CFG_STR_NONEMPTY, &j->secret)) ||
        (rc = cfg_get_str(ctx, o, path, "public_key", CFG_STR_NONEMPTY, &j->public_key)) ||
        (rc = cfg_get_str(ctx, o, path, "jwks", CFG_STR_NONEMPTY, &j->jwks)) ||
        (rc = cfg_get_str(ctx, o, path, "username_claim", CFG_STR_NONEMPTY, &j->username_claim)) ||
        (rc = cfg_get_str(ctx, o, path, "acl_claim", CFG_STR_NONEMPTY, &j->acl_claim)) ||
        (rc = cfg_get_u32(ctx, o, path, "leeway_s", 0, 3600, &j->leeway_s)))
        return rc;
    if ((j->secret != NULL) + (j->public_key != NULL) + (j->jwks != NULL) != 1)
        return cfg_fail(ctx, CFG_ERR_FIELD, path,
                        "expected exactly one of \"secret\", \"public_key\" or \"jwks\"");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "algorithms");
    cfg_path_key(where, path, "algorithms");
    if (v && (rc = parse_algs(ctx, v, where, &j->algorithms))) return rc;
    uint32_t hs = CFG_JWT_HS256 | CFG_JWT_HS384 | CFG_JWT_HS512;
    if (!v) j->algorithms = j->secret ? CFG_JWT_HS256 : CFG_JWT_RS256 | CFG_JWT_ES256;
    if (j->secret ? (j->algorithms & ~hs) : (j->algorithms & hs))
        return cfg_fail(ctx, CFG_ERR_FIELD, where,
                        j->secret ? "a \"secret\" only verifies HS* algorithms"
                                  : "a public key only verifies RS*/ES* algorithms (HS* with a "
                                    "public key is the key-confusion attack)");
    return CFG_OK;
}

static int parse_cert(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_auth_t *a)
{
    static const char *const names[] = {"none", "cn", "san", NULL};
    bool as_user = false;
    int which = CFG_CERT_NONE, rc;
    if ((rc = cfg_get_bool(ctx, o, path, "use_identity_as_username", &as_user)) ||
        (rc = cfg_get_enum(ctx, o, path, "cert_identity", names, &which)))
        return rc;
    bool both = as_user && cJSON_GetObjectItemCaseSensitive(o, "cert_identity");
    if (both || (which && (a->password_file || a->jwt || (a->http && a->http->url)))) {
        char where[CFG_PATH_MAX];
        cfg_path_key(where, path, both ? "use_identity_as_username" : "cert_identity");
        return cfg_fail(ctx, CFG_ERR_FIELD, where,
                        both ? "\"cert_identity\" says it already (keep one)"
                             : "the certificate is the credential here: no \"password_file\", "
                               "\"jwt\" or \"http.url\" beside it");
    }
    a->cert_identity = (uint8_t)(as_user ? CFG_CERT_CN : which);
    return CFG_OK;
}

/* One auth object into a (already zeroed); *anon_set says whether
 * allow_anonymous was given. */
static int parse_obj(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_auth_t *a,
                     bool *anon_set)
{
    static const char *const keys[] = {
        "allow_anonymous",          "password_file", "acl_file", "acl", "http", "jwt",
        "use_identity_as_username", "cert_identity", NULL};
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
    v = cJSON_GetObjectItemCaseSensitive(o, "jwt");
    cfg_path_key(where, path, "jwt");
    if (v && (rc = parse_jwt(ctx, v, where, a))) return rc;
    if (a->jwt && (a->password_file || (a->http && a->http->url)))
        return cfg_fail(ctx, CFG_ERR_FIELD, where,
                        "\"jwt\" checks the password field: no \"password_file\" or "
                        "\"http.url\" beside it (a listener's own \"auth\" can use them)");
    cfg_path_key(where, path, "http");
    if (a->http && a->http->url && a->password_file)
        return cfg_fail(ctx, CFG_ERR_FIELD, where,
                        "\"url\" and \"password_file\" both check passwords: keep one (a "
                        "listener's own \"auth\" can use the other)");
    return parse_cert(ctx, o, path, a);
}

/* Whether a client with a user name must prove it (anonymous refused by
 * default, as Mosquitto 2.0 does with a password file). */
static bool checks_passwords(const cfg_auth_t *a)
{
    return a->password_file || (a->http && a->http->url) || a->jwt || a->cert_identity;
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
    if (a->jwt) {
        free(a->jwt->secret);
        free(a->jwt->public_key);
        free(a->jwt->jwks);
        free(a->jwt->username_claim);
        free(a->jwt->acl_claim);
        free(a->jwt);
    }
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

int cfg_http_auth_reply(const char *body, size_t len, bool *superuser, char **acl)
{
    *superuser = false;
    if (acl) *acl = NULL;
    if (!body || !len) return -1;
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "result");
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(o, "is_superuser");
    int verdict = -1;
    if (cJSON_IsString(r) && !strcmp(r->valuestring, "allow")) verdict = 1;
    if (cJSON_IsString(r) && !strcmp(r->valuestring, "deny")) verdict = 0;
    *superuser = verdict == 1 && cJSON_IsTrue(su);
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(o, "acl");
    if (acl && verdict == 1 && rules && !(*acl = cJSON_PrintUnformatted(rules)))
        verdict = 0; /* rules it could not keep: not an allow without them */
    cJSON_Delete(o);
    return verdict;
}

void cfg_auth_rules_free(cfg_acl_rule_t *rules, size_t n)
{
    for (size_t i = 0; rules && i < n; i++) {
        free(rules[i].user);
        free(rules[i].filter);
    }
    free(rules);
}

int cfg_jwt_acl_rules(const char *json, cfg_acl_rule_t **out, size_t *n)
{
    static const char *const names[] = {"pub", "sub", "all"};
    static const uint8_t access[] = {CFG_ACL_WRITE, CFG_ACL_READ, CFG_ACL_READWRITE};
    cJSON *o = cJSON_Parse(json);
    cfg_acl_rule_t *r = NULL;
    size_t count = 0, k = 0;
    if (!cJSON_IsObject(o)) goto fail;
    for (int i = 0; i < 3; i++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, names[i]);
        if (arr && !cJSON_IsArray(arr)) goto fail;
        count += (size_t)cJSON_GetArraySize(arr);
    }
    if (count > 1000 || !(r = calloc(count ? count : 1, sizeof(*r)))) goto fail;
    for (int i = 0; i < 3; i++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, names[i]);
        for (const cJSON *v = arr ? arr->child : NULL; v; v = v->next) {
            long levels;
            if (!cJSON_IsString(v) || cfg_filter_problem(v->valuestring, &levels)) goto fail;
            if (!(r[k].filter = cfg_strdup(v->valuestring))) goto fail;
            r[k++].access = access[i];
        }
    }
    cJSON_Delete(o);
    *out = r;
    *n = k;
    return 0;
fail:
    cfg_auth_rules_free(r, k);
    cJSON_Delete(o);
    return -1;
}

void cfg_jwks_free(cfg_jwk_t *keys, size_t n)
{
    for (size_t i = 0; keys && i < n; i++) {
        free(keys[i].kty);
        free(keys[i].n);
        free(keys[i].e);
        free(keys[i].crv);
        free(keys[i].x);
        free(keys[i].y);
    }
    free(keys);
}

static char *member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? cfg_strdup(v->valuestring) : NULL;
}

int cfg_jwks_parse(const char *json, cfg_jwk_t **keys, size_t *n)
{
    cJSON *o = cJSON_Parse(json);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "keys");
    size_t count = (size_t)cJSON_GetArraySize(arr), i = 0;
    cfg_jwk_t *k = NULL;
    if (!cJSON_IsArray(arr) || count > 64 || !(k = calloc(count ? count : 1, sizeof(*k)))) {
        cJSON_Delete(o);
        return -1;
    }
    for (const cJSON *v = arr->child; v; v = v->next, i++)
        k[i] = (cfg_jwk_t){member(v, "kty"), member(v, "n"), member(v, "e"),
                           member(v, "crv"), member(v, "x"), member(v, "y")};
    cJSON_Delete(o);
    *keys = k;
    *n = count;
    return 0;
}
