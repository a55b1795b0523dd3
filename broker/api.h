/*
 * api.h - the HTTP admin API (/api/v1 on `http` listeners), shared by the
 * files broker/api*.c only. docs/OPERATIONS.md is the reference; the
 * OpenAPI document broker/api_openapi.json describes every route and is
 * checked against the route table by a test.
 *
 * Ownership and threads: a request (brk_api_req_t) is created by the
 * worker whose HTTP connection received it (its origin) and is refcounted:
 * the connection holds one reference until lws closes it (then wsi is set
 * to NULL, on the origin worker), and every asynchronous job one more.
 * Handlers run on the origin worker. One that needs other workers' state
 * (their connections) starts a gather (brk_worker_gather); its completion
 * may run on any worker and answers with brk_api_reply, which hands the
 * response back to the origin worker through its inbox. Everything the
 * request holds is read-only after parsing, except the response fields,
 * which are written exactly once before the hand-back.
 */
#ifndef SLUICE_API_H
#define SLUICE_API_H

#include <cjson/cJSON.h>

#include "brk.h"
#include "worker_call.h"

enum { API_GET, API_POST, API_DELETE, API_OTHER };

#define API_MAX_ARGS 8

typedef struct brk_api_req {
    _Atomic uint32_t refs;
    struct lws *wsi; /* NULL once the client went away (origin worker only) */
    brk_worker_t *w; /* origin worker */
    brk_t *b;
    int method;
    char path[1024];          /* decoded, "/api/v1" stripped */
    char *args[API_MAX_ARGS]; /* "name=value" query fragments, decoded */
    int n_args;
    char *body; /* POST body (NUL-terminated), bounded by admin.max_body */
    size_t body_len;
    bool body_over; /* longer than admin.max_body: discarded, answered 413 */
    bool dispatched;
    /* the response, written once (brk_api_reply) */
    unsigned status;
    char *resp; /* LWS_PRE bytes of headroom, then resp_len bytes */
    size_t resp_len, resp_off;
    bool replied, headers_sent, close_after;
} brk_api_req_t;

/* The whole hook http.c calls for every HTTP callback of an `http`
 * listener: -2 when it is not an API request (http.c goes on), else the
 * value the lws callback returns. pss is the connection's slot. */
int brk_api_http(struct lws *wsi, int reason, void **pss, void *in, size_t len);

/* Answer (takes body; NULL = no body). Any thread; once per request. */
void brk_api_reply(brk_api_req_t *r, unsigned status, cJSON *body);
/* {"error": code, "message": text} with status. */
void brk_api_error(brk_api_req_t *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void brk_api_ref(brk_api_req_t *r);
void brk_api_unref(brk_api_req_t *r);

/* Query argument `name` (NULL if absent). */
const char *brk_api_arg(const brk_api_req_t *r, const char *name);
/* An unsigned query argument in [min, max] (def when absent); false after
 * answering 400. */
bool brk_api_uint_arg(brk_api_req_t *r, const char *name, uint64_t min, uint64_t max, uint64_t def,
                      uint64_t *out);
/* A boolean query argument "true"/"false" (def when absent); false after
 * answering 400. */
bool brk_api_bool_arg(brk_api_req_t *r, const char *name, bool def, bool *out);
/* page/limit: the slice [*first, *first + *limit) of a list; false after
 * answering 400. */
bool brk_api_page(brk_api_req_t *r, uint64_t *page, uint64_t *limit);
/* {"data": items, "meta": {page, limit, count}}: items is the whole list,
 * sliced here. */
cJSON *brk_api_paged(cJSON *items, uint64_t page, uint64_t limit);

/* Handlers (tail: the part of the path after the route's prefix). */
typedef void (*brk_api_handler_t)(brk_api_req_t *r, const char *tail);
void brk_api_clients(brk_api_req_t *r, const char *tail);
void brk_api_client_get(brk_api_req_t *r, const char *tail);
void brk_api_client_kick(brk_api_req_t *r, const char *tail);
void brk_api_subscriptions(brk_api_req_t *r, const char *tail);
void brk_api_topics(brk_api_req_t *r, const char *tail);
void brk_api_retained_get(brk_api_req_t *r, const char *tail);
void brk_api_retained_del(brk_api_req_t *r, const char *tail);
void brk_api_publish(brk_api_req_t *r, const char *tail);
void brk_api_publish_bulk(brk_api_req_t *r, const char *tail);
void brk_api_bridge(brk_api_req_t *r, const char *tail);
void brk_api_config(brk_api_req_t *r, const char *tail);
void brk_api_stats(brk_api_req_t *r, const char *tail);
void brk_api_openapi(brk_api_req_t *r, const char *tail);
void brk_api_dlq_list(brk_api_req_t *r, const char *tail);
void brk_api_dlq_replay(brk_api_req_t *r, const char *tail);
void brk_api_reload(brk_api_req_t *r, const char *tail);

/* The OpenAPI document, embedded at build time (api_openapi.json). */
extern const char brk_api_openapi_json[];

#endif
