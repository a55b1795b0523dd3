/*
 * cfg_bridge.c - the "kafka" and "bridge" sections: Kafka client settings,
 * MQTT->Kafka and Kafka->MQTT rules. Templates are checked here and kept as
 * text; the bridge compiles them.
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_internal.h"

#define KAFKA_TOPIC_MAX 249

void cfg_free_bridge(cfg_t *cfg)
{
    for (size_t i = 0; i < cfg->bridge.n_to_kafka; i++) {
        cfg_to_kafka_t *r = &cfg->bridge.to_kafka[i];
        free(r->match);
        free(r->topic);
        free(r->key);
        cfg_free_kvs(r->headers, r->n_headers);
    }
    free(cfg->bridge.to_kafka);
    for (size_t i = 0; i < cfg->bridge.n_from_kafka; i++) {
        cfg_from_kafka_t *r = &cfg->bridge.from_kafka[i];
        free(r->topic);
        free(r->group);
        free(r->mqtt_topic);
    }
    free(cfg->bridge.from_kafka);
    free(cfg->bridge.dead_letter_topic);
    cfg->bridge.to_kafka = NULL;
    cfg->bridge.from_kafka = NULL;
    cfg->bridge.n_to_kafka = cfg->bridge.n_from_kafka = 0;
}

/* ---- names ---------------------------------------------------------- */

static bool kafka_char_ok(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

/* A literal Kafka topic name: 1..249 of [A-Za-z0-9._-], not "." or "..". */
static bool kafka_topic_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KAFKA_TOPIC_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!kafka_char_ok(s[i])) return false;
    return true;
}

/* An MQTT topic filter (MQTT 5.0 4.7.1): '#' only as the whole last level,
 * '+' only as a whole level. Our own check so that config/ does not wait on
 * codec/. Returns NULL when valid, else why. Sets *levels to the number of
 * levels, or -1 when the filter ends in '#' (any number). */
const char *cfg_filter_problem(const char *f, long *levels)
{
    size_t n = strlen(f);
    long count = 1;
    if (n == 0) return "empty filter";
    if (n > 65535) return "longer than 65535 bytes";
    for (size_t i = 0; i < n; i++) {
        char c = f[i];
        bool start = i == 0 || f[i - 1] == '/';
        bool end = i + 1 == n || f[i + 1] == '/';
        if (c == '/') count++;
        if (c == '+' && !(start && end)) return "'+' must fill a whole level";
        if (c == '#' && !(start && i + 1 == n)) return "'#' must be the whole last level";
    }
    *levels = f[n - 1] == '#' ? -1 : count;
    return NULL;
}

/* ---- templates ------------------------------------------------------ */

typedef enum tpl_kind {
    TPL_TO_KAFKA,   /* {N}, {topic}, {clientid}, {username}, {node} */
    TPL_FROM_KAFKA, /* {key}, {topic}, {partition}, {header.NAME} */
} tpl_kind_t;

typedef enum tpl_lit {
    LIT_ANY,         /* keys, header values */
    LIT_KAFKA_TOPIC, /* literal text must be legal in a Kafka topic */
    LIT_MQTT_TOPIC,  /* literal text must be legal in an MQTT topic name */
} tpl_lit_t;

static bool tpl_name_ok(tpl_kind_t kind, const char *name, size_t len, long max_level,
                        const char **why)
{
#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
    if (kind == TPL_TO_KAFKA) {
        if (IS("topic") || IS("clientid") || IS("username") || IS("node")) return true;
        if (len > 0 && isdigit((unsigned char)name[0])) {
            long v = 0;
            for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char)name[i]) || i >= 5) return false;
                v = v * 10 + (name[i] - '0');
            }
            if (v < 1 || name[0] == '0') {
                *why = "topic levels count from 1";
                return false;
            }
            if (max_level >= 0 && v > max_level) {
                *why = "levels";
                return false;
            }
            return true;
        }
        return false;
    }
    if (IS("key") || IS("topic") || IS("partition")) return true;
    if (len > 7 && memcmp(name, "header.", 7) == 0) return true;
    return false;
