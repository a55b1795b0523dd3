/*
 * api.c - the HTTP side of the admin API: one request's life on lws
 * (method, path, query, bounded body), authentication, the route table,
 * and writing the JSON response, possibly after an asynchronous job on
 * other workers (api.h has the threads).
 *
 * Authentication: "Authorization: Bearer KEY" against admin.keys. Both the
 * presented key and each configured key are hashed (SHA-256) and the
 * digests compared with CRYPTO_memcmp, so the time taken says nothing about
 * the key's content or length. Keys are never logged or echoed.
 * Without any configured key the API is off (403).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api.h"

#define API_PREFIX "/api/v1"
#define WRITE_CHUNK 32768

typedef struct route {
    int method;
    const char *path; /* exact, or a prefix ending in '/' when prefix is set */
    bool prefix;
    brk_api_handler_t fn;
} route_t;

/* More specific first: "/publish/bulk" before "/publish". */
static const route_t routes[] = {
    {API_GET, "/clients", false, brk_api_clients},
    {API_GET, "/clients/", true, brk_api_client_get},
    {API_DELETE, "/clients/", true, brk_api_client_kick},
    {API_GET, "/subscriptions", false, brk_api_subscriptions},
    {API_GET, "/topics", false, brk_api_topics},
    {API_GET, "/retained/", true, brk_api_retained_get},
    {API_DELETE, "/retained/", true, brk_api_retained_del},
    {API_POST, "/publish/bulk", false, brk_api_publish_bulk},
    {API_POST, "/publish", false, brk_api_publish},
    {API_GET, "/bridge", false, brk_api_bridge},
    {API_GET, "/bridge/dead-letters", false, brk_api_dlq_list},
    {API_POST, "/bridge/dead-letters/replay", false, brk_api_dlq_replay},
    {API_GET, "/config", false, brk_api_config},
    {API_POST, "/reload", false, brk_api_reload},
    {API_GET, "/stats", false, brk_api_stats},
    {API_GET, "/openapi.json", false, brk_api_openapi},
};

void brk_api_ref(brk_api_req_t *r)
{
    atomic_fetch_add(&r->refs, 1);
}

void brk_api_unref(brk_api_req_t *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    for (int i = 0; i < r->n_args; i++)
        free(r->args[i]);
    free(r->body);
    free(r->resp);
    free(r);
}

/* Origin worker: the response is ready, ask lws for a write. */
static void resume(brk_worker_t *w, void *arg)
{
    brk_api_req_t *r = arg;
    (void)w;
    if (r->wsi) lws_callback_on_writable(r->wsi);
    brk_api_unref(r);
}

void brk_api_reply(brk_api_req_t *r, unsigned status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    size_t n = text ? strlen(text) : 0;
    r->resp = malloc(LWS_PRE + n + 1);
    if (r->resp) {
        memcpy(r->resp + LWS_PRE, text ? text : "", n);
        r->resp[LWS_PRE + n] = '\n'; /* one JSON document per line, for curl */
        r->resp_len = text ? n + 1 : 0;
        r->status = status;
    } else {
        r->status = HTTP_STATUS_INTERNAL_SERVER_ERROR;
        r->close_after = true;
    }
    free(text);
    r->replied = true;
    if (pthread_equal(pthread_self(), r->w->thread)) {
        if (r->wsi) lws_callback_on_writable(r->wsi);
        return;
    }
    brk_api_ref(r);
    if (brk_worker_call(r->w, resume, r)) brk_api_unref(r); /* stopping: nobody to answer */
}

void brk_api_error(brk_api_req_t *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "error", code);
        cJSON_AddStringToObject(o, "message", msg);
    }
    brk_api_reply(r, status, o);
}

const char *brk_api_arg(const brk_api_req_t *r, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < r->n_args; i++)
        if (!strncmp(r->args[i], name, n) && r->args[i][n] == '=') return r->args[i] + n + 1;
    return NULL;
}

bool brk_api_uint_arg(brk_api_req_t *r, const char *name, uint64_t min, uint64_t max, uint64_t def,
                      uint64_t *out)
{
    const char *v = brk_api_arg(r, name);
    *out = def;
    if (!v) return true;
    char *end = NULL;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || *v == '-' || x < min || x > max) {
        brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                      "query argument %s: expected an integer from %llu to %llu", name,
                      (unsigned long long)min, (unsigned long long)max);
        return false;
    }
    *out = x;
    return true;
}

