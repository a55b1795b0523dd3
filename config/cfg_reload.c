/*
 * cfg_reload.c - what a reload may change. A running broker cannot move
 * its listeners, data_dir, worker count, node id, persistence, Kafka
 * client, from_kafka consumers, spool or dead-letter settings, or its log
 * file; cfg_reload_merge puts the running values of those back into the
 * new configuration (deep copies: the two cfg_t stay independent) and names
 * what differed, so the caller can report "needs restart". Everything else
 * (mqtt limits, $SYS interval, to_kafka rules, log level, admin keys) takes
 * the new value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_internal.h"

static void note(char *out, size_t cap, const char *name)
{
    size_t n = strlen(out);
    if (n + strlen(name) + 3 < cap) snprintf(out + n, cap - n, "%s%s", n ? ", " : "", name);
}

/* The JSON of one dotted path of a dumped config ("bridge.to_kafka"). */
static const cJSON *at(const cJSON *root, const char *path)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *v = root;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); v && k; k = strtok_r(NULL, ".", &save))
        v = cJSON_GetObjectItemCaseSensitive(v, k);
    return v;
}

static bool differs(const cJSON *a, const cJSON *b, const char *path)
{
    const cJSON *x = at(a, path), *y = at(b, path);
    if (!x || !y) return x != y;
    return !cJSON_Compare(x, y, true);
}

static bool keys_differ(const cfg_t *a, const cfg_t *b)
{
    if (a->admin.n_keys != b->admin.n_keys) return true;
    for (size_t i = 0; i < a->admin.n_keys; i++)
        if (strcmp(a->admin.keys[i], b->admin.keys[i])) return true;
    return false;
}

static char *dup(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d) *oom = true;
    return d;
}

static cfg_kv_t *dup_kvs(const cfg_kv_t *kv, size_t n, bool *oom)
{
    cfg_kv_t *d = n ? calloc(n, sizeof(*d)) : NULL;
    if (n && !d) *oom = true;
    for (size_t i = 0; d && i < n; i++) {
        d[i].key = dup(kv[i].key, oom);
        d[i].value = dup(kv[i].value, oom);
    }
    return d;
}

static void keep_listeners(cfg_t *next, const cfg_t *cur, bool *oom)
{
    for (size_t i = 0; i < next->n_listeners; i++)
        cfg_free_listener(&next->listeners[i]);
    free(next->listeners);
    next->n_listeners = 0;
    next->listeners = calloc(cur->n_listeners ? cur->n_listeners : 1, sizeof(*next->listeners));
    if (!next->listeners) {
        *oom = true;
        return;
    }
    for (size_t i = 0; i < cur->n_listeners; i++) {
        const cfg_listener_t *l = &cur->listeners[i];
        cfg_listener_t *d = &next->listeners[i];
        *d = *l;
        d->host = dup(l->host, oom);
        d->path = dup(l->path, oom);
        d->cert = dup(l->cert, oom);
        d->key = dup(l->key, oom);
        d->ca = dup(l->ca, oom);
        next->n_listeners = i + 1;
    }
}

static void keep_from_kafka(cfg_t *next, const cfg_t *cur, bool *oom)
{
    for (size_t i = 0; i < next->bridge.n_from_kafka; i++) {
        cfg_from_kafka_t *r = &next->bridge.from_kafka[i];
        free(r->topic);
        free(r->group);
        free(r->mqtt_topic);
    }
    free(next->bridge.from_kafka);
    size_t n = cur->bridge.n_from_kafka;
    next->bridge.n_from_kafka = 0;
    next->bridge.from_kafka = n ? calloc(n, sizeof(*next->bridge.from_kafka)) : NULL;
    if (n && !next->bridge.from_kafka) {
        *oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const cfg_from_kafka_t *r = &cur->bridge.from_kafka[i];
        cfg_from_kafka_t *d = &next->bridge.from_kafka[i];
        *d = *r;
        d->topic = dup(r->topic, oom);
        d->group = dup(r->group, oom);
        d->mqtt_topic = dup(r->mqtt_topic, oom);
        next->bridge.n_from_kafka = i + 1;
    }
}

#define SWAP_STR(field)                                                                            \
    do {                                                                                           \
        free(next->field);                                                                         \
        next->field = dup(cur->field, &oom);                                                       \
    } while (0)

int cfg_reload_merge(cfg_t *next, const cfg_t *cur, char *applied, size_t alen, char *restart,
                     size_t rlen)
{
    static const char *const fixed[] = {"listeners",
                                        "data_dir",
                                        "workers",
                                        "node_id",
                                        "persistence",
                                        "kafka",
                                        "bridge.from_kafka",
                                        "bridge.spool_after_ms",
                                        "bridge.spool_max_bytes",
                                        "bridge.spool_high_water",
                                        "bridge.dead_letter_topic",
                                        "log.file",
                                        "cluster",
                                        NULL};
    static const char *const live[] = {"mqtt", "bridge.to_kafka", "log.level", "log.format", NULL};
    applied[0] = restart[0] = 0;
    char *a = cfg_to_json(cur), *b = cfg_to_json(next);
    cJSON *ja = a ? cJSON_Parse(a) : NULL, *jb = b ? cJSON_Parse(b) : NULL;
    free(a);
    free(b);
    if (!ja || !jb) {
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        return CFG_ERR_NOMEM;
    }
    for (size_t i = 0; fixed[i]; i++)
        if (differs(ja, jb, fixed[i])) note(restart, rlen, fixed[i]);
    for (size_t i = 0; live[i]; i++)
        if (differs(ja, jb, live[i])) note(applied, alen, live[i]);
    if (keys_differ(cur, next) || differs(ja, jb, "admin")) note(applied, alen, "admin");
    cJSON_Delete(ja);
    cJSON_Delete(jb);

    bool oom = false;
    keep_listeners(next, cur, &oom);
    SWAP_STR(data_dir);
    next->workers = cur->workers;
    SWAP_STR(node_id);
    next->persistence = cur->persistence;
    SWAP_STR(kafka.bootstrap);
    cfg_free_kvs(next->kafka.properties, next->kafka.n_properties);
    next->kafka.properties = dup_kvs(cur->kafka.properties, cur->kafka.n_properties, &oom);
    next->kafka.n_properties = next->kafka.properties ? cur->kafka.n_properties : 0;
    keep_from_kafka(next, cur, &oom);
    next->bridge.spool_after_ms = cur->bridge.spool_after_ms;
    next->bridge.spool_max_bytes = cur->bridge.spool_max_bytes;
    next->bridge.spool_high_water = cur->bridge.spool_high_water;
    SWAP_STR(bridge.dead_letter_topic);
    SWAP_STR(log.file);
    char *id = next->cluster.id, *prefix = next->cluster.topic_prefix;
    next->cluster = cur->cluster; /* scalars; the strings are swapped below */
    next->cluster.id = id;
    next->cluster.topic_prefix = prefix;
    SWAP_STR(cluster.id);
    SWAP_STR(cluster.topic_prefix);
    return oom ? CFG_ERR_NOMEM : CFG_OK;
}
