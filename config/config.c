/*
 * config.c - cfg_load/cfg_parse/cfg_defaults/cfg_free, the top-level
 * scalars and the small sections (mqtt, persistence, log). Listeners are in
 * cfg_listeners.c, kafka and bridge in cfg_bridge.c, getters in cfg_json.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_internal.h"

/* A config file is a page of text; refuse anything absurdly large. */
#define CFG_MAX_FILE (16u * 1024 * 1024)

const char *cfg_strerror(int err)
{
    switch (err) {
    case CFG_OK:
        return "success";
    case CFG_ERR_IO:
        return "cannot read config file";
    case CFG_ERR_SYNTAX:
        return "config is not valid JSON";
    case CFG_ERR_FIELD:
        return "bad config value";
    case CFG_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown config error";
    }
}

void cfg_free_listener(cfg_listener_t *l)
{
    free(l->host);
    free(l->path);
    free(l->cert);
    free(l->key);
    free(l->ca);
    cfg_free_auth(l->auth);
    free(l->auth);
    free(l->static_dir);
}

void cfg_free_kvs(cfg_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void cfg_free(cfg_t *cfg)
{
    if (!cfg) return;
    free(cfg->source);
    for (size_t i = 0; i < cfg->n_listeners; i++)
        cfg_free_listener(&cfg->listeners[i]);
    free(cfg->listeners);
    free(cfg->data_dir);
    free(cfg->node_id);
    free(cfg->mqtt.response_information);
    free(cfg->kafka.bootstrap);
    cfg_free_kvs(cfg->kafka.properties, cfg->kafka.n_properties);
    cfg_free_bridge(cfg);
    cfg_free_cluster(cfg);
    free(cfg->log.level);
    free(cfg->log.file);
    cfg_free_auth(&cfg->auth);
    cfg_free_admin(cfg);
    free(cfg);
}

static bool node_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

/* The host name, made into a valid node id: at most 64 characters of
 * [A-Za-z0-9._-], anything else replaced by '-'. */
static char *default_node_id(void)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || !host[0]) snprintf(host, sizeof(host), "sluice");
    host[sizeof(host) - 1] = '\0';
    host[64] = '\0';
    for (char *p = host; *p; p++)
        if (!node_char_ok(*p)) *p = '-';
    return cfg_strdup(host);
}

static bool add_default_listener(cfg_listener_t *l, cfg_proto_t proto, uint16_t port,
                                 const char *path)
{
    l->protocol = proto;
    l->port = port;
    if (!(l->host = cfg_strdup("0.0.0.0"))) return false;
    if (path && !(l->path = cfg_strdup(path))) return false;
    return true;
}

/* Everything as documented in config.h and docs/CONFIG.md. */
static cfg_t *defaults_named(const char *source)
{
    cfg_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) return NULL;
    if (!(cfg->source = cfg_strdup(source))) goto fail;
    if (!(cfg->listeners = calloc(2, sizeof(*cfg->listeners)))) goto fail;
    cfg->n_listeners = 2;
    if (!add_default_listener(&cfg->listeners[0], CFG_PROTO_MQTT, 1883, NULL)) goto fail;
    if (!add_default_listener(&cfg->listeners[1], CFG_PROTO_WS, 8083, "/mqtt")) goto fail;
    if (!(cfg->data_dir = cfg_strdup("./data"))) goto fail;
    cfg->workers = 0;
    if (!(cfg->node_id = default_node_id())) goto fail;

    cfg->mqtt.max_packet_size = 1048576;
    cfg->mqtt.max_inflight = 32;
    cfg->mqtt.max_queued = 1000;
    cfg->mqtt.max_out_bytes = 4u * 1024 * 1024;
    cfg->mqtt.keepalive_max = 0;
    cfg->mqtt.max_session_expiry = 0xFFFFFFFFu;
    cfg->mqtt.receive_maximum = 64;
    cfg->mqtt.topic_alias_maximum = 16;
    cfg->mqtt.retain_available = true;
    cfg->mqtt.allow_anonymous = true;
    cfg->auth.allow_anonymous = true;
    cfg->mqtt.allow_zero_length_clientid = true;
    cfg->mqtt.response_information = NULL;
    cfg->mqtt.sys_interval = 10;
    cfg->mqtt.queue_full = CFG_QUEUE_BACKPRESSURE;
    cfg->mqtt.queue_full_timeout_ms = 10000;
    cfg->mqtt.max_connections = 0;
    cfg->mqtt.max_subscriptions = 1000;
    cfg->mqtt.max_topic_levels = 128;
    cfg->mqtt.max_topic_length = 65535;
    cfg->mqtt.max_retained = 1000000;
    cfg->mqtt.max_retained_bytes = (uint64_t)1 << 30;
    cfg->mqtt.max_store_pending = 256;

    cfg->persistence.sync = CFG_SYNC_BATCH;
    cfg->persistence.flush_ms = 100;

    cfg->bridge.spool_after_ms = 5000;
    cfg->bridge.spool_max_bytes = (uint64_t)1 << 30;
    if (!cfg_cluster_defaults(cfg)) goto fail;

    if (!(cfg->log.level = cfg_strdup("info"))) goto fail;
    cfg->admin.max_body = 1u << 20;
    return cfg;
