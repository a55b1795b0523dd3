/* cfg_json.c - messages, JSON paths and typed getters over cJSON. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_internal.h"

int cfg_fail(cfg_ctx_t *ctx, int code, const char *path, const char *fmt, ...)
{
    if (!ctx->err || ctx->errlen == 0) return code;
    int n;
    if (path && path[0])
        n = snprintf(ctx->err, ctx->errlen, "%s: %s: ", ctx->name, path);
    else
        n = snprintf(ctx->err, ctx->errlen, "%s: ", ctx->name);
    if (n < 0) n = 0;
    if ((size_t)n < ctx->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* One line, whatever the keys and values held (cJSON lets raw control
     * characters through inside strings). */
    for (char *p = ctx->err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return code;
}

int cfg_nomem(cfg_ctx_t *ctx)
{
    return cfg_fail(ctx, CFG_ERR_NOMEM, NULL, "out of memory");
}

static bool json_plain_key(const char *key)
{
    if (!key[0] || isdigit((unsigned char)key[0])) return false;
    for (const char *p = key; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') return false;
    return true;
}

/* Append to a CFG_PATH_MAX buffer, truncating. */
static void path_append(char *dst, size_t used, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void path_append(char *dst, size_t used, const char *fmt, ...)
{
    if (used >= CFG_PATH_MAX) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst + used, CFG_PATH_MAX - used, fmt, ap);
    va_end(ap);
}

void cfg_path_key(char *dst, const char *parent, const char *key)
{
    size_t n = 0;
    if (parent != dst) {
        dst[0] = '\0';
        if (parent) snprintf(dst, CFG_PATH_MAX, "%s", parent);
    }
    n = strlen(dst);
    if (json_plain_key(key))
        path_append(dst, n, "%s%s", n ? "." : "", key);
    else
        path_append(dst, n, "[\"%.64s\"]", key);
}

void cfg_path_index(char *dst, const char *parent, size_t i)
{
    if (parent != dst) snprintf(dst, CFG_PATH_MAX, "%s", parent ? parent : "");
    path_append(dst, strlen(dst), "[%zu]", i);
}

const char *cfg_type_name(const cJSON *v)
{
    if (!v) return "nothing";
    switch (v->type & 0xFF) {
    case cJSON_False:
    case cJSON_True:
        return "boolean";
    case cJSON_NULL:
        return "null";
    case cJSON_Number:
        return "number";
    case cJSON_String:
        return "string";
    case cJSON_Array:
        return "array";
    case cJSON_Object:
        return "object";
    default:
        return "invalid";
    }
}

static void describe_number(double d, char *dst, size_t cap)
{
    if (isfinite(d) && d == trunc(d) && fabs(d) < 1e15)
        snprintf(dst, cap, "%.0f", d);
    else
        snprintf(dst, cap, "%g", d);
}

/* A string value for a one-line message: quoted, control bytes escaped,
 * cut after 40 bytes. */
static void describe_string(const char *s, char *dst, size_t cap)
{
    size_t o = 0;
    if (cap < 8) {
        if (cap) dst[0] = '\0';
        return;
    }
    dst[o++] = '"';
    size_t i;
    for (i = 0; s[i] && i < 40 && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            int n = snprintf(dst + o, cap - o, c == '"' || c == '\\' ? "\\%c" : "\\x%02x", c);
            o += (size_t)n;
        } else {
            dst[o++] = (char)c;
        }
    }
    if (s[i] && o + 5 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o++] = '"';
    dst[o] = '\0';
}

void cfg_describe(const cJSON *v, char *dst, size_t cap)
{
    if (cJSON_IsString(v))
        describe_string(v->valuestring, dst, cap);
    else if (cJSON_IsNumber(v))
        describe_number(v->valuedouble, dst, cap);
    else if (cJSON_IsBool(v))
        snprintf(dst, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else
        snprintf(dst, cap, "%s", cfg_type_name(v));
}

static bool key_known(const char *key, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(key, keys[i]) == 0) return true;
    return false;
}

static int check_dup(cfg_ctx_t *ctx, const cJSON *obj, const cJSON *m, const char *path)
{
    for (const cJSON *p = obj->child; p && p != m; p = p->next) {
        if (strcmp(p->string, m->string) == 0) {
            char where[CFG_PATH_MAX];
            cfg_path_key(where, path, m->string);
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "duplicate key");
        }
    }
    return CFG_OK;
}

