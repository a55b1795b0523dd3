/*
 * reload.c - SIGHUP and POST /api/v1/reload: read the config file again and
 * swap it in without dropping a connection.
 *
 * The new cfg_t is made whole before anything changes: loaded and
 * validated (a bad file is refused with the loader's "FILE: PATH: expected
 * ..." message), merged (cfg_reload_merge puts back what needs a restart),
 * checked for Kafka, offered to the hooks (prepare), the bridge's to_kafka
 * rules compiled and swapped; only then is b->cfg swapped (one atomic store)
 * and the hooks commit. Workers read b->cfg per use, so each sees one whole
 * configuration, old or new. Replaced configurations stay alive until the
 * process ends (connections point at their listeners; the bridge's rules
 * point at theirs): a reload costs a few kilobytes, and reloads are rare.
 *
 * Threads: any; one reload at a time (a mutex).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "brk.h"
#include "reload.h"

#define MAX_HOOKS 8

static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static brk_reload_hook_t hooks[MAX_HOOKS];
static int n_hooks;
static cfg_t **made; /* every cfg a reload made, freed by brk_reload_fini */
static size_t n_made;

int brk_reload_hook(brk_t *b, const brk_reload_hook_t *h)
{
    (void)b;
    pthread_mutex_lock(&reload_lock);
    int rc = n_hooks < MAX_HOOKS ? 0 : -1;
    if (!rc) hooks[n_hooks++] = *h;
    pthread_mutex_unlock(&reload_lock);
    return rc;
}

void brk_reload_fini(void)
{
    pthread_mutex_lock(&reload_lock);
    for (size_t i = 0; i < n_made; i++)
        cfg_free(made[i]);
    free(made);
    made = NULL;
    n_made = 0;
    n_hooks = 0;
    pthread_mutex_unlock(&reload_lock);
}

static int level_of(const char *s)
{
    if (!s) return BRK_LOG_INFO;
    if (!strcmp(s, "error")) return BRK_LOG_ERROR;
    if (!strcmp(s, "warn")) return BRK_LOG_WARN;
    if (!strcmp(s, "debug")) return BRK_LOG_DEBUG;
    return BRK_LOG_INFO;
}

/* Hooks 0..n-1 prepared: tell them the outcome. */
static void commit_hooks(brk_t *b, const cfg_t *next, int n, bool ok)
{
    for (int i = 0; i < n; i++)
        if (hooks[i].commit) hooks[i].commit(hooks[i].arg, b, next, ok);
}

/* Everything but the swap; the new cfg or NULL with res->message set. */
static cfg_t *prepare(brk_t *b, const cfg_t *cur, brk_reload_result_t *res, int *prepared)
{
    cfg_t *next = NULL;
    char *err = res->message;
    size_t errlen = sizeof(res->message);
    if (!strcmp(cur->source, "<defaults>")) {
        snprintf(err, errlen, "started without a config file (-c FILE): nothing to reload");
        return NULL;
    }
    if (cfg_load(cur->source, &next, err, errlen) != CFG_OK) return NULL;
    if (cfg_reload_merge(next, cur, res->applied, sizeof(res->applied), res->restart,
                         sizeof(res->restart)) != CFG_OK) {
        snprintf(err, errlen, "out of memory");
        cfg_free(next);
        return NULL;
    }
    if (cfg_check_bridge_kafka(next, false, err, errlen) != CFG_OK) {
        cfg_free(next);
        return NULL;
    }
    for (*prepared = 0; *prepared < n_hooks; (*prepared)++) {
        const brk_reload_hook_t *h = &hooks[*prepared];
        if (h->prepare && h->prepare(h->arg, b, next, err, errlen)) {
            commit_hooks(b, next, *prepared, false);
            cfg_free(next);
            return NULL;
        }
    }
    if (b->bridge && bridge_set_rules(b->bridge, next, err, errlen)) {
        commit_hooks(b, next, *prepared, false);
        cfg_free(next);
        return NULL;
    }
    return next;
}

int brk_reload(brk_t *b, brk_reload_result_t *res)
{
    memset(res, 0, sizeof(*res));
    pthread_mutex_lock(&reload_lock);
    const cfg_t *cur = b->cfg;
    int prepared = 0;
    cfg_t **grown = realloc(made, (n_made + 1) * sizeof(*made));
    cfg_t *next = NULL;
    if (!grown)
        snprintf(res->message, sizeof(res->message), "out of memory");
    else
        made = grown, next = prepare(b, cur, res, &prepared);
    if (!next) {
        pthread_mutex_unlock(&reload_lock);
        brk_log(b, BRK_LOG_ERROR, "SLUICE-RELOAD-REFUSED",
                "reload refused, the running configuration stays: %s", res->message);
        return -1;
    }
    made[n_made++] = next;
    b->cfg = next;
    b->log_level = level_of(next->log.level);
    commit_hooks(b, next, prepared, true);
    pthread_mutex_unlock(&reload_lock);
    res->ok = true;
    brk_log(b, BRK_LOG_INFO, "SLUICE-RELOAD", "%s reloaded; applied: %s; needs restart (kept): %s",
            next->source, res->applied[0] ? res->applied : "nothing changed",
            res->restart[0] ? res->restart : "none");
    return 0;
}
