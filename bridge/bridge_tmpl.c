/*
 * bridge_tmpl.c - rule templates, compiled once at bridge_new().
 *
 * to_kafka: {1} {2} ... (MQTT topic levels from 1), {topic}, {clientid},
 * {username}, {node}. from_kafka: {key}, {topic}, {partition},
 * {header.NAME}. Anything else in braces is refused, so that a typo is an
 * error at start and not a wrong topic at run time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"

bool bridge_kafka_topic_valid(const char *s, size_t len)
{
    if (len == 0 || len > 249) return false;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int tmpl_add(tmpl_t *t, int kind, uint32_t n, const char *s, uint32_t len)
{
    tseg_t *segs = realloc(t->segs, (t->n + 1) * sizeof(*segs));
    if (!segs) return -1;
    t->segs = segs;
    segs[t->n++] = (tseg_t){.kind = kind, .n = n, .s = s, .len = len};
    return 0;
}

static int tmpl_name(const char *name, size_t len, int mode, int *kind, uint32_t *n)
{
#define IS(lit) (len == sizeof(lit) - 1 && memcmp(name, lit, len) == 0)
    if (IS("topic"))
        *kind = TS_TOPIC;
    else if (mode != TMPL_FROM_KAFKA && IS("clientid"))
        *kind = TS_CLIENTID;
    else if (mode != TMPL_FROM_KAFKA && IS("username"))
        *kind = TS_USERNAME;
    else if (mode != TMPL_FROM_KAFKA && IS("node"))
        *kind = TS_NODE;
    else if (mode == TMPL_FROM_KAFKA && IS("key"))
        *kind = TS_KEY;
    else if (mode == TMPL_FROM_KAFKA && IS("partition"))
        *kind = TS_PARTITION;
    else if (mode == TMPL_FROM_KAFKA && len > 7 && memcmp(name, "header.", 7) == 0)
        *kind = TS_HEADER;
    else if (mode != TMPL_FROM_KAFKA && len > 0 && len < 6 && name[0] >= '1' && name[0] <= '9') {
        uint32_t v = 0;
        for (size_t i = 0; i < len; i++) {
            if (name[i] < '0' || name[i] > '9') return -1;
            v = v * 10 + (uint32_t)(name[i] - '0');
        }
        *kind = TS_LEVEL;
        *n = v;
    } else
        return -1;
    return 0;
#undef IS
}

int bridge_tmpl_compile(tmpl_t *t, const char *src, int mode, char *why, size_t whylen)
{
    memset(t, 0, sizeof(*t));
    if (!src) src = "";
    t->text = strdup(src);
    if (!t->text) goto oom;
    const char *p = t->text;
    while (*p) {
        const char *open = strchr(p, '{');
        const char *end = open ? open : p + strlen(p);
        if (end > p) {
            if (mode == TMPL_KAFKA_TOPIC && !bridge_kafka_topic_valid(p, (size_t)(end - p))) {
                snprintf(why, whylen,
                         "\"%.*s\" is not allowed in a Kafka topic (a-z A-Z 0-9 . _ -)",
                         (int)(end - p), p);
                goto fail;
            }
            if (tmpl_add(t, TS_LIT, 0, p, (uint32_t)(end - p))) goto oom;
        }
        if (!open) break;
        const char *close = strchr(open + 1, '}');
        if (!close) {
            snprintf(why, whylen, "unclosed \"{\" in \"%s\"", src);
            goto fail;
        }
        int kind = TS_LIT;
        uint32_t n = 0;
        size_t nlen = (size_t)(close - open - 1);
        if (memchr(open + 1, '{', nlen) || tmpl_name(open + 1, nlen, mode, &kind, &n)) {
            snprintf(why, whylen, "unknown placeholder \"{%.*s}\" (allowed: %s)", (int)nlen,
                     open + 1,
                     mode == TMPL_FROM_KAFKA ? "{key} {topic} {partition} {header.NAME}"
                                             : "{1}.. {topic} {clientid} {username} {node}");
            goto fail;
        }
        if (kind == TS_HEADER) {
            if (tmpl_add(t, kind, 0, open + 8, (uint32_t)(nlen - 7))) goto oom;
        } else if (tmpl_add(t, kind, n, NULL, 0))
            goto oom;
        p = close + 1;
    }
    if (t->n == 0 && mode == TMPL_KAFKA_TOPIC) {
        snprintf(why, whylen, "empty Kafka topic");
        goto fail;
    }
    return 0;
oom:
    snprintf(why, whylen, "out of memory");
fail:
    bridge_tmpl_free(t);
    return -1;
}

void bridge_tmpl_free(tmpl_t *t)
{
    free(t->segs);
    free(t->text);
    memset(t, 0, sizeof(*t));
}

/* Level n (from 1) of topic, or an empty view past the last level. */
static void topic_level(const char *topic, size_t len, uint32_t n, const char **s, size_t *l)
{
    size_t start = 0;
    for (uint32_t lvl = 1; lvl < n; lvl++) {
        const char *slash = memchr(topic + start, '/', len - start);
        if (!slash) {
            *s = topic + len;
            *l = 0;
            return;
        }
        start = (size_t)(slash - topic) + 1;
    }
    const char *slash = memchr(topic + start, '/', len - start);
    *s = topic + start;
    *l = slash ? (size_t)(slash - (topic + start)) : len - start;
}

void bridge_tmpl_expand_mqtt(const tmpl_t *t, const bridge_msg_t *m, const char *node,
                             store_buf_t *out)
{
    for (size_t i = 0; i < t->n; i++) {
        const tseg_t *s = &t->segs[i];
        const char *v;
        size_t l;
        switch (s->kind) {
        case TS_LIT:
            store_buf_raw(out, s->s, s->len);
            break;
        case TS_LEVEL:
            topic_level(m->topic, m->topic_len, s->n, &v, &l);
            store_buf_raw(out, v, l);
            break;
        case TS_TOPIC:
            store_buf_raw(out, m->topic, m->topic_len);
            break;
        case TS_CLIENTID:
            store_buf_cstr(out, m->clientid ? m->clientid : "");
            break;
        case TS_USERNAME:
            store_buf_cstr(out, m->username ? m->username : "");
            break;
        case TS_NODE:
            store_buf_cstr(out, node ? node : "");
            break;
        }
    }
}

void bridge_tmpl_expand_kafka(const tmpl_t *t, const rd_kafka_message_t *rm, store_buf_t *out)
{
    rd_kafka_headers_t *hdrs = NULL;
    for (size_t i = 0; i < t->n; i++) {
        const tseg_t *s = &t->segs[i];
        char num[16];
        switch (s->kind) {
        case TS_LIT:
            store_buf_raw(out, s->s, s->len);
            break;
        case TS_TOPIC:
            store_buf_cstr(out, rd_kafka_topic_name(rm->rkt));
            break;
        case TS_KEY:
            if (rm->key) store_buf_raw(out, rm->key, rm->key_len);
            break;
        case TS_PARTITION:
            snprintf(num, sizeof(num), "%d", (int)rm->partition);
            store_buf_cstr(out, num);
            break;
        case TS_HEADER: {
            char name[256];
            const void *val;
            size_t vlen;
            snprintf(name, sizeof(name), "%.*s", (int)s->len, s->s);
            if (!hdrs && rd_kafka_message_headers(rm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (rd_kafka_header_get_last(hdrs, name, &val, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                val)
                store_buf_raw(out, val, vlen);
            break;
        }
        }
    }
}