static int expect_object(cfg_ctx_t *ctx, const cJSON *obj, const char *path)
{
    if (cJSON_IsObject(obj)) return CFG_OK;
    return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected object, got %s", cfg_type_name(obj));
}

int cfg_check_object(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *const *keys)
{
    int rc = expect_object(ctx, obj, path);
    if (rc) return rc;
    for (const cJSON *m = obj->child; m; m = m->next) {
        if (!cfg_is_comment(m->string) && !key_known(m->string, keys)) {
            char where[CFG_PATH_MAX], list[256];
            size_t o = 0;
            list[0] = '\0';
            for (size_t i = 0; keys[i] && o < sizeof(list); i++) {
                int n = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", keys[i]);
                if (n < 0) break;
                o += (size_t)n;
            }
            cfg_path_key(where, path, m->string);
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "unknown key (expected one of %s)", list);
        }
        if ((rc = check_dup(ctx, obj, m, path))) return rc;
    }
    return CFG_OK;
}

int cfg_check_free_keys(cfg_ctx_t *ctx, const cJSON *obj, const char *path)
{
    int rc = expect_object(ctx, obj, path);
    if (rc) return rc;
    for (const cJSON *m = obj->child; m; m = m->next) {
        if (!m->string[0])
            return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected non-empty key, got \"\"");
        if (!cfg_utf8_valid(m->string))
            return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected UTF-8 keys");
        if ((rc = check_dup(ctx, obj, m, path))) return rc;
    }
    return CFG_OK;
}

bool cfg_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += n + 1;
    }
    return true;
}

char *cfg_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

bool cfg_set_str(char **slot, const char *s)
{
    char *d = NULL;
    if (s && !(d = cfg_strdup(s))) return false;
    free(*slot);
    *slot = d;
    return true;
}

int cfg_get_str(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, int flags,
                char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char where[CFG_PATH_MAX];
    if (!v) return CFG_OK;
    cfg_path_key(where, path, key);
    if (cJSON_IsNull(v) && (flags & CFG_STR_NULLABLE)) {
        free(*out);
        *out = NULL;
        return CFG_OK;
    }
    if (!cJSON_IsString(v))
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected %sstring%s, got %s",
                        flags & CFG_STR_NONEMPTY ? "non-empty " : "",
                        flags & CFG_STR_NULLABLE ? " or null" : "", cfg_type_name(v));
    if ((flags & CFG_STR_NONEMPTY) && !v->valuestring[0])
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected non-empty string, got \"\"");
    if (!cfg_utf8_valid(v->valuestring))
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected UTF-8 string, got invalid UTF-8");
    if (!cfg_set_str(out, v->valuestring)) return cfg_nomem(ctx);
    return CFG_OK;
}

int cfg_get_bool(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return CFG_OK;
    if (!cJSON_IsBool(v)) {
        char where[CFG_PATH_MAX];
        cfg_path_key(where, path, key);
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected true or false, got %s",
                        cfg_type_name(v));
    }
    *out = cJSON_IsTrue(v);
    return CFG_OK;
}

int cfg_get_u64(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, uint64_t min,
                uint64_t max, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return CFG_OK;
    /* JSON numbers are doubles: integers are exact up to 2^53. */
    const uint64_t exact = (uint64_t)1 << 53;
    if (max > exact) max = exact;
    char where[CFG_PATH_MAX], range[64], got[64];
    cfg_path_key(where, path, key);
    if (max == exact)
        snprintf(range, sizeof(range), ">= %" PRIu64, min);
    else
        snprintf(range, sizeof(range), "%" PRIu64 "..%" PRIu64, min, max);
    if (!cJSON_IsNumber(v))
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected integer %s, got %s", range,
                        cfg_type_name(v));
    double d = v->valuedouble;
    if (!isfinite(d) || d != trunc(d) || d < (double)min || d > (double)max) {
        cfg_describe(v, got, sizeof(got));
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected integer %s, got %s", range, got);
    }
    *out = (uint64_t)d;
    return CFG_OK;
}

int cfg_get_u32(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, uint32_t min,
                uint32_t max, uint32_t *out)
{
    uint64_t v = 0;
    int rc = cfg_get_u64(ctx, obj, path, key, min, max, &v);
    if (rc == CFG_OK && cJSON_GetObjectItemCaseSensitive(obj, key)) *out = (uint32_t)v;
    return rc;
}

