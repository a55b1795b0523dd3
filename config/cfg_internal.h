/*
 * cfg_internal.h - shared by the files of config/ only (not on the public
 * include path; config/include/ is): the parse context, the typed getters
 * over cJSON, and one parse function per section.
 *
 * Conventions: every getter and section function returns CFG_OK or a
 * cfg_err_t, and on error has written exactly one message into the context
 * ("FILE: PATH: expected ..., got ..."). A getter writes its output only on
 * success and leaves it alone when the key is absent, so callers preset
 * defaults. Strings a getter returns are owned by the caller; the section
 * functions hang everything they allocate on the cfg_t at once, so cfg_free()
 * releases a half-built cfg_t on any error path.
 */
#ifndef SLUICE_CFG_INTERNAL_H
#define SLUICE_CFG_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Longest JSON path kept for messages; deeper paths are truncated. */
#define CFG_PATH_MAX 256

typedef struct cfg_ctx {
    const char *name; /* file name as given, for messages */
    char *err;        /* may be NULL */
    size_t errlen;
} cfg_ctx_t;

/* Write "NAME: PATH: <fmt>" (or "NAME: <fmt>" when path is NULL or empty)
 * into the context; returns `code` so callers can `return cfg_fail(...)`. */
int cfg_fail(cfg_ctx_t *ctx, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cfg_nomem(cfg_ctx_t *ctx);

/* "parent.key" (key quoted as ["a.b"] when not a plain identifier) and
 * "parent[i]". */
void cfg_path_key(char *dst, const char *parent, const char *key);
void cfg_path_index(char *dst, const char *parent, size_t i);

/* "number", "string", "object", ... for "got ..." in messages. */
const char *cfg_type_name(const cJSON *v);
/* The value itself for messages: `"text"` (escaped, truncated) or `12`. */
void cfg_describe(const cJSON *v, char *dst, size_t cap);

/* `obj` must be an object whose keys are all in `keys` (a NULL-terminated
 * list), each at most once. Keys beginning with '_' are comments, ignored. */
int cfg_check_object(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *const *keys);
/* Keys of an object with free-form keys (properties, headers): non-empty,
 * unique. */
int cfg_check_free_keys(cfg_ctx_t *ctx, const cJSON *obj, const char *path);

/* Comment keys are skipped by the section functions too. */
static inline bool cfg_is_comment(const char *key)
{
    return key && key[0] == '_';
}

/* Typed getters. `obj` is an already checked object; the member `key` may be
 * absent (output untouched, CFG_OK). */
enum {
    CFG_STR_NONEMPTY = 1, /* "" is refused */
    CFG_STR_NULLABLE = 2, /* JSON null gives NULL */
};
int cfg_get_str(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, int flags,
                char **out);
int cfg_get_bool(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, bool *out);
int cfg_get_u64(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, uint64_t min,
                uint64_t max, uint64_t *out);
int cfg_get_u32(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, uint32_t min,
                uint32_t max, uint32_t *out);
int cfg_get_u16(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, uint16_t min,
                uint16_t max, uint16_t *out);
int cfg_get_int(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key, int min,
                int max, int *out);
/* One of `names` (NULL-terminated); writes the index. */
int cfg_get_enum(cfg_ctx_t *ctx, const cJSON *obj, const char *path, const char *key,
                 const char *const *names, int *out);

bool cfg_utf8_valid(const char *s);
char *cfg_strdup(const char *s);
/* Replace *slot with a copy of s (NULL allowed); false on ENOMEM. */
bool cfg_set_str(char **slot, const char *s);

/* "HOST:PORT" / "[v6]:PORT". On success writes a malloc'd host (without
 * brackets) and the port; on a bad value returns false and a short reason
 * in `why` (host is then untouched). `*nomem` is set on ENOMEM. */
bool cfg_parse_hostport(const char *s, size_t len, char **host, uint16_t *port, const char **why,
                        bool *nomem);

/* An MQTT topic filter: NULL when valid, else why (cfg_bridge.c). *levels
 * gets the number of levels, -1 when it ends in '#'. */
const char *cfg_filter_problem(const char *f, long *levels);

/* Sections, in the order cfg_parse runs them. */
int cfg_parse_top(cfg_ctx_t *ctx, const cJSON *root, cfg_t *cfg);
int cfg_parse_listeners(cfg_ctx_t *ctx, const cJSON *arr, cfg_t *cfg);
int cfg_parse_mqtt(cfg_ctx_t *ctx, const cJSON *obj, cfg_t *cfg);
int cfg_parse_persistence(cfg_ctx_t *ctx, const cJSON *obj, cfg_t *cfg);
int cfg_parse_kafka(cfg_ctx_t *ctx, const cJSON *obj, cfg_t *cfg);
int cfg_parse_bridge(cfg_ctx_t *ctx, const cJSON *obj, cfg_t *cfg);
int cfg_parse_log(cfg_ctx_t *ctx, const cJSON *obj, cfg_t *cfg);
/* "auth" (needs the whole root: mqtt.allow_anonymous is its older name). */
int cfg_parse_auth(cfg_ctx_t *ctx, const cJSON *root, cfg_t *cfg);
/* listeners[i].auth into a new *out (set before any error). */
int cfg_parse_listener_auth(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_auth_t **out);
void cfg_free_auth(cfg_auth_t *a);
int cfg_parse_admin(cfg_ctx_t *ctx, const cJSON *obj, cfg_t *cfg);
int cfg_parse_cluster(cfg_ctx_t *ctx, const cJSON *obj, cfg_t *cfg);
bool cfg_cluster_defaults(cfg_t *cfg);
void cfg_free_cluster(cfg_t *cfg);
void cfg_free_admin(cfg_t *cfg);

void cfg_free_listener(cfg_listener_t *l);
void cfg_free_kvs(cfg_kv_t *kv, size_t n);
void cfg_free_bridge(cfg_t *cfg);

#endif
