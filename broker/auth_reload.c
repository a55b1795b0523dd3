/*
 * auth_reload.c - authentication and ACLs reload with the config (SIGHUP,
 * POST /api/v1/reload): a reload hook (reload.h) around brk_auth_reload.
 *
 * prepare reads the new password/ACL/JWT files into a throw-away state, so a
 * bad file refuses the whole reload (the running config stays); commit
 * builds the state that replaces the running one. brk_auth_reload owns the
 * cfg it is given, so each phase loads its own copy of the file: the
 * reload's cfg stays the reload's. Threads: the reloading thread, under
 * reload.c's lock.
 */
#include <stdio.h>
#include <stdlib.h>

#include "acl.h"
#include "reload.h"

static int auth_prepare(void *arg, brk_t *b, const cfg_t *next, char *err, size_t errlen)
{
    (void)arg;
    if (!b->auth) return 0;
    brk_auth_t *probe = brk_auth_open(next, err, errlen);
    if (!probe) return -1;
    bool acl = brk_auth_acl_on(probe);
    brk_auth_close(probe);
    if (acl && !b->acl_on) {
        snprintf(err, errlen, "auth: ACLs were off at start: turning them on needs a restart");
        return -1;
    }
    return 0;
}

static void auth_commit(void *arg, brk_t *b, const cfg_t *next, bool ok)
{
    (void)arg;
    if (!ok || !b->auth) return;
    char err[512];
    cfg_t *own = NULL;
    if (cfg_load(next->source, &own, err, sizeof(err)) != CFG_OK ||
        brk_auth_reload(b->auth, own, b->acl_on, err, sizeof(err)) != 0) {
        cfg_free(own);
        brk_log(b, BRK_LOG_ERROR, "SLUICE-AUTH-RELOAD", "authentication not reloaded: %s", err);
        return;
    }
    brk_log(b, BRK_LOG_INFO, "SLUICE-AUTH-RELOAD", "password, ACL and JWT files reloaded");
}

int brk_auth_reload_register(brk_t *b)
{
    brk_reload_hook_t h = {.prepare = auth_prepare, .commit = auth_commit, .arg = NULL};
    return brk_reload_hook(b, &h);
}
