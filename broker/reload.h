/*
 * reload.h - reloading the configuration (reload.c): SIGHUP (main.c) and
 * POST /api/v1/reload (api_misc.c) call brk_reload; other subsystems plug
 * in with brk_reload_hook. docs/OPERATIONS.md has the table of what
 * reloads. Threads: any; reloads are serialised inside.
 */
#ifndef SLUICE_RELOAD_H
#define SLUICE_RELOAD_H

#include "brk.h"

/* Reload (reload.c): re-read the config file (cfg->source) and apply what
 * a running broker can change (docs/OPERATIONS.md has the table); a file
 * that does not load is refused whole and the running config stays.
 * Serialised inside; any thread. Logged once (SLUICE-RELOAD /
 * SLUICE-RELOAD-REFUSED). */
typedef struct brk_reload_result {
    bool ok;
    char message[512]; /* why it was refused ("FILE: PATH: expected ...") */
    char applied[256]; /* settings that changed and took effect, ", " separated */
    char restart[256]; /* settings that changed but need a restart (kept) */
} brk_reload_result_t;
int brk_reload(brk_t *b, brk_reload_result_t *res);
/* Something else that reloads with the config (authentication files, ...):
 * prepare validates and loads (an error refuses the whole reload with err),
 * then commit(ok) installs (ok) or drops (!ok) what prepare made. Register
 * before brk_start. */
typedef struct brk_reload_hook {
    int (*prepare)(void *arg, brk_t *b, const cfg_t *next, char *err, size_t errlen);
    void (*commit)(void *arg, brk_t *b, const cfg_t *next, bool ok);
    void *arg;
} brk_reload_hook_t;
int brk_reload_hook(brk_t *b, const brk_reload_hook_t *h);
/* Free the configurations reloads made (after brk_free). */
void brk_reload_fini(void);

#endif
