/*
 * api_msgs.c - messages through the admin API: POST /publish and
 * /publish/bulk (routed with brk_route like a client's PUBLISH, and offered
 * to the Kafka bridge's to_kafka rules first, as a client's is), GET
 * /topics (the retained topic tree under a filter), GET|DELETE
 * /retained/{topic}. Runs on the request's worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "api.h"
#include "sink.h"
#include "store.h"

#define BULK_MAX 1000

typedef struct pub {
    const char *topic;
    uint8_t *payload; /* owned */
    uint32_t payload_len;
    uint8_t qos;
    bool retain;
    mqtt_props_t props; /* views into the request's cJSON, and user (owned) */
    uint8_t *user;
} pub_t;

static void pub_free(pub_t *p)
{
    free(p->payload);
    free(p->user);
}

/* User properties as the block of (0x26, key, value) entries mqtt_props_t
 * carries (codec/ has no builder from pairs: it only copies decoded ones). */
static bool user_props(const cJSON *o, pub_t *p, char *err, size_t errlen)
{
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "properties.user_properties: expected object of strings");
        return false;
    }
    size_t need = 0;
    for (const cJSON *v = o->child; v; v = v->next) {
        if (!cJSON_IsString(v) || strlen(v->string) > 65535 || strlen(v->valuestring) > 65535 ||
            !mqtt_utf8_valid((const uint8_t *)v->string, strlen(v->string))) {
            snprintf(err, errlen, "properties.user_properties: expected object of strings");
            return false;
        }
        need += 5 + strlen(v->string) + strlen(v->valuestring);
    }
    if (!(p->user = malloc(need ? need : 1))) return false;
    uint8_t *w = p->user;
    for (const cJSON *v = o->child; v; v = v->next) {
        const char *kv[2] = {v->string, v->valuestring};
        *w++ = 0x26;
        for (int i = 0; i < 2; i++) {
            size_t n = strlen(kv[i]);
            *w++ = (uint8_t)(n >> 8);
            *w++ = (uint8_t)n;
            memcpy(w, kv[i], n);
            w += n;
        }
        p->props.user_count++;
    }
    p->props.user = (mqtt_str_t){p->user, (uint32_t)need};
    return true;
}

static bool str_prop(const cJSON *o, const char *key, int id, mqtt_str_t *dst, mqtt_props_t *pr,
                     char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return true;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > 65535) {
        snprintf(err, errlen, "properties.%s: expected string", key);
        return false;
    }
    *dst = (mqtt_str_t){(const uint8_t *)v->valuestring, (uint32_t)strlen(v->valuestring)};
    pr->present |= MQTT_PROP_BIT(id);
    return true;
}

/* The first key of object o not in known (NULL-terminated), or NULL. */
static const char *unknown_key(const cJSON *o, const char *const *known)
{
    for (const cJSON *v = o->child; v; v = v->next) {
        bool ok = false;
        for (int i = 0; known[i]; i++)
            ok |= !strcmp(v->string, known[i]);
        if (!ok) return v->string;
    }
    return NULL;
}