fail:
    cfg_free(cfg);
    return NULL;
}

cfg_t *cfg_defaults(void)
{
    return defaults_named("<defaults>");
}

int cfg_parse_top(cfg_ctx_t *ctx, const cJSON *root, cfg_t *cfg)
{
    int rc;
    if ((rc = cfg_get_str(ctx, root, "", "data_dir", CFG_STR_NONEMPTY, &cfg->data_dir))) return rc;
    if ((rc = cfg_get_int(ctx, root, "", "workers", 0, 256, &cfg->workers))) return rc;

    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "node_id");
    if (!v) return CFG_OK;
    const char *expect = "expected string of 1..64 characters [A-Za-z0-9._-]";
    if (!cJSON_IsString(v))
        return cfg_fail(ctx, CFG_ERR_FIELD, "node_id", "%s, got %s", expect, cfg_type_name(v));
    size_t n = strlen(v->valuestring);
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = node_char_ok(v->valuestring[i]);
    if (!ok) {
        char got[64];
        cfg_describe(v, got, sizeof(got));
        return cfg_fail(ctx, CFG_ERR_FIELD, "node_id", "%s, got %s", expect, got);
    }
    if (!cfg_set_str(&cfg->node_id, v->valuestring)) return cfg_nomem(ctx);
    return CFG_OK;
}

/* Flow control of online QoS 1/2 deliveries over max_queued. */
static int parse_queue_full(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    static const char *const policies[] = {"backpressure", "drop", NULL};
    int policy = (int)cfg->mqtt.queue_full;
    int rc = cfg_get_enum(ctx, o, "mqtt", "queue_full", policies, &policy);
    if (rc) return rc;
    cfg->mqtt.queue_full = (cfg_queue_full_t)policy;
    return cfg_get_u32(ctx, o, "mqtt", "queue_full_timeout_ms", 0, 86400000u,
                       &cfg->mqtt.queue_full_timeout_ms);
}

/* What a client cannot exceed (docs/CONFIG.md, "Limits"). */
static int parse_mqtt_limits(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    const char *p = "mqtt";
    int rc;
    if ((rc = cfg_get_u32(ctx, o, p, "max_connections", 0, UINT32_MAX,
                          &cfg->mqtt.max_connections)) ||
        (rc = cfg_get_u32(ctx, o, p, "max_subscriptions", 0, UINT32_MAX,
                          &cfg->mqtt.max_subscriptions)) ||
        (rc = cfg_get_u32(ctx, o, p, "max_topic_levels", 1, 65536, &cfg->mqtt.max_topic_levels)) ||
        (rc = cfg_get_u16(ctx, o, p, "max_topic_length", 1, 65535, &cfg->mqtt.max_topic_length)) ||
        (rc = cfg_get_u32(ctx, o, p, "max_retained", 0, UINT32_MAX, &cfg->mqtt.max_retained)) ||
        (rc = cfg_get_u64(ctx, o, p, "max_retained_bytes", 0, UINT64_MAX,
                          &cfg->mqtt.max_retained_bytes)) ||
        (rc = cfg_get_u32(ctx, o, p, "max_store_pending", 1, 65535, &cfg->mqtt.max_store_pending)))
        return rc;
    return CFG_OK;
}