#undef IS
}

static int tpl_check(cfg_ctx_t *ctx, const char *where, const char *tpl, tpl_kind_t kind,
                     long max_level, tpl_lit_t lit)
{
    const char *expected = kind == TPL_TO_KAFKA ? "{N}, {topic}, {clientid}, {username} or {node}"
                                                : "{key}, {topic}, {partition} or {header.NAME}";
    bool placeholders = false;
    for (const char *p = tpl; *p; p++) {
        if (*p == '}')
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "unbalanced '}' in template \"%.64s\"", tpl);
        if (*p != '{') {
            if (lit == LIT_KAFKA_TOPIC && !kafka_char_ok(*p))
                return cfg_fail(ctx, CFG_ERR_FIELD, where,
                                "'%c' is not allowed in a Kafka topic name (use letters, digits, "
                                "'.', '_', '-' and placeholders)",
                                *p);
            if (lit == LIT_MQTT_TOPIC && (*p == '+' || *p == '#'))
                return cfg_fail(ctx, CFG_ERR_FIELD, where,
                                "'%c' is not allowed in an MQTT topic name", *p);
            continue;
        }
        const char *name = p + 1, *close = name;
        while (*close && *close != '}' && *close != '{')
            close++;
        if (*close != '}')
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "unbalanced '{' in template \"%.64s\"", tpl);
        size_t len = (size_t)(close - name);
        const char *why = NULL;
        if (!tpl_name_ok(kind, name, len, max_level, &why)) {
            if (why && strcmp(why, "levels") == 0)
                return cfg_fail(ctx, CFG_ERR_FIELD, where,
                                "placeholder {%.*s}: match has only %ld level%s", (int)len, name,
                                max_level, max_level == 1 ? "" : "s");
            if (why)
                return cfg_fail(ctx, CFG_ERR_FIELD, where, "placeholder {%.*s}: %s",
                                (int)(len > 32 ? 32 : len), name, why);
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "unknown placeholder {%.*s} (expected %s)",
                            (int)(len > 32 ? 32 : len), name, expected);
        }
        placeholders = true;
        p = close;
    }
    if (lit == LIT_KAFKA_TOPIC && !placeholders && !kafka_topic_valid(tpl))
        return cfg_fail(ctx, CFG_ERR_FIELD, where,
                        "expected Kafka topic name of 1..%d characters, got \"%.64s\"",
                        KAFKA_TOPIC_MAX, tpl);
    return CFG_OK;
}

/* A string member that is a template: getter + check. */
static int get_tpl(cfg_ctx_t *ctx, const cJSON *o, const char *path, const char *key, int flags,
                   tpl_kind_t kind, long max_level, tpl_lit_t lit, char **out)
{
    char *s = NULL, where[CFG_PATH_MAX];
    int rc;
    if (!cJSON_GetObjectItemCaseSensitive(o, key)) return CFG_OK;
    if ((rc = cfg_get_str(ctx, o, path, key, flags, &s))) return rc;
    cfg_path_key(where, path, key);
    if (s && (rc = tpl_check(ctx, where, s, kind, max_level, lit))) {
        free(s);
        return rc;
    }
    free(*out);
    *out = s;
    return CFG_OK;
}

/* ---- kafka ------------------------------------------------------------ */

