/*
 * main.c - sluice's command line: read the config (or use the embedded
 * defaults), start the broker, wait for SIGINT/SIGTERM, stop cleanly.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "brk.h"
#include "config.h"
#include "store.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice [-c FILE] [--check] [--repair] [--version]\n"
               "  -c, --config FILE  JSON configuration (default: embedded defaults:\n"
               "                     MQTT on 0.0.0.0:1883, WebSocket on 0.0.0.0:8083/mqtt)\n"
               "      --check        validate the configuration and exit\n"
               "      --repair       repair the database in data_dir (LevelDB repair) and exit\n"
               "  -v, --version      print the version and exit\n");
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool check = false, repair = false;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--check")) {
            check = true;
        } else if (!strcmp(argv[i], "--repair")) {
            repair = true;
        } else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--version")) {
            printf("sluice %s\n", SLUICE_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "sluice: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }

    cfg_t *cfg = NULL;
    char err[512];
    if (path) {
        if (cfg_load(path, &cfg, err, sizeof(err)) != CFG_OK) {
            fprintf(stderr, "sluice: %s\n", err);
            return 2;
        }
    } else if (!(cfg = cfg_defaults())) {
        fprintf(stderr, "sluice: out of memory\n");
        return 1;
    }
    if (repair) {
        int rc = store_repair(cfg->data_dir, err, sizeof(err));
        if (rc == STORE_OK)
            printf("%s: repaired\n", cfg->data_dir);
        else
            fprintf(stderr, "sluice: %s\n", err);
        cfg_free(cfg);
        return rc == STORE_OK ? 0 : 1;
    }
    if (check) {
        printf("%s: configuration OK\n", cfg->source);
        cfg_free(cfg);
        return 0;
    }

    /* as many connections as the hard limit allows */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* workers inherit the mask: only this thread takes the signals */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    brk_t *b = brk_new(cfg);
    if (!b) {
        fprintf(stderr, "sluice: out of memory\n");
        cfg_free(cfg);
        return 1;
    }
    int rc = 0;
    if (brk_persist_open(b, err, sizeof(err))) {
        fprintf(stderr, "sluice: %s\n", err);
        brk_persist_close(b);
        brk_free(b);
        cfg_free(cfg);
        return 1;
    }
    if (brk_start(b) == 0) {
        for (size_t i = 0; i < cfg->n_listeners; i++) {
            const cfg_listener_t *l = &cfg->listeners[i];
            static const char *names[] = {"mqtt", "ws", "mqtts", "wss", "http"};
            brk_log(b, BRK_LOG_INFO, "SLUICE-LISTEN", "%s on %s:%u%s", names[l->protocol], l->host,
                    l->port,
                    (l->protocol == CFG_PROTO_WS || l->protocol == CFG_PROTO_WSS) && l->path
                        ? l->path
                        : "");
        }
        brk_log(b, BRK_LOG_INFO, "SLUICE-READY", "sluice %s ready with %d workers (%s)",
                SLUICE_VERSION, b->n_workers, cfg->source);
        int sig = 0;
        sigwait(&set, &sig);
        brk_log(b, BRK_LOG_INFO, "SLUICE-STOP", "signal %d: stopping", sig);
    } else {
        rc = 1;
    }
    brk_stop(b);
    brk_persist_close(b); /* after the workers: closing connections still writes */
    brk_free(b);
    cfg_free(cfg);
    return rc;
}