int cfg_get_u16(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, uint16_t min,
                uint16_t max, uint16_t *out)
{
    uint64_t v = 0;
    int rc = cfg_get_u64(ctx, obj, path, key, min, max, &v);
    if (rc == CFG_OK && cJSON_GetObjectItemCaseSensitive(obj, key)) *out = (uint16_t)v;
    return rc;
}

int cfg_get_int(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, int min,
                int max, int *out)
{
    uint64_t v = 0;
    /* Only non-negative ranges are needed so far. */
    int rc = cfg_get_u64(ctx, obj, path, key, (uint64_t)(min < 0 ? 0 : min), (uint64_t)max, &v);
    if (rc == CFG_OK && cJSON_GetObjectItemCaseSensitive(obj, key)) *out = (int)v;
    return rc;
}

int cfg_get_enum(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key,
                 const char *const *names, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return CFG_OK;
    if (cJSON_IsString(v)) {
        for (int i = 0; names[i]; i++) {
            if (strcmp(v->valuestring, names[i]) == 0) {
                *out = i;
                return CFG_OK;
            }
        }
    }
    char where[CFG_PATH_MAX], list[128], got[64];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; names[i] && o < sizeof(list); i++) {
        int n = snprintf(list + o, sizeof(list) - o, "%s%s", i ? "|" : "", names[i]);
        if (n < 0) break;
        o += (size_t)n;
    }
    cfg_path_key(where, path, key);
    if (cJSON_IsString(v))
        cfg_describe(v, got, sizeof(got));
    else
        snprintf(got, sizeof(got), "%s", cfg_type_name(v));
    return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected one of %s, got %s", list, got);
}

static bool host_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

/* "[v6]:port": the host and the colon, or why not. */
static const char *split_v6(const char *s, size_t len, const char **h, size_t *hlen,
                            const char **colon)
{
    const char *close = memchr(s, ']', len);
    if (!close) return "missing ']' after IPv6 address";
    *h = s + 1;
    *hlen = (size_t)(close - *h);
    if (*hlen == 0) return "empty host";
    for (size_t i = 0; i < *hlen; i++) {
        char c = (*h)[i];
        if (!isxdigit((unsigned char)c) && c != ':' && c != '.' && c != '%' &&
            !isalnum((unsigned char)c))
            return "bad IPv6 address";
    }
    if (!memchr(*h, ':', *hlen)) return "bad IPv6 address";
    *colon = close + 1;
    if (*colon >= s + len || **colon != ':') return "missing \":PORT\"";
    return NULL;
}

/* "name:port" or "v4:port": the host and the colon, or why not. */
static const char *split_name(const char *s, size_t len, const char **h, size_t *hlen,
                              const char **colon)
{
    *colon = memchr(s, ':', len);
    if (!*colon) return "missing \":PORT\"";
    *h = s;
    *hlen = (size_t)(*colon - s);
    if (memchr(*colon + 1, ':', len - (size_t)(*colon + 1 - s)))
        return "IPv6 addresses go in brackets, e.g. \"[::1]:1883\"";
    if (*hlen == 0) return "empty host";
    for (size_t i = 0; i < *hlen; i++)
        if (!host_char_ok((*h)[i])) return "bad host name";
    return NULL;
}

bool cfg_parse_hostport(const char *s, size_t len, char **host, uint16_t *port, const char **why,
                        bool *nomem)
{
    const char *h = NULL, *colon = NULL;
    size_t hlen = 0;
    *nomem = false;
    *why = len > 0 && s[0] == '[' ? split_v6(s, len, &h, &hlen, &colon)
                                  : split_name(s, len, &h, &hlen, &colon);
    if (*why) return false;
    const char *p = colon + 1, *end = s + len;
    unsigned long v = 0;
    *why = "port must be 1..65535";
    if (p == end || end - p > 5) return false;
    for (; p < end; p++) {
        if (!isdigit((unsigned char)*p)) return false;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v < 1 || v > 65535) return false;
    *why = NULL;
    char *copy = malloc(hlen + 1);
    if (!copy) {
        *nomem = true;
        return false;
    }
    memcpy(copy, h, hlen);
    copy[hlen] = '\0';
    *host = copy;
    *port = (uint16_t)v;
    return true;
}