static int parse_bootstrap(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    const char *where = "kafka.bootstrap";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "bootstrap");
    const char *expect = "expected \"HOST:PORT[,HOST:PORT...]\" string or null";
    char got[64];
    if (!v) return CFG_OK;
    if (cJSON_IsNull(v)) {
        free(cfg->kafka.bootstrap);
        cfg->kafka.bootstrap = NULL;
        return CFG_OK;
    }
    if (!cJSON_IsString(v))
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "%s, got %s", expect, cfg_type_name(v));
    const char *s = v->valuestring;
    do {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *why = NULL;
        char *host = NULL;
        uint16_t port;
        bool nomem;
        while (len && *s == ' ') {
            s++;
            len--;
        }
        if (!cfg_parse_hostport(s, len, &host, &port, &why, &nomem)) {
            if (nomem) return cfg_nomem(ctx);
            cfg_describe(v, got, sizeof(got));
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "%s (%s), got %s", expect, why, got);
        }
        free(host);
        s = comma ? comma + 1 : NULL;
    } while (s);
    if (!cfg_set_str(&cfg->kafka.bootstrap, v->valuestring)) return cfg_nomem(ctx);
    return CFG_OK;
}

/* librdkafka takes every property as a string; numbers and booleans are
 * converted so that "linger.ms": 5 works as well as "5". */
static int kv_value(cfg_ctx_t *ctx, const cJSON *v, const char *where, char **out)
{
    char buf[64];
    const char *s;
    if (cJSON_IsString(v)) {
        if (!cfg_utf8_valid(v->valuestring))
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected UTF-8 string, got invalid UTF-8");
        s = v->valuestring;
    } else if (cJSON_IsBool(v)) {
        s = cJSON_IsTrue(v) ? "true" : "false";
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -9.2e18 && d < 9.2e18 && d == (double)(long long)d)
            snprintf(buf, sizeof(buf), "%lld", (long long)d);
        else
            snprintf(buf, sizeof(buf), "%.17g", d);
        s = buf;
    } else {
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected string, number or boolean, got %s",
                        cfg_type_name(v));
    }
    if (!(*out = cfg_strdup(s))) return cfg_nomem(ctx);
    return CFG_OK;
}

static int parse_properties(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    const char *p = "kafka.properties";
    int rc;
    if ((rc = cfg_check_free_keys(ctx, o, p))) return rc;
    size_t n = (size_t)cJSON_GetArraySize(o);
    cfg_kv_t *kv = n ? calloc(n, sizeof(*kv)) : NULL;
    if (n && !kv) return cfg_nomem(ctx);
    cfg_free_kvs(cfg->kafka.properties, cfg->kafka.n_properties);
    cfg->kafka.properties = kv;
    cfg->kafka.n_properties = n;
    size_t i = 0;
    for (const cJSON *m = o->child; m; m = m->next, i++) {
        char where[CFG_PATH_MAX];
        cfg_path_key(where, p, m->string);
        if (strcmp(m->string, "bootstrap.servers") == 0 ||
            strcmp(m->string, "metadata.broker.list") == 0)
            return cfg_fail(ctx, CFG_ERR_FIELD, where, "set kafka.bootstrap instead");
        if (!(kv[i].key = cfg_strdup(m->string))) return cfg_nomem(ctx);
        if ((rc = kv_value(ctx, m, where, &kv[i].value))) return rc;
    }
    return CFG_OK;
}

int cfg_parse_kafka(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    static const char *const keys[] = {"bootstrap", "properties", NULL};
    const cJSON *v;
    int rc;
    if ((rc = cfg_check_object(ctx, o, "kafka", keys))) return rc;
    if ((rc = parse_bootstrap(ctx, o, cfg))) return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "properties")) &&
        (rc = parse_properties(ctx, v, cfg)))
        return rc;
    return CFG_OK;
}

/* ---- bridge rules ----------------------------------------------------- */

static int parse_headers(cfg_ctx_t *ctx, const cJSON *o, const char *path, long max_level,
                         cfg_to_kafka_t *r)
{
    int rc;
    if ((rc = cfg_check_free_keys(ctx, o, path))) return rc;
    size_t n = (size_t)cJSON_GetArraySize(o);
    if (!n) return CFG_OK;
    if (!(r->headers = calloc(n, sizeof(*r->headers)))) return cfg_nomem(ctx);
    r->n_headers = n;
    size_t i = 0;
    for (const cJSON *m = o->child; m; m = m->next, i++) {
        if (!(r->headers[i].key = cfg_strdup(m->string))) return cfg_nomem(ctx);
        if ((rc = get_tpl(ctx, o, path, m->string, 0, TPL_TO_KAFKA, max_level, LIT_ANY,
                          &r->headers[i].value)))
            return rc;
    }
    return CFG_OK;
}

