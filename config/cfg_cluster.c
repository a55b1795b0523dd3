/*
 * cfg_cluster.c - the "cluster" section: this node's place in a cluster of
 * sluice nodes joined through Kafka (docs/CLUSTER.md). The Kafka
 * connection is the "kafka" section's; the node's name is the top-level
 * node_id.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_internal.h"

bool cfg_cluster_defaults(cfg_t *cfg)
{
    cfg->cluster.partitions = 4;
    cfg->cluster.load_timeout_ms = 30000;
    cfg->cluster.heartbeat_ms = 1000;
    cfg->cluster.node_timeout_ms = 5000;
    cfg->cluster.checkpoint_ms = 1000;
    return cfg_set_str(&cfg->cluster.id, "sluice") &&
           cfg_set_str(&cfg->cluster.topic_prefix, "sluice");
}

void cfg_free_cluster(cfg_t *cfg)
{
    free(cfg->cluster.id);
    free(cfg->cluster.topic_prefix);
    cfg->cluster.id = cfg->cluster.topic_prefix = NULL;
}

/* A cluster id or topic prefix: 1..64 of [A-Za-z0-9._-] (the prefix names
 * Kafka topics, the id goes into every record's headers). */
static int name_field(cfg_ctx_t *ctx, const cJSON *o, const char *key, char **slot)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    const char *expect = "expected string of 1..64 characters [A-Za-z0-9._-]";
    char path[32], got[64];
    snprintf(path, sizeof(path), "cluster.%s", key);
    if (!v) return CFG_OK;
    if (!cJSON_IsString(v))
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "%s, got %s", expect, cfg_type_name(v));
    size_t n = strlen(v->valuestring);
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++) {
        char c = v->valuestring[i];
        ok = isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
    }
    if (!ok) {
        cfg_describe(v, got, sizeof(got));
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "%s, got %s", expect, got);
    }
    return cfg_set_str(slot, v->valuestring) ? CFG_OK : cfg_nomem(ctx);
}

int cfg_parse_cluster(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    static const char *const keys[] = {"enabled",
                                       "id",
                                       "topic_prefix",
                                       "partitions",
                                       "load_timeout_ms",
                                       "heartbeat_ms",
                                       "node_timeout_ms",
                                       "checkpoint_ms",
                                       NULL};
    const char *p = "cluster";
    int rc;
    if ((rc = cfg_check_object(ctx, o, p, keys)) ||
        (rc = cfg_get_bool(ctx, o, p, "enabled", &cfg->cluster.enabled)) ||
        (rc = name_field(ctx, o, "id", &cfg->cluster.id)) ||
        (rc = name_field(ctx, o, "topic_prefix", &cfg->cluster.topic_prefix)) ||
        (rc = cfg_get_u32(ctx, o, p, "partitions", 1, 10000, &cfg->cluster.partitions)) ||
        (rc = cfg_get_u32(ctx, o, p, "load_timeout_ms", 100, 3600000,
                          &cfg->cluster.load_timeout_ms)) ||
        (rc = cfg_get_u32(ctx, o, p, "heartbeat_ms", 50, 60000, &cfg->cluster.heartbeat_ms)) ||
        (rc = cfg_get_u32(ctx, o, p, "node_timeout_ms", 200, 600000,
                          &cfg->cluster.node_timeout_ms)) ||
        (rc = cfg_get_u32(ctx, o, p, "checkpoint_ms", 0, 600000, &cfg->cluster.checkpoint_ms)))
        return rc;
    if (cfg->cluster.node_timeout_ms <= cfg->cluster.heartbeat_ms)
        return cfg_fail(ctx, CFG_ERR_FIELD, "cluster.node_timeout_ms",
                        "expected more than cluster.heartbeat_ms (%u), got %u",
                        cfg->cluster.heartbeat_ms, cfg->cluster.node_timeout_ms);
    return CFG_OK;
}