static bool props(const cJSON *o, pub_t *p, char *err, size_t errlen)
{
    static const char *known[] = {"payload_format_indicator",
                                  "message_expiry_interval",
                                  "content_type",
                                  "response_topic",
                                  "correlation_data",
                                  "user_properties",
                                  NULL};
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "properties: expected object");
        return false;
    }
    if (unknown_key(o, known)) {
        snprintf(err, errlen,
                 "properties: unknown property (known: payload_format_indicator, "
                 "message_expiry_interval, content_type, response_topic, "
                 "correlation_data, user_properties)");
        return false;
    }
    mqtt_props_t *pr = &p->props;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "payload_format_indicator");
    if (v) {
        if (!cJSON_IsNumber(v) || (v->valuedouble != 0 && v->valuedouble != 1)) {
            snprintf(err, errlen, "properties.payload_format_indicator: expected 0 or 1");
            return false;
        }
        pr->payload_format = (uint8_t)v->valueint;
        pr->present |= MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "message_expiry_interval"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 4294967295.0 ||
            v->valuedouble != (double)(uint32_t)v->valuedouble) {
            snprintf(err, errlen,
                     "properties.message_expiry_interval: expected seconds, 0 to "
                     "4294967295");
            return false;
        }
        pr->message_expiry = (uint32_t)v->valuedouble;
        pr->present |= MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
    }
    if (!str_prop(o, "content_type", MQTT_PROP_CONTENT_TYPE, &pr->content_type, pr, err, errlen) ||
        !str_prop(o, "response_topic", MQTT_PROP_RESPONSE_TOPIC, &pr->response_topic, pr, err,
                  errlen) ||
        !str_prop(o, "correlation_data", MQTT_PROP_CORRELATION_DATA, &pr->correlation_data, pr, err,
                  errlen))
        return false;
    if ((pr->present & MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC)) &&
        !mqtt_topic_valid(pr->response_topic.p, pr->response_topic.len)) {
        snprintf(err, errlen, "properties.response_topic: expected a topic name (no wildcards)");
        return false;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "user_properties");
    return !v || user_props(v, p, err, errlen);
}

static bool parse_pub(const cJSON *o, pub_t *p, char *err, size_t errlen)
{
    static const char *known[] = {"topic",  "payload",    "encoding", "qos",
                                  "retain", "properties", NULL};
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "expected a JSON object");
        return false;
    }
    const char *bad = unknown_key(o, known);
    if (bad) {
        snprintf(err, errlen,
                 "%s: unknown field (known: topic, payload, encoding, qos, retain, properties)",
                 bad);
        return false;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "topic");
    if (!cJSON_IsString(t) ||
        !mqtt_topic_valid((const uint8_t *)t->valuestring, strlen(t->valuestring))) {
        snprintf(err, errlen, "topic: expected a topic name (UTF-8, no wildcards, not empty)");
        return false;
    }
    if (!strncmp(t->valuestring, "$SYS", 4)) {
        snprintf(err, errlen, "topic: $SYS is the broker's own tree");
        return false;
    }
    p->topic = t->valuestring;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "encoding");
    bool b64 = false;
    if (v && (!cJSON_IsString(v) ||
              (strcmp(v->valuestring, "plain") && strcmp(v->valuestring, "base64")))) {
        snprintf(err, errlen, "encoding: expected \"plain\" or \"base64\"");
        return false;
    }
    b64 = v && !strcmp(v->valuestring, "base64");
    v = cJSON_GetObjectItemCaseSensitive(o, "payload");
    const char *pl = "";
    if (v && !cJSON_IsString(v)) {
        snprintf(err, errlen, "payload: expected string");
        return false;
    }
    if (v) pl = v->valuestring;
    if (b64 && !brk_b64_decode(pl, &p->payload, &p->payload_len)) {
        snprintf(err, errlen, "payload: expected base64 (RFC 4648, padded)");
        return false;
    }
    if (!b64) {
        p->payload_len = (uint32_t)strlen(pl);
        if (!(p->payload = malloc(p->payload_len + 1))) return false;
        memcpy(p->payload, pl, p->payload_len);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "qos"))) {
        if (!cJSON_IsNumber(v) ||
            (v->valuedouble != 0 && v->valuedouble != 1 && v->valuedouble != 2)) {
            snprintf(err, errlen, "qos: expected 0, 1 or 2");
            return false;
        }
        p->qos = (uint8_t)v->valueint;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "retain"))) {
        if (!cJSON_IsBool(v)) {
            snprintf(err, errlen, "retain: expected true or false");
            return false;
        }
        p->retain = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "properties")) && !props(v, p, err, errlen))
        return false;
    if ((p->props.present & MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT)) && p->props.payload_format &&
        !mqtt_utf8_valid(p->payload, p->payload_len)) {
        snprintf(err, errlen, "payload: payload_format_indicator 1 needs UTF-8");
        return false;
    }
    return true;
}

/* Bridge first (a full spool refuses before anyone got it), then route.
 * The result object, or NULL with *status set when refused. */
