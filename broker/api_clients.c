/*
 * api_clients.c - clients and sessions through the admin API: GET
 * /clients (filters: clientid prefix, username, listener, connected; paged),
 * GET /clients/{id}, DELETE /clients/{id} (kick with MQTT 5 DISCONNECT 0x98;
 * ?discard=true also ends the session), GET /subscriptions.
 *
 * A connection belongs to its worker, so connected clients are collected
 * with one gather (brk_worker_gather): each worker walks its own list and
 * writes only its own slot of the job; the completion (on the last worker)
 * adds the offline sessions from the registry, filters, pages and answers.
 * A kick is the same walk: the worker that owns the connection closes it.
 * Session state (queue, in flight, subscriptions) is read under s->lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "api.h"

enum { JOB_LIST, JOB_ONE, JOB_KICK };

typedef struct job {
    brk_api_req_t *r; /* holds a reference */
    int kind;
    char *id;     /* JOB_ONE / JOB_KICK */
    bool discard; /* JOB_KICK */
    uint64_t page, limit;
    const char *prefix, *username, *listener; /* views into r->args */
    int connected;                            /* -1 any, 0 offline, 1 connected */
    cJSON **per;                              /* per worker: array of clients */
    _Atomic int kicked;
} job_t;

static const char *version_name(uint8_t v)
{
    return v == MQTT_V5 ? "5" : v == MQTT_V311 ? "3.1.1" : "3.1";
}

static void listener_name(const cfg_listener_t *l, char *out, size_t cap)
{
    static const char *names[] = {"mqtt", "ws", "mqtts", "wss", "http"};
    if (l)
        snprintf(out, cap, "%s:%u", names[l->protocol], l->port);
    else
        snprintf(out, cap, "unknown");
}

static void add_subs(cJSON *o, brk_session_t *s) /* s->lock held */
{
    cJSON *arr = cJSON_AddArrayToObject(o, "subscriptions");
    for (uint32_t i = 0; arr && i < s->n_subs; i++) {
        const brk_subrec_t *sr = &s->subs[i];
        cJSON *x = cJSON_CreateObject();
        if (!x) return;
        char *f = strndup(sr->filter, sr->len);
        cJSON_AddStringToObject(x, "topic", f ? f : "");
        free(f);
        cJSON_AddNumberToObject(x, "qos", sr->options & 3);
        if (sr->sub_id) cJSON_AddNumberToObject(x, "subscription_identifier", sr->sub_id);
        cJSON_AddItemToArray(arr, x);
    }
}

/* The session's side of a client (any thread; takes s->lock). */
static void add_session(cJSON *o, brk_session_t *s, bool detail)
{
    pthread_mutex_lock(&s->lock);
    cJSON_AddNumberToObject(o, "session_expiry_interval", s->expiry);
    cJSON_AddNumberToObject(o, "subscriptions_count", s->n_subs);
    cJSON_AddNumberToObject(o, "inflight", s->inf_len);
    cJSON_AddNumberToObject(o, "queued", s->q_len);
    cJSON_AddNumberToObject(o, "dropped", (double)brk_read(&s->dropped));
    if (detail) add_subs(o, s);
    pthread_mutex_unlock(&s->lock);
}

static cJSON *conn_json(brk_conn_t *c, bool detail)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char ln[32];
    listener_name(c->listener, ln, sizeof(ln));
    cJSON_AddStringToObject(o, "clientid", c->session->client_id);
    if (c->username)
        cJSON_AddStringToObject(o, "username", c->username);
    else
        cJSON_AddNullToObject(o, "username");
    cJSON_AddBoolToObject(o, "connected", true);
    cJSON_AddStringToObject(o, "peer", c->peer);
    cJSON_AddStringToObject(o, "listener", ln);
    cJSON_AddStringToObject(o, "protocol", version_name(c->version));
    cJSON_AddNumberToObject(o, "keepalive", c->keepalive);
    cJSON_AddNumberToObject(o, "connected_at", (double)c->accepted_s);
    add_session(o, c->session, detail);
    return o;
}

static bool same_id(const brk_session_t *s, const char *id)
{
    return strlen(id) == s->id_len && !memcmp(s->client_id, id, s->id_len);
}

/* On every worker: its connected clients (or the kick). */
static void walk_worker(brk_worker_t *w, void *arg)
{
    job_t *j = arg;
    cJSON *arr = cJSON_CreateArray();
    for (brk_conn_t *c = w->conns; c; c = c->next) {
        if (!c->connected || c->state >= BRK_CONN_CLOSING || !c->session) continue;
        if (j->kind != JOB_LIST && !same_id(c->session, j->id)) continue;
        if (j->kind == JOB_KICK) {
            if (j->discard) { /* expiry 0: the session ends when the connection does */
                pthread_mutex_lock(&c->session->lock);
                c->session->expiry = 0;
                pthread_mutex_unlock(&c->session->lock);
            }
            brk_log(w->b, BRK_LOG_INFO, "SLUICE-ADMIN-KICK",
                    "%s (%s): disconnected by the admin API%s", c->session->client_id, c->peer,
                    j->discard ? ", session discarded" : "");
            brk_conn_close(c, MQTT_RC_ADMIN_ACTION);
            atomic_fetch_add(&j->kicked, 1);
            continue;
        }
        cJSON_AddItemToArray(arr, conn_json(c, j->kind == JOB_ONE));
    }
    j->per[w->index] = arr;
}

