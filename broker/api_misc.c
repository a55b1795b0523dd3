/*
 * api_misc.c - read-only views of the admin API: GET /stats (the broker's
 * counters, as /metrics has them), GET /bridge (the Kafka bridge's
 * counters, per rule where the bridge keeps them), GET /config (the
 * effective configuration, secrets redacted by config/), GET
 * /openapi.json (the embedded OpenAPI document).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "api.h"
#include "bridge.h"
#include "reload.h"

#define ADD(o, st, f) cJSON_AddNumberToObject(o, #f, (double)(st).f)

void brk_api_stats(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    brk_stats_t st;
    brk_stats_collect(r->b, &st);
    cJSON *o = cJSON_CreateObject();
    if (!o) return brk_api_reply(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, NULL);
    cJSON_AddStringToObject(o, "version", SLUICE_VERSION);
    cJSON_AddStringToObject(o, "node_id", r->b->cfg->node_id ? r->b->cfg->node_id : "");
    cJSON_AddNumberToObject(o, "workers", r->b->n_workers);
    ADD(o, st, uptime_s);
    ADD(o, st, conns);
    ADD(o, st, sessions);
    ADD(o, st, subscriptions);
    ADD(o, st, retained);
    ADD(o, st, msgs_in);
    ADD(o, st, msgs_out);
    ADD(o, st, bytes_in);
    ADD(o, st, bytes_out);
    ADD(o, st, dropped);
    ADD(o, st, bad_packets);
    ADD(o, st, flow_held);
    ADD(o, st, flow_kicks);
    brk_api_reply(r, HTTP_STATUS_OK, o);
}

static void bridge_rules(cJSON *o, brk_t *b)
{
    const cfg_t *cfg = b->cfg;
    size_t nt = cfg->bridge.n_to_kafka, nf = cfg->bridge.n_from_kafka;
    bridge_rule_stats_t *rs = calloc(nt + 1, sizeof(*rs));
    uint64_t *lag = calloc(nf + 1, sizeof(*lag));
    if (rs && lag) bridge_get_rule_stats(b->bridge, rs, nt, lag, nf);
    cJSON *to = cJSON_AddArrayToObject(o, "to_kafka");
    for (size_t i = 0; to && i < nt; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "rule", (double)i);
        cJSON_AddStringToObject(x, "match", cfg->bridge.to_kafka[i].match);
        cJSON_AddStringToObject(x, "topic", cfg->bridge.to_kafka[i].topic);
        cJSON_AddNumberToObject(x, "matched", rs ? (double)rs[i].matched : 0);
        cJSON_AddNumberToObject(x, "produced", rs ? (double)rs[i].produced : 0);
        cJSON_AddNumberToObject(x, "acked", rs ? (double)rs[i].acked : 0);
        cJSON_AddNumberToObject(x, "failed", rs ? (double)rs[i].failed : 0);
        cJSON_AddNumberToObject(x, "spooled", rs ? (double)rs[i].spooled : 0);
        cJSON_AddItemToArray(to, x);
    }
    cJSON *from = cJSON_AddArrayToObject(o, "from_kafka");
    for (size_t i = 0; from && i < nf; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "rule", (double)i);
        cJSON_AddStringToObject(x, "topic", cfg->bridge.from_kafka[i].topic);
        cJSON_AddNumberToObject(x, "consumer_lag", lag ? (double)lag[i] : 0);
        cJSON_AddItemToArray(from, x);
    }
    free(rs);
    free(lag);
}

void brk_api_bridge(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    cJSON *o = cJSON_CreateObject();
    if (!o) return brk_api_reply(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, NULL);
    brk_t *b = r->b;
    cJSON_AddBoolToObject(o, "enabled", b->bridge != NULL);
    if (!b->bridge) return brk_api_reply(r, HTTP_STATUS_OK, o);
    bridge_stats_t st;
    bridge_get_stats(b->bridge, &st);
    uint32_t after = b->cfg->bridge.spool_after_ms ? b->cfg->bridge.spool_after_ms : 5000;
    cJSON_AddStringToObject(o, "producer",
                            !st.kafka_down_ms          ? "up"
                            : st.kafka_down_ms > after ? "down, spooling"
                                                       : "down");
    cJSON *t = cJSON_AddObjectToObject(o, "totals");
    ADD(t, st, produced);
    ADD(t, st, acked);
    ADD(t, st, failed);
    ADD(t, st, spooled);
    ADD(t, st, dead_lettered);
    ADD(t, st, consumed);
    ADD(t, st, delivered);
    ADD(t, st, consumer_lag);
    ADD(t, st, dropped);
    ADD(t, st, producer_renewals);
    ADD(t, st, headers_skipped);
    ADD(t, st, kafka_down_ms);
    cJSON *sp = cJSON_AddObjectToObject(o, "spool");
    cJSON_AddNumberToObject(sp, "depth", (double)st.spool_depth);
    cJSON_AddNumberToObject(sp, "bytes", (double)st.spool_bytes);
    cJSON_AddNumberToObject(sp, "high_water_bytes", (double)st.spool_high_water);
    bridge_rules(o, b);
    brk_api_reply(r, HTTP_STATUS_OK, o);
}

void brk_api_config(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    char *text = cfg_to_json(r->b->cfg);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!o) return brk_api_error(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    brk_api_reply(r, HTTP_STATUS_OK, o);
}

void brk_api_openapi(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    cJSON *o = cJSON_Parse(brk_api_openapi_json);
    if (!o) return brk_api_error(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "out of memory");
    brk_api_reply(r, HTTP_STATUS_OK, o);
}

static void add_list(cJSON *o, const char *name, const char *list)
{
    cJSON *arr = cJSON_AddArrayToObject(o, name);
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); arr && t; t = strtok_r(NULL, ", ", &save))
        cJSON_AddItemToArray(arr, cJSON_CreateString(t));
}

/* Synchronous on this worker: reading and checking a config file is quick. */
void brk_api_reload(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    brk_reload_result_t res;
    if (brk_reload(r->b, &res)) {
        brk_api_error(r, HTTP_STATUS_BAD_REQUEST, "bad_config", "%s", res.message);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "status", "reloaded");
        add_list(o, "applied", res.applied);
        add_list(o, "needs_restart", res.restart);
    }
    brk_api_reply(r, HTTP_STATUS_OK, o);
}