static cJSON *publish_one(brk_api_req_t *r, pub_t *p, unsigned *status)
{
    brk_t *b = r->b;
    uint16_t tlen = (uint16_t)strlen(p->topic);
    uint32_t plen = mqtt_props_forward_size(&p->props);
    brk_msg_t *m = brk_msg_new((const uint8_t *)p->topic, tlen, p->payload, p->payload_len, plen,
                               p->qos, p->retain);
    if (!m) {
        *status = HTTP_STATUS_INTERNAL_SERVER_ERROR;
        return NULL;
    }
    if (plen) mqtt_props_forward_write(&p->props, (uint8_t *)m->props, plen);
    if (p->props.present & MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY))
        m->expire_at_ms = brk_now_ms() + (int64_t)p->props.message_expiry * 1000;
    /* the sinks (the Kafka bridge) first: a full spool refuses it (503)
     * before any subscriber got it */
    brk_origin_t org = {.kind = BRK_ORIGIN_API, .client_id = ""};
    uint32_t n = brk_route_from(b, r->w, m, &org);
    brk_msg_unref(&m);
    if (org.refused) {
        *status = HTTP_STATUS_SERVICE_UNAVAILABLE;
        return NULL;
    }
    brk_count(&r->w->st.msgs_in, 1);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "topic", p->topic);
        cJSON_AddNumberToObject(o, "subscribers", n);
        cJSON_AddBoolToObject(o, "kafka", org.taken > 0);
    }
    return o;
}

static cJSON *parse_body(brk_api_req_t *r)
{
    cJSON *j = r->body ? cJSON_ParseWithLength(r->body, r->body_len) : NULL;
    if (!j) brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_json", "the body is not valid JSON");
    return j;
}

static bool retain_refused(brk_api_req_t *r, const pub_t *p)
{
    if (!p->retain || r->b->cfg->mqtt.retain_available) return false;
    brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                  "retain: mqtt.retain_available is false");
    return true;
}

void brk_api_publish(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    cJSON *j = parse_body(r);
    if (!j) return;
    pub_t p = {0};
    char err[256] = "out of memory";
    unsigned status = HTTP_STATUS_OK;
    if (!parse_pub(j, &p, err, sizeof(err))) {
        brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_request", "%s", err);
    } else if (!retain_refused(r, &p)) {
        cJSON *o = publish_one(r, &p, &status);
        if (o)
            brk_api_reply(r, HTTP_STATUS_OK, o);
        else
            brk_api_error(r, status, "unavailable", "the Kafka spool is full: not published");
    }
    pub_free(&p);
    cJSON_Delete(j);
}

/* All validated before any is published: a bad entry publishes nothing. */
void brk_api_publish_bulk(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    cJSON *j = parse_body(r);
    if (!j) return;
    int n = cJSON_GetArraySize(j);
    if (!cJSON_IsArray(j) || n < 1 || n > BULK_MAX) {
        brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                      "expected an array of 1 to %d publish objects", BULK_MAX);
        cJSON_Delete(j);
        return;
    }
    pub_t *ps = calloc((size_t)n, sizeof(*ps));
    char err[256] = "out of memory";
    int i = 0, bad = -1;
    for (const cJSON *o = j->child; ps && o; o = o->next, i++)
        if (!parse_pub(o, &ps[i], err, sizeof(err)) || retain_refused(r, &ps[i])) {
            bad = i;
            break;
        }
    if (!ps || bad >= 0) {
        if (!r->replied)
            brk_api_error(r, ps ? HTTP_STATUS_BAD_REQUEST : HTTP_STATUS_INTERNAL_SERVER_ERROR,
                          "bad_request", "[%d]: %s", bad, err);
    } else {
        cJSON *res = cJSON_CreateArray();
        for (i = 0; i < n; i++) {
            unsigned status = HTTP_STATUS_OK;
            cJSON *o = publish_one(r, &ps[i], &status);
            if (!o && (o = cJSON_CreateObject())) {
                cJSON_AddStringToObject(o, "topic", ps[i].topic);
                cJSON_AddStringToObject(o, "error", "the Kafka spool is full: not published");
            }
            cJSON_AddItemToArray(res, o);
        }
        cJSON *out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, "data", res);
        brk_api_reply(r, HTTP_STATUS_OK, out);
    }
    for (i = 0; ps && i < n; i++)
        pub_free(&ps[i]);
    free(ps);
    cJSON_Delete(j);
}