int cfg_parse_mqtt(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    static const char *const keys[] = {"max_packet_size",
                                       "max_inflight",
                                       "max_queued",
                                       "max_out_bytes",
                                       "keepalive_max",
                                       "max_session_expiry",
                                       "receive_maximum",
                                       "topic_alias_maximum",
                                       "retain_available",
                                       "allow_anonymous",
                                       "allow_zero_length_clientid",
                                       "response_information",
                                       "sys_interval",
                                       "queue_full",
                                       "queue_full_timeout_ms",
                                       "max_connections",
                                       "max_subscriptions",
                                       "max_topic_levels",
                                       "max_topic_length",
                                       "max_retained",
                                       "max_retained_bytes",
                                       "max_store_pending",
                                       NULL};
    const char *p = "mqtt";
    int rc;
    if ((rc = cfg_check_object(ctx, o, p, keys))) return rc;
    if ((rc = cfg_get_u32(ctx, o, p, "max_packet_size", 16, 268435455,
                          &cfg->mqtt.max_packet_size)) ||
        (rc = cfg_get_u16(ctx, o, p, "max_inflight", 1, 65535, &cfg->mqtt.max_inflight)) ||
        (rc = cfg_get_u32(ctx, o, p, "max_queued", 0, UINT32_MAX, &cfg->mqtt.max_queued)) ||
        (rc =
             cfg_get_u32(ctx, o, p, "max_out_bytes", 4096, UINT32_MAX, &cfg->mqtt.max_out_bytes)) ||
        (rc = cfg_get_u16(ctx, o, p, "keepalive_max", 0, 65535, &cfg->mqtt.keepalive_max)) ||
        (rc = cfg_get_u32(ctx, o, p, "max_session_expiry", 0, UINT32_MAX,
                          &cfg->mqtt.max_session_expiry)) ||
        (rc = cfg_get_u16(ctx, o, p, "receive_maximum", 1, 65535, &cfg->mqtt.receive_maximum)) ||
        (rc = cfg_get_u16(ctx, o, p, "topic_alias_maximum", 0, 65535,
                          &cfg->mqtt.topic_alias_maximum)) ||
        (rc = cfg_get_bool(ctx, o, p, "retain_available", &cfg->mqtt.retain_available)) ||
        (rc = cfg_get_bool(ctx, o, p, "allow_anonymous", &cfg->mqtt.allow_anonymous)) ||
        (rc = cfg_get_bool(ctx, o, p, "allow_zero_length_clientid",
                           &cfg->mqtt.allow_zero_length_clientid)) ||
        (rc = cfg_get_str(ctx, o, p, "response_information", CFG_STR_NONEMPTY | CFG_STR_NULLABLE,
                          &cfg->mqtt.response_information)) ||
        (rc = cfg_get_u32(ctx, o, p, "sys_interval", 0, 86400, &cfg->mqtt.sys_interval)))
        return rc;
    if ((rc = parse_mqtt_limits(ctx, o, cfg))) return rc;
    return parse_queue_full(ctx, o, cfg);
}

int cfg_parse_persistence(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    static const char *const keys[] = {"sync", "flush_ms", NULL};
    /* Index order matches cfg_sync_t. */
    static const char *const syncs[] = {"none", "batch", "always", NULL};
    const char *p = "persistence";
    int rc, sync = (int)cfg->persistence.sync;
    if ((rc = cfg_check_object(ctx, o, p, keys))) return rc;
    if ((rc = cfg_get_enum(ctx, o, p, "sync", syncs, &sync))) return rc;
    if ((rc = cfg_get_u32(ctx, o, p, "flush_ms", 1, 60000, &cfg->persistence.flush_ms))) return rc;
    cfg->persistence.sync = (cfg_sync_t)sync;
    return CFG_OK;
}

int cfg_parse_log(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    static const char *const keys[] = {"level", "file", "format", NULL};
    static const char *const levels[] = {"error", "warn", "info", "debug", NULL};
    static const char *const formats[] = {"text", "json", NULL};
    const char *p = "log";
    int rc, level = -1, format = -1;
    if ((rc = cfg_check_object(ctx, o, p, keys))) return rc;
    if ((rc = cfg_get_enum(ctx, o, p, "level", levels, &level))) return rc;
    if (level >= 0 && !cfg_set_str(&cfg->log.level, levels[level])) return cfg_nomem(ctx);
    if ((rc = cfg_get_enum(ctx, o, p, "format", formats, &format))) return rc;
    if (format >= 0) cfg->log.json = format == 1;
    return cfg_get_str(ctx, o, p, "file", CFG_STR_NONEMPTY | CFG_STR_NULLABLE, &cfg->log.file);
}