static int parse_to_kafka(cfg_ctx_t *ctx, const cJSON *o, const char *path, cfg_to_kafka_t *r)
{
    static const char *const keys[] = {"match",  "topic", "key",   "headers",
                                       "format", "ack",   "final", NULL};
    static const char *const formats[] = {"raw", "json", NULL};
    /* Index + 1 is the cfg_ack_t. */
    static const char *const acks[] = {"kafka", "local", NULL};
    char where[CFG_PATH_MAX];
    long levels = -1;
    int rc, format = CFG_FORMAT_RAW, ack = -1;
    const cJSON *v;

    if ((rc = cfg_check_object(ctx, o, path, keys))) return rc;
    if ((rc = cfg_get_str(ctx, o, path, "match", CFG_STR_NONEMPTY, &r->match))) return rc;
    cfg_path_key(where, path, "match");
    if (!r->match)
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "missing (expected MQTT topic filter)");
    const char *why = cfg_filter_problem(r->match, &levels);
    if (why)
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "expected MQTT topic filter (%s), got \"%.64s\"",
                        why, r->match);

    if ((rc = get_tpl(ctx, o, path, "topic", CFG_STR_NONEMPTY, TPL_TO_KAFKA, levels,
                      LIT_KAFKA_TOPIC, &r->topic)))
        return rc;
    cfg_path_key(where, path, "topic");
    if (!r->topic)
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "missing (expected Kafka topic template)");
    if (!(r->key = cfg_strdup("{topic}"))) return cfg_nomem(ctx);
    if ((rc = get_tpl(ctx, o, path, "key", 0, TPL_TO_KAFKA, levels, LIT_ANY, &r->key))) return rc;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "headers"))) {
        cfg_path_key(where, path, "headers");
        if ((rc = parse_headers(ctx, v, where, levels, r))) return rc;
    }
    if ((rc = cfg_get_enum(ctx, o, path, "format", formats, &format))) return rc;
    if ((rc = cfg_get_enum(ctx, o, path, "ack", acks, &ack))) return rc;
    if ((rc = cfg_get_bool(ctx, o, path, "final", &r->final))) return rc;
    r->format = (cfg_format_t)format;
    r->ack = ack < 0 ? CFG_ACK_DEFAULT : (cfg_ack_t)(ack + 1);
    return CFG_OK;
}

/* glibc regcomp expands counted repetition and stacked quantifiers, so
 * "((a{255}){255}){255}" or "b+++++..." take minutes and gigabytes. Kafka
 * topic patterns need none of that: refuse stacked quantifiers, more than
 * 32 quantifiers, and bounds multiplying past 10000 (or past 100000 divided
 * by the pattern's length). */
static bool regex_too_big(const char *re)
{
    double product = 1;
    int quantifiers = 0;
    bool after_quantifier = false;
    for (const char *p = re; *p; p++) {
        if (*p == '\\') {
            if (!*++p) break;
            after_quantifier = false;
            continue;
        }
        bool q = *p == '*' || *p == '+' || *p == '?' || *p == '{';
        if (!q) {
            after_quantifier = false;
            continue;
        }
        if (after_quantifier || ++quantifiers > 32) return true;
        after_quantifier = true;
        if (*p != '{') continue;
        double bound = 0, cur = 0;
        for (p++; *p && *p != '}'; p++) {
            if (*p >= '0' && *p <= '9') {
                cur = cur * 10 + (*p - '0');
                if (cur > bound) bound = cur;
            } else {
                cur = 0;
            }
        }
        product *= bound > 1 ? bound : 1;
        /* The expansion grows with bounds times the length repeated. */
        if (product > 10000 || product * (double)strlen(re) > 100000) return true;
        if (!*p) break;
    }
    return false;
}

