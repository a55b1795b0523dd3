/*
 * cfg_admin.c - the "admin" section: API keys of the HTTP admin API, given
 * inline (api_keys) or one per line in a file (api_keys_file, read here at
 * load time so that a reload re-reads it), and the request body limit.
 * Keys are bearer tokens (RFC 6750 b64token characters); messages never
 * quote a key, only its position.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_internal.h"

#define KEY_MAX 256

void cfg_free_admin(cfg_t *cfg)
{
    for (size_t i = 0; i < cfg->admin.n_keys; i++)
        free(cfg->admin.keys[i]);
    free(cfg->admin.keys);
    free(cfg->admin.api_keys_file);
}

static bool key_ok(const char *k, size_t len)
{
    if (!len || len > KEY_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        char c = k[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("-._~+/=", c);
        if (!ok || !c) return false;
    }
    return true;
}

static int add_key(cfg_ctx_t *ctx, cfg_t *cfg, const char *k, size_t len)
{
    char **n = realloc(cfg->admin.keys, (cfg->admin.n_keys + 1) * sizeof(*n));
    if (!n) return cfg_nomem(ctx);
    cfg->admin.keys = n;
    if (!(n[cfg->admin.n_keys] = strndup(k, len))) return cfg_nomem(ctx);
    cfg->admin.n_keys++;
    return CFG_OK;
}

static int parse_inline(cfg_ctx_t *ctx, const cJSON *arr, cfg_t *cfg)
{
    if (!cJSON_IsArray(arr))
        return cfg_fail(ctx, CFG_ERR_FIELD, "admin.api_keys", "expected array of strings, got %s",
                        cfg_type_name(arr));
    size_t i = 0;
    for (const cJSON *v = arr->child; v; v = v->next, i++) {
        char where[CFG_PATH_MAX];
        cfg_path_index(where, "admin.api_keys", i);
        if (!cJSON_IsString(v))
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected string, got %s", cfg_type_name(v));
        if (!key_ok(v->valuestring, strlen(v->valuestring)))
            return cfg_fail(ctx, CFG_ERR_FIELD, where,
                            "expected a key of 1 to %d characters A-Z a-z 0-9 -._~+/=", KEY_MAX);
        int rc = add_key(ctx, cfg, v->valuestring, strlen(v->valuestring));
        if (rc) return rc;
    }
    return CFG_OK;
}

/* One key per line; blank lines and lines starting with '#' are skipped,
 * surrounding blanks trimmed. */
static int read_key_file(cfg_ctx_t *ctx, cfg_t *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cfg_fail(ctx, CFG_ERR_FIELD, "admin.api_keys_file", "cannot read %s: %s", path,
                        strerror(errno));
    char line[KEY_MAX + 64];
    int rc = CFG_OK;
    for (unsigned no = 1; rc == CFG_OK && fgets(line, sizeof(line), f); no++) {
        char *p = line, *e = line + strlen(line);
        while (p < e && strchr(" \t", *p))
            p++;
        while (e > p && strchr(" \t\r\n", e[-1]))
            e--;
        if (p == e || *p == '#') continue;
        if (!key_ok(p, (size_t)(e - p)))
            rc = cfg_fail(ctx, CFG_ERR_FIELD, "admin.api_keys_file",
                          "%s line %u: expected a key of 1 to %d characters A-Z a-z 0-9 -._~+/=",
                          path, no, KEY_MAX);
        else
            rc = add_key(ctx, cfg, p, (size_t)(e - p));
    }
    fclose(f);
    return rc;
}

int cfg_parse_admin(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    static const char *const keys[] = {"api_keys", "api_keys_file", "max_body", NULL};
    int rc;
    if ((rc = cfg_check_object(ctx, o, "admin", keys))) return rc;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "api_keys");
    if (arr && (rc = parse_inline(ctx, arr, cfg))) return rc;
    if ((rc = cfg_get_str(ctx, o, "admin", "api_keys_file", CFG_STR_NONEMPTY | CFG_STR_NULLABLE,
                          &cfg->admin.api_keys_file)))
        return rc;
    if (cfg->admin.api_keys_file && (rc = read_key_file(ctx, cfg, cfg->admin.api_keys_file)))
        return rc;
    return cfg_get_u32(ctx, o, "admin", "max_body", 1024, 64u << 20, &cfg->admin.max_body);
}
