/* cfg_listeners.c - the "listeners" array. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cfg_internal.h"

/* Index order matches cfg_proto_t. */
static const char *const listener_protos[] = {"mqtt", "ws", "mqtts", "wss", "http", NULL};

static bool proto_is_tls(cfg_proto_t p)
{
    return p == CFG_PROTO_MQTTS || p == CFG_PROTO_WSS;
}

static bool proto_is_ws(cfg_proto_t p)
{
    return p == CFG_PROTO_WS || p == CFG_PROTO_WSS;
}

/* TLS files are opened at load time so that a typo fails at start, naming
 * the field, rather than at the first handshake. */
static int check_readable(cfg_ctx_t *ctx, const char *path, const char *field, const char *file)
{
    char where[CFG_PATH_MAX];
    FILE *f = fopen(file, "rb");
    if (f) {
        fclose(f);
        return CFG_OK;
    }
    cfg_path_key(where, path, field);
    return cfg_fail(ctx, CFG_ERR_FIELD, where, "cannot read \"%.200s\": %s", file, strerror(errno));
}

/* static_dir is resolved once, here: the broker serves only files whose own
 * realpath lies under this canonical path, so a symlink in the configured
 * path itself is fine but one inside it cannot lead out. A missing
 * directory fails at start, naming the field. */
static int parse_static_dir(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_listener_t *l)
{
    char where[CFG_PATH_MAX], *dir = NULL;
    struct stat st;
    int rc;

    if ((rc = cfg_get_str(ctx, o, path, "static_dir", CFG_STR_NONEMPTY, &dir))) return rc;
    if (!dir) return CFG_OK;
    cfg_path_key(where, path, "static_dir");
    if (l->protocol != CFG_PROTO_HTTP) {
        free(dir);
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "only for protocol http, not %s",
                        listener_protos[l->protocol]);
    }
    char *real = realpath(dir, NULL);
    if (!real || stat(real, &st) || !S_ISDIR(st.st_mode)) {
        rc = cfg_fail(ctx, CFG_ERR_FIELD, where, "\"%.200s\" is not a readable directory%s%s", dir,
                      real ? "" : ": ", real ? "" : strerror(errno));
        free(real);
        free(dir);
        return rc;
    }
    free(dir);
    l->static_dir = real;
    return CFG_OK;
}

static int parse_bind(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_listener_t *l)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "bind");
    char where[CFG_PATH_MAX], got[64];
    const char *why = NULL;
    bool nomem;
    char *host = NULL;
    uint16_t port = 0;

    cfg_path_key(where, path, "bind");
    if (!v) return cfg_fail(ctx, CFG_ERR_FIELD, where, "missing (expected \"HOST:PORT\" string)");
    if (!cJSON_IsString(v))
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected \"HOST:PORT\" string, got %s",
                        cfg_type_name(v));
    if (!cfg_parse_hostport(v->valuestring, strlen(v->valuestring), &host, &port, &why, &nomem)) {
        if (nomem) return cfg_nomem(ctx);
        cfg_describe(v, got, sizeof(got));
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected \"HOST:PORT\" string (%s), got %s",
                        why, got);
    }
    l->host = host;
    l->port = port;
    return CFG_OK;
}

static int parse_listener(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_listener_t *l)
{
    static const char *const keys[] = {"protocol", "bind", "path",       "cert", "key",
                                       "ca",       "auth", "static_dir", NULL};
    char where[CFG_PATH_MAX];
    int rc, proto = -1;

    if ((rc = cfg_check_object(ctx, o, path, keys))) return rc;
    if ((rc = cfg_get_enum(ctx, o, path, "protocol", listener_protos, &proto))) return rc;
    if (proto < 0) {
        cfg_path_key(where, path, "protocol");
        return cfg_fail(ctx, CFG_ERR_FIELD, where,
                        "missing (expected one of mqtt|ws|mqtts|wss|http)");
    }
    l->protocol = (cfg_proto_t)proto;
    if ((rc = parse_bind(ctx, o, path, l))) return rc;

    if ((rc = cfg_get_str(ctx, o, path, "path", 0, &l->path))) return rc;
    if (l->path) {
        cfg_path_key(where, path, "path");
        if (!proto_is_ws(l->protocol))
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "only for protocol ws or wss, not %s",
                            listener_protos[proto]);
        if (l->path[0] != '/')
            return cfg_fail(ctx, CFG_ERR_FIELD, where,
                            "expected URL path starting with '/', got \"%.64s\"", l->path);
    } else if (proto_is_ws(l->protocol) && !(l->path = cfg_strdup("/mqtt"))) {
        return cfg_nomem(ctx);
    }

    static const char *const tls_fields[] = {"cert", "key", "ca"};
    char **slots[] = {&l->cert, &l->key, &l->ca};
    for (size_t i = 0; i < 3; i++) {
        if ((rc = cfg_get_str(ctx, o, path, tls_fields[i], CFG_STR_NONEMPTY, slots[i]))) return rc;
        cfg_path_key(where, path, tls_fields[i]);
        if (*slots[i] && !proto_is_tls(l->protocol))
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "only for protocol mqtts or wss, not %s",
                            listener_protos[proto]);
        if (!*slots[i] && proto_is_tls(l->protocol) && i < 2)
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "missing (protocol %s needs a PEM %s file)",
                            listener_protos[proto], i == 0 ? "certificate" : "private key");
        if (*slots[i] && (rc = check_readable(ctx, path, tls_fields[i], *slots[i]))) return rc;
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "auth");
    cfg_path_key(where, path, "auth");
    if (a && l->protocol == CFG_PROTO_HTTP)
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "only for MQTT listeners, not http");
    if (a && (rc = cfg_parse_listener_auth(ctx, a, where, &l->auth))) return rc;
    return parse_static_dir(ctx, o, path, l);
}

int cfg_parse_listeners(cfg_ctx_t *ctx, const cJSON *arr, cfg_t *cfg)
{
    const char *p = "listeners";
    if (!cJSON_IsArray(arr))
        return cfg_fail(ctx, CFG_ERR_FIELD, p, "expected array of listener objects, got %s",
                        cfg_type_name(arr));
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0)
        return cfg_fail(ctx, CFG_ERR_FIELD, p,
                        "expected at least one listener (omit the key for the defaults)");
    cfg_listener_t *ls = calloc(n, sizeof(*ls));
    if (!ls) return cfg_nomem(ctx);

    /* Swap in the zeroed array at once: cfg_free() then releases whatever
     * a failing listener leaves half-filled. */
    for (size_t i = 0; i < cfg->n_listeners; i++)
        cfg_free_listener(&cfg->listeners[i]);
    free(cfg->listeners);
    cfg->listeners = ls;
    cfg->n_listeners = n;

    size_t i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        char where[CFG_PATH_MAX];
        int rc;
        cfg_path_index(where, p, i);
        if ((rc = parse_listener(ctx, o, where, &ls[i]))) return rc;
        for (size_t j = 0; j < i; j++) {
            if (ls[j].port == ls[i].port && strcasecmp(ls[j].host, ls[i].host) == 0) {
                char bind[CFG_PATH_MAX];
                cfg_path_key(bind, where, "bind");
                return cfg_fail(ctx, CFG_ERR_FIELD, bind,
                                "duplicate address %s%s%s:%u, already used by listeners[%zu]",
                                strchr(ls[i].host, ':') ? "[" : "", ls[i].host,
                                strchr(ls[i].host, ':') ? "]" : "", ls[i].port, j);
            }
        }
    }
    return CFG_OK;
}