bool brk_api_bool_arg(brk_api_req_t *r, const char *name, bool def, bool *out)
{
    const char *v = brk_api_arg(r, name);
    *out = def;
    if (!v) return true;
    if (!strcmp(v, "true") || !strcmp(v, "false")) {
        *out = v[0] == 't';
        return true;
    }
    brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                  "query argument %s: expected true or false", name);
    return false;
}

bool brk_api_page(brk_api_req_t *r, uint64_t *page, uint64_t *limit)
{
    return brk_api_uint_arg(r, "page", 1, 1000000000, 1, page) &&
           brk_api_uint_arg(r, "limit", 1, 1000, 100, limit);
}

cJSON *brk_api_paged(cJSON *items, uint64_t page, uint64_t limit)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *data = cJSON_CreateArray();
    int count = cJSON_GetArraySize(items);
    uint64_t first = (page - 1) * limit, i = 0;
    cJSON *it = items ? items->child : NULL;
    while (it) {
        cJSON *next = it->next;
        if (i >= first && i < first + limit && data)
            cJSON_AddItemToArray(data, cJSON_DetachItemViaPointer(items, it));
        i++;
        it = next;
    }
    cJSON_Delete(items);
    cJSON *meta = cJSON_CreateObject();
    if (meta) {
        cJSON_AddNumberToObject(meta, "page", (double)page);
        cJSON_AddNumberToObject(meta, "limit", (double)limit);
        cJSON_AddNumberToObject(meta, "count", count);
    }
    if (!o) {
        cJSON_Delete(data);
        cJSON_Delete(meta);
        return NULL;
    }
    cJSON_AddItemToObject(o, "data", data);
    cJSON_AddItemToObject(o, "meta", meta);
    return o;
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned len = 32;
    if (!EVP_Digest(p, n, out, &len, EVP_sha256(), NULL)) memset(out, 0, 32);
}

/* Returns 0 when authorized, else the status to answer. */
static unsigned check_key(struct lws *wsi, const cfg_t *cfg)
{
    if (!cfg->admin.n_keys) return HTTP_STATUS_FORBIDDEN;
    char hdr[512];
    int n = lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 7 || strncasecmp(hdr, "Bearer ", 7)) return HTTP_STATUS_UNAUTHORIZED;
    uint8_t got[32], want[32];
    sha256(hdr + 7, (size_t)n - 7, got);
    int ok = 0;
    for (size_t i = 0; i < cfg->admin.n_keys; i++) { /* no early exit */
        sha256(cfg->admin.keys[i], strlen(cfg->admin.keys[i]), want);
        ok |= !CRYPTO_memcmp(got, want, sizeof(got));
    }
    OPENSSL_cleanse(hdr, sizeof(hdr));
    return ok ? 0 : HTTP_STATUS_UNAUTHORIZED;
}

static int method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) return API_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI)) return API_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI)) return API_DELETE;
    return API_OTHER;
}

static void read_args(brk_api_req_t *r, struct lws *wsi)
{
    char buf[1024];
    for (int i = 0; r->n_args < API_MAX_ARGS; i++) {
        int n = lws_hdr_copy_fragment(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0) break;
        if (!(r->args[r->n_args] = strdup(buf))) break;
        r->n_args++;
    }
}

static const char *allowed(const char *path)
{
    static char list[64];
    list[0] = 0;
    static const char *names[] = {"GET", "POST", "DELETE"};
    for (int m = 0; m < 3; m++)
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
            const route_t *rt = &routes[i];
            bool hit = rt->prefix
                           ? !strncmp(path, rt->path, strlen(rt->path)) && path[strlen(rt->path)]
                           : !strcmp(path, rt->path);
            if (rt->method == m && hit) {
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         list[0] ? ", " : "", names[m]);
                break;
            }
        }
    return list;
}