static int parse_kafka_source(cfg_ctx_t *ctx, const char *where, const char *topic)
{
    if (topic[0] == '^') {
        if (strlen(topic) > 1024 || regex_too_big(topic))
            return cfg_fail(ctx, CFG_ERR_FIELD, where,
                            "regular expression too complex (at most 1024 bytes, 32 "
                            "quantifiers, none stacked, small repetition bounds)");
        regex_t re;
        int e = regcomp(&re, topic, REG_EXTENDED | REG_NOSUB);
        if (e != 0) {
            char msg[128];
            regerror(e, &re, msg, sizeof(msg));
            return cfg_fail(ctx, CFG_ERR_FIELD, where,
                            "expected extended regular expression, got \"%.64s\": %s", topic, msg);
        }
        regfree(&re);
        return CFG_OK;
    }
    if (!kafka_topic_valid(topic))
        return cfg_fail(ctx, CFG_ERR_FIELD, where,
                        "expected Kafka topic name (1..%d of A-Z a-z 0-9 . _ -) or \"^regex\", "
                        "got \"%.64s\"",
                        KAFKA_TOPIC_MAX, topic);
    return CFG_OK;
}

static int parse_from_kafka(cfg_ctx_t *ctx, const cJSON *o, const char *path, const cfg_t *cfg,
                            cfg_from_kafka_t *r)
{
    static const char *const keys[] = {"topic",  "group",           "mqtt_topic", "qos",
                                       "retain", "cluster_records", NULL};
    char where[CFG_PATH_MAX];
    uint16_t qos = 1;
    int rc;

    if ((rc = cfg_check_object(ctx, o, path, keys))) return rc;
    if ((rc = cfg_get_str(ctx, o, path, "topic", CFG_STR_NONEMPTY, &r->topic))) return rc;
    cfg_path_key(where, path, "topic");
    if (!r->topic)
        return cfg_fail(ctx, CFG_ERR_FIELD, where, "missing (expected Kafka topic or \"^regex\")");
    if ((rc = parse_kafka_source(ctx, where, r->topic))) return rc;

    if ((rc = cfg_get_str(ctx, o, path, "group", CFG_STR_NONEMPTY, &r->group))) return rc;
    if (!r->group) {
        size_t n = strlen(cfg->node_id) + sizeof("sluice-");
        if (!(r->group = malloc(n))) return cfg_nomem(ctx);
        snprintf(r->group, n, "sluice-%s", cfg->node_id);
    }
    if ((rc = get_tpl(ctx, o, path, "mqtt_topic", CFG_STR_NONEMPTY | CFG_STR_NULLABLE,
                      TPL_FROM_KAFKA, -1, LIT_MQTT_TOPIC, &r->mqtt_topic)))
        return rc;
    if ((rc = cfg_get_u16(ctx, o, path, "qos", 0, 2, &qos))) return rc;
    r->qos = (uint8_t)qos;
    if ((rc = cfg_get_bool(ctx, o, path, "retain", &r->retain))) return rc;
    return cfg_get_bool(ctx, o, path, "cluster_records", &r->cluster_records);
}

/* A rules array: the count, or an error for a non-array. */
static int rule_count(cfg_ctx_t *ctx, const cJSON *arr, const char *path, size_t *n)
{
    if (!cJSON_IsArray(arr))
        return cfg_fail(ctx, CFG_ERR_FIELD, path, "expected array of rule objects, got %s",
                        cfg_type_name(arr));
    *n = (size_t)cJSON_GetArraySize(arr);
    return CFG_OK;
}

