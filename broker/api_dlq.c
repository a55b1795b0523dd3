/*
 * api_dlq.c - the local dead-letter quarantine through the admin API:
 * GET /bridge/dead-letters (what `sluice dlq list` prints, as JSON, paged)
 * and POST /bridge/dead-letters/replay (what `sluice dlq replay` does, but
 * on the running broker's store).
 *
 * A replay produces and waits for Kafka (up to about 35 s), so it runs on a
 * thread of its own, one at a time (409 while one runs), and answers when
 * it is done. brk_api_stop waits for it before the store closes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "api.h"
#include "bridge.h"

static _Atomic bool replaying;

static bool quarantine_ok(brk_api_req_t *r)
{
    if (!r->b->bridge) {
        brk_api_error(r, HTTP_STATUS_CONFLICT, "conflict", "no Kafka bridge configured");
        return false;
    }
    if (!r->b->store) {
        brk_api_error(r, HTTP_STATUS_CONFLICT, "conflict",
                      "no local quarantine: persistence.sync is none");
        return false;
    }
    return true;
}

/* One line of bridge_dlq_list: SEQ \t ERROR \t topic=T \t key=K \t bytes=N
 * \t timestamp=MS (or SEQ \t undecodable record (N bytes)). */
static cJSON *line_json(char *line)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char *save = NULL;
    char *f = strtok_r(line, "\t", &save);
    cJSON_AddNumberToObject(o, "seq", f ? strtod(f, NULL) : 0);
    static const char *names[] = {"topic=", "key=", "bytes=", "timestamp="};
    if ((f = strtok_r(NULL, "\t", &save))) cJSON_AddStringToObject(o, "error", f);
    while ((f = strtok_r(NULL, "\t", &save))) {
        for (int i = 0; i < 4; i++) {
            size_t n = strlen(names[i]);
            if (strncmp(f, names[i], n)) continue;
            char key[16];
            snprintf(key, sizeof(key), "%.*s", (int)n - 1, names[i]);
            if (i >= 2)
                cJSON_AddNumberToObject(o, key, strtod(f + n, NULL));
            else
                cJSON_AddStringToObject(o, key, f + n);
        }
    }
    return o;
}

void brk_api_dlq_list(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    uint64_t page, limit;
    if (!brk_api_page(r, &page, &limit) || !quarantine_ok(r)) return;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int rc = f ? bridge_dlq_list(r->b->store, f) : BRIDGE_ERR;
    if (f) fclose(f);
    if (rc < 0) {
        free(text);
        brk_api_error(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "cannot read the store");
        return;
    }
    cJSON *all = cJSON_CreateArray();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        cJSON_AddItemToArray(all, line_json(line));
    free(text);
    brk_api_reply(r, HTTP_STATUS_OK, brk_api_paged(all, page, limit));
}

static void *replay_main(void *arg)
{
    brk_api_req_t *r = arg;
    char err[256] = "";
    int n = bridge_dlq_replay(r->b->cfg, r->b->store, err, sizeof(err));
    if (n < 0) {
        brk_log(r->b, BRK_LOG_WARN, "SLUICE-DLQ-REPLAY",
                "dead-letter replay through the admin API failed: %s", err);
        brk_api_error(r, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable", "%s", err);
    } else {
        brk_log(r->b, BRK_LOG_INFO, "SLUICE-DLQ-REPLAY",
                "dead-letter replay through the admin API: %d records", n);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "replayed", n);
        brk_api_reply(r, HTTP_STATUS_OK, o);
    }
    brk_api_unref(r);
    atomic_store(&replaying, false);
    return NULL;
}

void brk_api_dlq_replay(brk_api_req_t *r, const char *tail)
{
    (void)tail;
    if (!quarantine_ok(r)) return;
    bool no = false;
    if (!atomic_compare_exchange_strong(&replaying, &no, true)) {
        brk_api_error(r, HTTP_STATUS_CONFLICT, "conflict", "a replay is already running");
        return;
    }
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    brk_api_ref(r);
    if (pthread_create(&t, &at, replay_main, r)) {
        brk_api_unref(r);
        atomic_store(&replaying, false);
        brk_api_error(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal", "cannot start a thread");
    }
    pthread_attr_destroy(&at);
}

void brk_api_stop(void)
{
    /* a replay gives up on Kafka after ~35 s: wait a little longer */
    for (int i = 0; i < 400 && atomic_load(&replaying); i++)
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
}