static cJSON *offline_json(brk_session_t *s, bool detail)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "clientid", s->client_id);
    cJSON_AddBoolToObject(o, "connected", false);
    add_session(o, s, detail);
    return o;
}

/* Offline sessions from the registry (registry -> session lock order). */
static void add_offline(brk_t *b, job_t *j, cJSON *all)
{
    pthread_mutex_lock(&b->reg_lock);
    for (uint32_t i = 0; i < b->reg_cap; i++) {
        brk_session_t *s = b->reg[i];
        if (!s || (j->kind == JOB_ONE && !same_id(s, j->id))) continue;
        pthread_mutex_lock(&s->lock);
        bool offline = !s->conn && !s->pending;
        pthread_mutex_unlock(&s->lock);
        if (offline) cJSON_AddItemToArray(all, offline_json(s, j->kind == JOB_ONE));
    }
    pthread_mutex_unlock(&b->reg_lock);
}

static bool keep(const job_t *j, const cJSON *o)
{
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(o, "clientid"));
    const char *user = cJSON_GetStringValue(cJSON_GetObjectItem(o, "username"));
    const char *ln = cJSON_GetStringValue(cJSON_GetObjectItem(o, "listener"));
    bool conn = cJSON_IsTrue(cJSON_GetObjectItem(o, "connected"));
    if (j->prefix && (!id || strncmp(id, j->prefix, strlen(j->prefix)))) return false;
    if (j->username && (!user || strcmp(user, j->username))) return false;
    if (j->connected >= 0 && conn != (j->connected == 1)) return false;
    if (j->listener) { /* "mqtt:1883", or the protocol or port alone */
        if (!ln) return false;
        const char *colon = strchr(ln, ':');
        size_t pl = colon ? (size_t)(colon - ln) : strlen(ln);
        bool hit = !strcmp(ln, j->listener) ||
                   (strlen(j->listener) == pl && !strncmp(ln, j->listener, pl)) ||
                   (colon && !strcmp(colon + 1, j->listener));
        if (!hit) return false;
    }
    return true;
}

static void job_free(job_t *j)
{
    for (int i = 0; j->per && i < j->r->b->n_workers; i++)
        cJSON_Delete(j->per[i]);
    free(j->per);
    free(j->id);
    brk_api_unref(j->r);
    free(j);
}

static void end_offline_session(brk_t *b, const char *id, bool *ended)
{
    pthread_mutex_lock(&b->reg_lock);
    brk_session_t *s = brk_reg_find(b, id, (uint16_t)strlen(id));
    if (s) {
        pthread_mutex_lock(&s->lock);
        bool offline = !s->conn && !s->pending;
        pthread_mutex_unlock(&s->lock);
        if (offline) {
            brk_session_end(b, s);
            *ended = true;
        }
    }
    pthread_mutex_unlock(&b->reg_lock);
}

static void kick_done(job_t *j)
{
    brk_api_req_t *r = j->r;
    bool ended = false;
    int kicked = atomic_load(&j->kicked);
    if (!kicked && j->discard) end_offline_session(r->b, j->id, &ended);
    if (!kicked && !ended) {
        brk_api_error(r, HTTP_STATUS_NOT_FOUND, "not_found",
                      j->discard ? "no such client" : "no such client connected");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "kicked", kicked > 0);
    cJSON_AddBoolToObject(o, "session_discarded", j->discard);
    brk_api_reply(r, HTTP_STATUS_OK, o);
}