int cfg_parse_bridge(cfg_ctx_t *ctx, const cJSON *o, cfg_t *cfg)
{
    static const char *const keys[] = {
        "to_kafka",          "from_kafka", "spool_after_ms", "spool_max_bytes", "spool_high_water",
        "dead_letter_topic", NULL};
    const char *p = "bridge";
    const cJSON *arr, *m;
    char where[CFG_PATH_MAX];
    size_t i;
    int rc;

    if (!o) return CFG_OK;
    if ((rc = cfg_check_object(ctx, o, p, keys))) return rc;

    if ((arr = cJSON_GetObjectItemCaseSensitive(o, "to_kafka"))) {
        size_t n = 0;
        if ((rc = rule_count(ctx, arr, "bridge.to_kafka", &n))) return rc;
        if (n && !(cfg->bridge.to_kafka = calloc(n, sizeof(cfg_to_kafka_t)))) return cfg_nomem(ctx);
        cfg->bridge.n_to_kafka = n;
        for (m = arr->child, i = 0; m; m = m->next, i++) {
            cfg_path_index(where, "bridge.to_kafka", i);
            if ((rc = parse_to_kafka(ctx, m, where, &cfg->bridge.to_kafka[i]))) return rc;
        }
    }
    if ((arr = cJSON_GetObjectItemCaseSensitive(o, "from_kafka"))) {
        size_t n = 0;
        if ((rc = rule_count(ctx, arr, "bridge.from_kafka", &n))) return rc;
        if (n && !(cfg->bridge.from_kafka = calloc(n, sizeof(cfg_from_kafka_t))))
            return cfg_nomem(ctx);
        cfg->bridge.n_from_kafka = n;
        for (m = arr->child, i = 0; m; m = m->next, i++) {
            cfg_path_index(where, "bridge.from_kafka", i);
            if ((rc = parse_from_kafka(ctx, m, where, cfg, &cfg->bridge.from_kafka[i]))) return rc;
        }
    }
    if ((rc = cfg_get_u32(ctx, o, p, "spool_after_ms", 0, 86400000, &cfg->bridge.spool_after_ms)) ||
        (rc = cfg_get_u64(ctx, o, p, "spool_max_bytes", (uint64_t)1 << 20, UINT64_MAX,
                          &cfg->bridge.spool_max_bytes)) ||
        (rc = cfg_get_u32(ctx, o, p, "spool_high_water", 1, 100, &cfg->bridge.spool_high_water)) ||
        (rc = cfg_get_str(ctx, o, p, "dead_letter_topic", CFG_STR_NONEMPTY | CFG_STR_NULLABLE,
                          &cfg->bridge.dead_letter_topic)))
        return rc;
    if (cfg->bridge.dead_letter_topic && !kafka_topic_valid(cfg->bridge.dead_letter_topic))
        return cfg_fail(ctx, CFG_ERR_FIELD, "bridge.dead_letter_topic",
                        "expected Kafka topic name (1..%d of A-Z a-z 0-9 . _ -) or null, got "
                        "\"%.64s\"",
                        KAFKA_TOPIC_MAX, cfg->bridge.dead_letter_topic);
    return CFG_OK;
}

int cfg_check_bridge_kafka(const cfg_t *cfg, bool dev_kafka, char *err, size_t errlen)
{
    if (cfg->kafka.bootstrap || dev_kafka) return CFG_OK;
    cfg_ctx_t ctx = {.name = cfg->source, .err = err, .errlen = errlen};
    const char *rules = cfg->bridge.n_to_kafka     ? "bridge.to_kafka"
                        : cfg->bridge.n_from_kafka ? "bridge.from_kafka"
                        : cfg->cluster.enabled     ? "cluster.enabled"
                                                   : NULL;
    if (!rules) return CFG_OK;
    /* rules without a cluster would be ignored: nothing reaches Kafka and
     * nobody is told */
    return cfg_fail(&ctx, CFG_ERR_FIELD, rules,
                    "expected kafka.bootstrap to be set (bridge rules and the cluster need a "
                    "Kafka cluster; --dev-kafka starts a development one), got none");
}
