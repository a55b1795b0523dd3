/*
 * cfg_dump.c - cfg_to_json: the effective configuration (file values and
 * defaults alike) in the shape of the file, for GET /api/v1/config. Secrets
 * are replaced by "***": whoever can read the API must not learn the keys
 * that guard it, nor the credentials of the Kafka cluster.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg_internal.h"

#define REDACTED "***"

static const char *const protos[] = {"mqtt", "ws", "mqtts", "wss", "http"};
static const char *const syncs[] = {"none", "batch", "always"};
static const char *const formats[] = {"raw", "json"};
static const char *const acks[] = {"default", "kafka", "local"};

static bool secret_name(const char *k)
{
    static const char *const words[] = {"password", "secret", "key", "token", "sasl.jaas", NULL};
    for (size_t i = 0; words[i]; i++)
        if (strcasestr(k, words[i])) return true;
    return false;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *kvs(const cfg_kv_t *kv, size_t n, bool redact)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < n; i++)
        add_str(o, kv[i].key, redact && secret_name(kv[i].key) ? REDACTED : kv[i].value);
    return o;
}

static void add_listeners(cJSON *root, const cfg_t *cfg)
{
    cJSON *arr = cJSON_AddArrayToObject(root, "listeners");
    for (size_t i = 0; arr && i < cfg->n_listeners; i++) {
        const cfg_listener_t *l = &cfg->listeners[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) return;
        cJSON_AddStringToObject(o, "protocol", protos[l->protocol]);
        cJSON_AddStringToObject(o, "host", l->host);
        cJSON_AddNumberToObject(o, "port", l->port);
        if (l->path) cJSON_AddStringToObject(o, "path", l->path);
        if (l->cert) cJSON_AddStringToObject(o, "cert", l->cert);
        if (l->key) cJSON_AddStringToObject(o, "key", REDACTED);
        if (l->ca) cJSON_AddStringToObject(o, "ca", l->ca);
        cJSON_AddItemToArray(arr, o);
    }
}

static void add_mqtt(cJSON *root, const cfg_t *cfg)
{
    cJSON *o = cJSON_AddObjectToObject(root, "mqtt");
    if (!o) return;
    cJSON_AddNumberToObject(o, "max_packet_size", cfg->mqtt.max_packet_size);
    cJSON_AddNumberToObject(o, "max_inflight", cfg->mqtt.max_inflight);
    cJSON_AddNumberToObject(o, "max_queued", cfg->mqtt.max_queued);
    cJSON_AddNumberToObject(o, "max_out_bytes", cfg->mqtt.max_out_bytes);
    cJSON_AddNumberToObject(o, "keepalive_max", cfg->mqtt.keepalive_max);
    cJSON_AddNumberToObject(o, "max_session_expiry", cfg->mqtt.max_session_expiry);
    cJSON_AddNumberToObject(o, "receive_maximum", cfg->mqtt.receive_maximum);
    cJSON_AddNumberToObject(o, "topic_alias_maximum", cfg->mqtt.topic_alias_maximum);
    cJSON_AddBoolToObject(o, "retain_available", cfg->mqtt.retain_available);
    cJSON_AddBoolToObject(o, "allow_anonymous", cfg->mqtt.allow_anonymous);
    cJSON_AddBoolToObject(o, "allow_zero_length_clientid", cfg->mqtt.allow_zero_length_clientid);
    add_str(o, "response_information", cfg->mqtt.response_information);
    cJSON_AddNumberToObject(o, "sys_interval", cfg->mqtt.sys_interval);
    cJSON_AddStringToObject(o, "queue_full",
                            cfg->mqtt.queue_full == CFG_QUEUE_DROP ? "drop" : "backpressure");
    cJSON_AddNumberToObject(o, "queue_full_timeout_ms", cfg->mqtt.queue_full_timeout_ms);
}

static void add_bridge(cJSON *root, const cfg_t *cfg)
{
    cJSON *k = cJSON_AddObjectToObject(root, "kafka");
    if (k) {
        add_str(k, "bootstrap", cfg->kafka.bootstrap);
        cJSON_AddItemToObject(k, "properties",
                              kvs(cfg->kafka.properties, cfg->kafka.n_properties, true));
    }
    cJSON *o = cJSON_AddObjectToObject(root, "bridge");
    if (!o) return;
    cJSON *to = cJSON_AddArrayToObject(o, "to_kafka");
    for (size_t i = 0; to && i < cfg->bridge.n_to_kafka; i++) {
        const cfg_to_kafka_t *r = &cfg->bridge.to_kafka[i];
        cJSON *x = cJSON_CreateObject();
        if (!x) return;
        cJSON_AddStringToObject(x, "match", r->match);
        cJSON_AddStringToObject(x, "topic", r->topic);
        add_str(x, "key", r->key);
        cJSON_AddItemToObject(x, "headers", kvs(r->headers, r->n_headers, false));
        cJSON_AddStringToObject(x, "format", formats[r->format]);
        cJSON_AddStringToObject(x, "ack", acks[r->ack]);
        cJSON_AddBoolToObject(x, "final", r->final);
        cJSON_AddItemToArray(to, x);
    }
    cJSON *from = cJSON_AddArrayToObject(o, "from_kafka");
    for (size_t i = 0; from && i < cfg->bridge.n_from_kafka; i++) {
        const cfg_from_kafka_t *r = &cfg->bridge.from_kafka[i];
        cJSON *x = cJSON_CreateObject();
        if (!x) return;
        cJSON_AddStringToObject(x, "topic", r->topic);
        add_str(x, "group", r->group);
        add_str(x, "mqtt_topic", r->mqtt_topic);
        cJSON_AddNumberToObject(x, "qos", r->qos);
        cJSON_AddBoolToObject(x, "retain", r->retain);
        cJSON_AddBoolToObject(x, "cluster_records", r->cluster_records);
        cJSON_AddItemToArray(from, x);
    }
    cJSON_AddNumberToObject(o, "spool_after_ms", cfg->bridge.spool_after_ms);
    cJSON_AddNumberToObject(o, "spool_max_bytes", (double)cfg->bridge.spool_max_bytes);
    cJSON_AddNumberToObject(o, "spool_high_water", cfg->bridge.spool_high_water);
    add_str(o, "dead_letter_topic", cfg->bridge.dead_letter_topic);
}

static void add_cluster(cJSON *root, const cfg_t *cfg)
{
    cJSON *c = cJSON_AddObjectToObject(root, "cluster");
    if (!c) return;
    cJSON_AddBoolToObject(c, "enabled", cfg->cluster.enabled);
    add_str(c, "id", cfg->cluster.id);
    add_str(c, "topic_prefix", cfg->cluster.topic_prefix);
    cJSON_AddNumberToObject(c, "partitions", cfg->cluster.partitions);
    cJSON_AddNumberToObject(c, "load_timeout_ms", cfg->cluster.load_timeout_ms);
    cJSON_AddNumberToObject(c, "heartbeat_ms", cfg->cluster.heartbeat_ms);
    cJSON_AddNumberToObject(c, "node_timeout_ms", cfg->cluster.node_timeout_ms);
    cJSON_AddNumberToObject(c, "checkpoint_ms", cfg->cluster.checkpoint_ms);
}

char *cfg_to_json(const cfg_t *cfg)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    add_str(root, "source", cfg->source);
    add_listeners(root, cfg);
    add_str(root, "data_dir", cfg->data_dir);
    cJSON_AddNumberToObject(root, "workers", cfg->workers);
    add_str(root, "node_id", cfg->node_id);
    add_mqtt(root, cfg);
    cJSON *p = cJSON_AddObjectToObject(root, "persistence");
    if (p) {
        cJSON_AddStringToObject(p, "sync", syncs[cfg->persistence.sync]);
        cJSON_AddNumberToObject(p, "flush_ms", cfg->persistence.flush_ms);
    }
    add_bridge(root, cfg);
    add_cluster(root, cfg);
    cJSON *l = cJSON_AddObjectToObject(root, "log");
    if (l) {
        add_str(l, "level", cfg->log.level);
        add_str(l, "file", cfg->log.file);
        cJSON_AddStringToObject(l, "format", cfg->log.json ? "json" : "text");
    }
    cJSON *a = cJSON_AddObjectToObject(root, "admin");
    if (a) {
        cJSON *keys = cJSON_AddArrayToObject(a, "api_keys");
        for (size_t i = 0; keys && i < cfg->admin.n_keys; i++)
            cJSON_AddItemToArray(keys, cJSON_CreateString(REDACTED));
        add_str(a, "api_keys_file", cfg->admin.api_keys_file);
        cJSON_AddNumberToObject(a, "max_body", cfg->admin.max_body);
    }
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}