/* A retained message as JSON: payload as text when it is UTF-8, else base64. */
static cJSON *retained_json(const brk_msg_t *m, bool with_payload)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char *t = strndup(m->topic, m->topic_len);
    cJSON_AddStringToObject(o, "topic", t ? t : "");
    free(t);
    cJSON_AddNumberToObject(o, "qos", m->qos);
    cJSON_AddNumberToObject(o, "payload_bytes", m->payload_len);
    if (!with_payload) return o;
    bool text =
        mqtt_utf8_valid(m->payload, m->payload_len) && !memchr(m->payload, 0, m->payload_len);
    char *pl = text ? strndup((const char *)m->payload, m->payload_len)
                    : brk_b64_encode(m->payload, m->payload_len);
    cJSON_AddStringToObject(o, "payload", pl ? pl : "");
    cJSON_AddStringToObject(o, "encoding", text ? "plain" : "base64");
    free(pl);
    return o;
}

typedef struct collect {
    cJSON *arr;
    brk_msg_t *one;
} collect_t;

static void collect_topic(void *arg, brk_msg_t *m)
{
    collect_t *c = arg;
    cJSON_AddItemToArray(c->arr, retained_json(m, false));
    brk_msg_unref(&m);
}

void brk_api_topics(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    const char *f = brk_api_arg(r, "match");
    if (!f) f = "#";
    uint64_t page, limit;
    if (!brk_api_page(r, &page, &limit)) return;
    if (!mqtt_filter_valid((const uint8_t *)f, strlen(f)) || strlen(f) > 65535) {
        brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                      "match: expected an MQTT topic filter");
        return;
    }
    collect_t c = {.arr = cJSON_CreateArray()};
    brk_retain_match(r->b->retain, f, (uint16_t)strlen(f), collect_topic, &c);
    brk_api_reply(r, HTTP_STATUS_OK, brk_api_paged(c.arr, page, limit));
}

static void keep_one(void *arg, brk_msg_t *m)
{
    collect_t *c = arg;
    if (c->one) brk_msg_unref(&c->one);
    c->one = m;
}

static brk_msg_t *find_retained(brk_api_req_t *r, const char *topic)
{
    if (!mqtt_topic_valid((const uint8_t *)topic, strlen(topic)) || strlen(topic) > 65535) {
        brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                      "expected a topic name (no wildcards) after /retained/");
        return NULL;
    }
    collect_t c = {0};
    brk_retain_match(r->b->retain, topic, (uint16_t)strlen(topic), keep_one, &c);
    if (!c.one) brk_api_error(r, HTTP_STATUS_NOT_FOUND, "not_found", "no retained message there");
    return c.one;
}

void brk_api_retained_get(brk_api_req_t *r, const char *tail)
{
    brk_msg_t *m = find_retained(r, tail);
    if (!m) return;
    brk_api_reply(r, HTTP_STATUS_OK, retained_json(m, true));
    brk_msg_unref(&m);
}

/* Removed the way an empty retained PUBLISH removes it (memory and store
 * in one order), but without delivering anything to subscribers. */
void brk_api_retained_del(brk_api_req_t *r, const char *tail)
{
    brk_msg_t *m = find_retained(r, tail);
    if (!m) return;
    brk_msg_unref(&m);
    brk_t *b = r->b;
    brk_msg_t *e = brk_msg_new((const uint8_t *)tail, (uint16_t)strlen(tail), (const uint8_t *)"",
                               0, 0, 0, true);
    if (!e) {
        brk_api_error(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    pthread_mutex_lock(&b->retain_order);
    brk_retain_set(b->retain, e);
    brk_persist_retained(b, e);
    pthread_mutex_unlock(&b->retain_order);
    brk_msg_unref(&e);
    brk_api_reply(r, HTTP_STATUS_NO_CONTENT, NULL);
}