static void gathered(brk_worker_t *w, void *arg, int missed)
{
    job_t *j = arg;
    brk_api_req_t *r = j->r;
    (void)w;
    if (missed) {
        brk_api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable", "the broker is stopping");
    } else if (j->kind == JOB_KICK) {
        kick_done(j);
    } else {
        cJSON *all = cJSON_CreateArray();
        for (int i = 0; i < r->b->n_workers; i++) {
            cJSON *it = j->per[i] ? j->per[i]->child : NULL;
            while (it) {
                cJSON *next = it->next;
                if (j->kind == JOB_ONE || keep(j, it))
                    cJSON_AddItemToArray(all, cJSON_DetachItemViaPointer(j->per[i], it));
                it = next;
            }
        }
        if (j->kind == JOB_ONE && !cJSON_GetArraySize(all)) add_offline(r->b, j, all);
        if (j->kind == JOB_LIST && j->connected != 1) {
            cJSON *off = cJSON_CreateArray();
            add_offline(r->b, j, off);
            for (cJSON *it = off->child; it;) {
                cJSON *next = it->next;
                if (keep(j, it)) cJSON_AddItemToArray(all, cJSON_DetachItemViaPointer(off, it));
                it = next;
            }
            cJSON_Delete(off);
        }
        if (j->kind == JOB_LIST) {
            brk_api_reply(r, HTTP_STATUS_OK, brk_api_paged(all, j->page, j->limit));
        } else if (!cJSON_GetArraySize(all)) {
            cJSON_Delete(all);
            brk_api_error(r, HTTP_STATUS_NOT_FOUND, "not_found", "no such client");
        } else {
            brk_api_reply(r, HTTP_STATUS_OK, cJSON_DetachItemFromArray(all, 0));
            cJSON_Delete(all);
        }
    }
    job_free(j);
}

static job_t *job_new(brk_api_req_t *r, int kind, const char *id)
{
    job_t *j = calloc(1, sizeof(*j));
    if (!j) return NULL;
    j->kind = kind;
    j->connected = -1;
    j->per = calloc((size_t)r->b->n_workers, sizeof(*j->per));
    j->id = id ? strdup(id) : NULL;
    brk_api_ref(r);
    j->r = r;
    if (!j->per || (id && !j->id)) {
        job_free(j);
        return NULL;
    }
    return j;
}

static void start(brk_api_req_t *r, job_t *j)
{
    if (!j) {
        brk_api_error(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "out of memory");
        return;
    }
    if (brk_worker_gather(r->b, walk_worker, j, gathered, j)) {
        job_free(j);
        brk_api_error(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    }
}

void brk_api_clients(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    uint64_t page, limit;
    const char *conn = brk_api_arg(r, "connected");
    if (!brk_api_page(r, &page, &limit)) return;
    if (conn && strcmp(conn, "true") && strcmp(conn, "false")) {
        brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_request",
                      "query argument connected: expected true or false");
        return;
    }
    job_t *j = job_new(r, JOB_LIST, NULL);
    if (j) {
        j->page = page;
        j->limit = limit;
        j->prefix = brk_api_arg(r, "clientid");
        j->username = brk_api_arg(r, "username");
        j->listener = brk_api_arg(r, "listener");
        j->connected = conn ? conn[0] == 't' : -1;
    }
    start(r, j);
}

void brk_api_client_get(brk_api_req_t *r, const char *tail)
{
    start(r, job_new(r, JOB_ONE, tail));
}

void brk_api_client_kick(brk_api_req_t *r, const char *tail)
{
    bool discard;
    if (!brk_api_bool_arg(r, "discard", false, &discard)) return;
    job_t *j = job_new(r, JOB_KICK, tail);
    if (j) j->discard = discard;
    start(r, j);
}

/* Subscriptions live in sessions (any thread, under s->lock): no gather. */
void brk_api_subscriptions(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    uint64_t page, limit;
    if (!brk_api_page(r, &page, &limit)) return;
    const char *id = brk_api_arg(r, "clientid"), *topic = brk_api_arg(r, "topic");
    cJSON *all = cJSON_CreateArray();
    brk_t *b = r->b;
    pthread_mutex_lock(&b->reg_lock);
    for (uint32_t i = 0; i < b->reg_cap; i++) {
        brk_session_t *s = b->reg[i];
        if (!s || (id && !same_id(s, id))) continue;
        pthread_mutex_lock(&s->lock);
        for (uint32_t k = 0; k < s->n_subs; k++) {
            const brk_subrec_t *sr = &s->subs[k];
            if (topic && (strlen(topic) != sr->len || memcmp(topic, sr->filter, sr->len))) continue;
            cJSON *x = cJSON_CreateObject();
            if (!x) break;
            char *f = strndup(sr->filter, sr->len);
            cJSON_AddStringToObject(x, "clientid", s->client_id);
            cJSON_AddStringToObject(x, "topic", f ? f : "");
            free(f);
            cJSON_AddNumberToObject(x, "qos", sr->options & 3);
            cJSON_AddBoolToObject(x, "no_local", (sr->options & 4) != 0);
            cJSON_AddBoolToObject(x, "retain_as_published", (sr->options & 8) != 0);
            cJSON_AddNumberToObject(x, "retain_handling", (sr->options >> 4) & 3);
            if (sr->sub_id) cJSON_AddNumberToObject(x, "subscription_identifier", sr->sub_id);
            cJSON_AddItemToArray(all, x);
        }
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&b->reg_lock);
    brk_api_reply(r, HTTP_STATUS_OK, brk_api_paged(all, page, limit));
}