/* 1-based line and column of byte `off` in `text`. */
static void line_col(const char *text, size_t off, size_t *line, size_t *col)
{
    size_t l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static int syntax_error(cfg_ctx_t *ctx, const char *text, size_t len, size_t off, const char *what)
{
    size_t line, col;
    char near[48];
    size_t o = 0;
    if (off > len) off = len;
    line_col(text, off, &line, &col);
    for (size_t i = off; i < len && o < 24; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n' || c == '\r') break;
        near[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    near[o] = '\0';
    if (ctx->err && ctx->errlen) {
        if (what)
            snprintf(ctx->err, ctx->errlen, "%s:%zu:%zu: invalid JSON: %s", ctx->name, line, col,
                     what);
        else if (o == 0)
            snprintf(ctx->err, ctx->errlen, "%s:%zu:%zu: invalid JSON: unexpected end of input",
                     ctx->name, line, col);
        else
            snprintf(ctx->err, ctx->errlen, "%s:%zu:%zu: invalid JSON near '%s'", ctx->name, line,
                     col, near);
    }
    return CFG_ERR_SYNTAX;
}

static int parse_sections(cfg_ctx_t *ctx, const cJSON *root, cfg_t *cfg)
{
    static const char *const keys[] = {"listeners",   "data_dir", "workers", "node_id", "mqtt",
                                       "persistence", "kafka",    "bridge",  "log",     "auth",
                                       "admin",       "cluster",  NULL};
    const cJSON *v;
    int rc;
    if (!cJSON_IsObject(root))
        return cfg_fail(ctx, CFG_ERR_FIELD, "top level", "expected object, got %s",
                        cfg_type_name(root));
    if ((rc = cfg_check_object(ctx, root, "", keys))) return rc;
    /* Scalars first: node_id feeds bridge defaults. */
    if ((rc = cfg_parse_top(ctx, root, cfg))) return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "listeners")) &&
        (rc = cfg_parse_listeners(ctx, v, cfg)))
        return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "mqtt")) && (rc = cfg_parse_mqtt(ctx, v, cfg)))
        return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "persistence")) &&
        (rc = cfg_parse_persistence(ctx, v, cfg)))
        return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "kafka")) &&
        (rc = cfg_parse_kafka(ctx, v, cfg)))
        return rc;
    /* The bridge section is always run: it fills per-rule defaults. */
    if ((rc = cfg_parse_bridge(ctx, cJSON_GetObjectItemCaseSensitive(root, "bridge"), cfg)))
        return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "cluster")) &&
        (rc = cfg_parse_cluster(ctx, v, cfg)))
        return rc;
    if ((rc = cfg_parse_auth(ctx, root, cfg))) return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "log")) && (rc = cfg_parse_log(ctx, v, cfg)))
        return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "admin")) &&
        (rc = cfg_parse_admin(ctx, v, cfg)))
        return rc;
    return CFG_OK;
}

int cfg_parse(const char *name, const char *json, size_t len, cfg_t **out, char *err, size_t errlen)
{
    cfg_ctx_t ctx = {.name = name ? name : "<input>", .err = err, .errlen = errlen};
    char *text = NULL;
    cJSON *root = NULL;
    cfg_t *cfg = NULL;
    int rc;

    if (err && errlen) err[0] = '\0';
    if (!json && len) return cfg_fail(&ctx, CFG_ERR_SYNTAX, NULL, "no input");
    /* cJSON wants a NUL-terminated text; a NUL inside is not JSON. */
    const char *nul = len ? memchr(json, '\0', len) : NULL;
    if (nul) {
        rc = syntax_error(&ctx, json, len, (size_t)(nul - json), "NUL byte in input");
        goto fail;
    }
    if (!(text = malloc(len + 1))) {
        rc = cfg_nomem(&ctx);
        goto fail;
    }
    if (len) memcpy(text, json, len);
    text[len] = '\0';

    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i == len) {
        rc = cfg_fail(&ctx, CFG_ERR_SYNTAX, NULL, "invalid JSON: empty file (use {} for defaults)");
        goto fail;
    }
    const char *end = NULL;
    if (!(root = cJSON_ParseWithOpts(text, &end, 1))) {
        rc = syntax_error(&ctx, text, len, end ? (size_t)(end - text) : 0, NULL);
        goto fail;
    }
    if (!(cfg = defaults_named(ctx.name))) {
        rc = cfg_nomem(&ctx);
        goto fail;
    }
    if ((rc = parse_sections(&ctx, root, cfg))) goto fail;

    cJSON_Delete(root);
    free(text);
    *out = cfg;
    return CFG_OK;
fail:
    cfg_free(cfg);
    cJSON_Delete(root);
    free(text);
    return rc;
}

int cfg_load(const char *path, cfg_t **out, char *err, size_t errlen)
{
    cfg_ctx_t ctx = {.name = path ? path : "<null>", .err = err, .errlen = errlen};
    char *buf = NULL;
    size_t len = 0, cap = 0;
    FILE *f = NULL;
    int rc;

    if (err && errlen) err[0] = '\0';
    if (!path || !(f = fopen(path, "rb"))) {
        rc = cfg_fail(&ctx, CFG_ERR_IO, NULL, "cannot read: %s", strerror(path ? errno : EINVAL));
        goto fail;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            char *nb;
            if (cap >= CFG_MAX_FILE) {
                rc = cfg_fail(&ctx, CFG_ERR_IO, NULL, "cannot read: larger than %u bytes",
                              CFG_MAX_FILE);
                goto fail;
            }
            if (!(nb = realloc(buf, ncap))) {
                rc = cfg_nomem(&ctx);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                rc = cfg_fail(&ctx, CFG_ERR_IO, NULL, "cannot read: %s", strerror(errno));
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    f = NULL;
    rc = cfg_parse(path, buf, len, out, err, errlen);
    free(buf);
    return rc;
fail:
    if (f) fclose(f);
    free(buf);
    return rc;
}