static void dispatch(brk_api_req_t *r)
{
    /* once: lws may still report the completion of an empty body */
    if (r->dispatched) return;
    r->dispatched = true;
    unsigned deny = check_key(r->wsi, r->b->cfg);
    if (deny == HTTP_STATUS_FORBIDDEN) {
        brk_api_error(r, deny, "disabled", "the admin API is off: no admin.api_keys configured");
        return;
    }
    if (deny) {
        brk_api_error(r, deny, "unauthorized", "expected header Authorization: Bearer KEY");
        return;
    }
    if (r->body_over) {
        r->close_after = true; /* the rest of an oversize body is not worth reading */
        brk_api_error(r, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "too_large",
                      "request body over admin.max_body (%u bytes)", r->b->cfg->admin.max_body);
        return;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route_t *rt = &routes[i];
        size_t n = strlen(rt->path);
        bool hit =
            rt->prefix ? !strncmp(r->path, rt->path, n) && r->path[n] : !strcmp(r->path, rt->path);
        if (hit && rt->method == r->method) {
            rt->fn(r, r->path + (rt->prefix ? n : strlen(r->path)));
            return;
        }
    }
    const char *ok = allowed(r->path);
    if (ok[0])
        brk_api_error(r, HTTP_STATUS_METHOD_NOT_ALLOWED, "method_not_allowed",
                      "allowed methods: %s", ok);
    else
        brk_api_error(r, HTTP_STATUS_NOT_FOUND, "not_found", "no such endpoint");
}

static long long content_length(struct lws *wsi)
{
    char v[32];
    if (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) return 0;
    return atoll(v);
}

static brk_api_req_t *begin(struct lws *wsi, const char *uri)
{
    brk_api_req_t *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    atomic_init(&r->refs, 1);
    r->wsi = wsi;
    r->w = lws_context_user(lws_get_context(wsi));
    r->b = r->w->b;
    r->method = method_of(wsi);
    snprintf(r->path, sizeof(r->path), "%s", uri + strlen(API_PREFIX));
    read_args(r, wsi);
    return r;
}

static int add_body(brk_api_req_t *r, const void *in, size_t len)
{
    if (r->body_over) return 0;
    if (r->body_len + len > r->b->cfg->admin.max_body) {
        r->body_over = true;
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        return 0;
    }
    char *n = realloc(r->body, r->body_len + len + 1);
    if (!n) return -1;
    if (len) memcpy(n + r->body_len, in, len); /* lws may hand an empty chunk with in NULL */
    r->body = n;
    r->body_len += len;
    r->body[r->body_len] = 0;
    return 0;
}

/* One WRITEABLE: headers first, then the body in chunks. */
static int write_some(brk_api_req_t *r, struct lws *wsi)
{
    if (!r->replied) return 0;
    if (!r->headers_sent) {
        uint8_t hdr[LWS_PRE + 512];
        uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
        if (lws_add_http_common_headers(wsi, r->status, "application/json", r->resp_len, &p, end))
            return -1;
        if (r->status == HTTP_STATUS_UNAUTHORIZED &&
            lws_add_http_header_by_name(
                wsi, (const uint8_t *)"www-authenticate:", (const uint8_t *)"Bearer", 6, &p, end))
            return -1;
        if (r->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                           (const uint8_t *)"close", 5, &p, end))
            return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
        r->headers_sent = true;
        if (r->resp_len) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    } else {
        size_t n = r->resp_len - r->resp_off;
        if (n > WRITE_CHUNK) n = WRITE_CHUNK;
        bool last = r->resp_off + n == r->resp_len;
        uint8_t *at = (uint8_t *)r->resp + LWS_PRE + r->resp_off;
        if (lws_write(wsi, at, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
            return -1;
        r->resp_off += n;
        if (!last) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    return 1; /* all written */
}

int brk_api_http(struct lws *wsi, int reason, void **pss, void *in, size_t len)
{
    brk_api_req_t *r = pss ? *pss : NULL;
    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        const char *uri = in ? in : "";
        size_t pl = strlen(API_PREFIX);
        if (strncmp(uri, API_PREFIX, pl) || (uri[pl] && uri[pl] != '/')) return -2;
        if (r) { /* keep-alive: the previous request is over */
            r->wsi = NULL;
            brk_api_unref(r);
        }
        if (!(r = *pss = begin(wsi, uri))) return -1;
        /* a POST is answered once its body is in (lws reports no completion
         * for a POST without one) */
        if (r->method == API_POST && (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) ||
                                      content_length(wsi) > 0))
            return 0;
        dispatch(r);
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY:
        return r ? add_body(r, in, len) : 0;
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!r) return 0;
        dispatch(r);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!r) return -2;
        int rc = write_some(r, wsi);
        if (rc <= 0) return rc;
        bool close = r->close_after;
        r->wsi = NULL;
        brk_api_unref(r);
        *pss = NULL;
        if (close) return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (r) {
            r->wsi = NULL;
            brk_api_unref(r);
            *pss = NULL;
        }
        return -2;
    default:
        return -2;
    }
}
