/*
 * main.c - sluice's command line: read the config (or use the embedded
 * defaults), start the broker, wait for SIGINT/SIGTERM (SIGHUP reloads
 * the config file, reload.c), stop cleanly.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "acl.h"
#include "base.h"
#include "cluster.h"
#include "reload.h"
#include "bridge.h"
#include "config.h"
#include "ctl.h"
#include "store.h"

/* SIGTERM: how long connections get to take their last bytes (DISCONNECT
 * 0x8B, pending output) before the workers stop */
#define SHUTDOWN_GRACE_MS 5000

/* The offline tools refuse a data_dir a running broker holds (it has the
 * database lock): both would change files under it. True if refused. */
static bool in_use(const cfg_t *cfg, int rc)
{
    long pid = store_lock_owner(cfg->data_dir);
    if (rc != STORE_ERR_LOCKED && pid <= 0) return false;
    if (pid > 0)
        fprintf(stderr, "sluice: %s: data_dir in use by a running sluice, pid %ld\n", cfg->data_dir,
                pid);
    else
        fprintf(stderr, "sluice: %s: data_dir in use by a running sluice\n", cfg->data_dir);
    return true;
}

/* sluice dlq list|replay: the local dead-letter quarantine, broker stopped. */
static int dlq_command(cfg_t *cfg, const char *what)
{
    char err[512];
    store_opts_t o;
    store_opts_default(&o);
    store_t *st = NULL;
    bool refused = in_use(cfg, STORE_OK);
    if (!refused) {
        int orc = store_open(cfg->data_dir, &o, &st, err, sizeof(err));
        refused = orc != STORE_OK;
        if (refused && !in_use(cfg, orc)) fprintf(stderr, "sluice: %s\n", err);
    }
    if (refused) {
        cfg_free(cfg);
        return 1;
    }
    int rc;
    if (!strcmp(what, "list")) {
        rc = bridge_dlq_list(st, stdout) < 0;
    } else {
        rc = bridge_dlq_replay(cfg, st, err, sizeof(err)) < 0;
        if (rc) fprintf(stderr, "sluice: %s\n", err);
    }
    store_close(st);
    cfg_free(cfg);
    return rc;
}

/* --dev-kafka: an in-process mock cluster, and a catch-all rule when the
 * config has none, so that `kcat -C -b ADDR -t mqtt` shows traffic at once. */
static int dev_kafka_start(cfg_t *cfg, bridge_dev_kafka_t **dk)
{
    char addr[256];
    if (cfg->kafka.bootstrap) return 0; /* a real cluster is configured */
    if (bridge_dev_kafka_start(1, dk, addr, sizeof(addr)) != 0) {
        fprintf(stderr, "sluice: --dev-kafka: the mock cluster did not start\n");
        return -1;
    }
    cfg->kafka.bootstrap = strdup(addr);
    if (!cfg->bridge.n_to_kafka) {
        cfg_to_kafka_t *r = calloc(1, sizeof(*r));
        if (!r) return -1;
        r->match = strdup("#");
        r->topic = strdup("mqtt");
        r->key = strdup("{topic}");
        r->format = CFG_FORMAT_RAW;
        r->ack = CFG_ACK_DEFAULT;
        cfg->bridge.to_kafka = r;
        cfg->bridge.n_to_kafka = 1;
    }
    printf("sluice: development Kafka (in memory, NOT for production) at %s\n"
           "        try: kcat -C -b %s -t mqtt -f '%%k %%s\\n'\n",
           addr, addr);
    fflush(stdout);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice [-c FILE] [--dev-kafka] [--check] [--repair] [--version]\n"
               "       sluice [-c FILE] dlq list|replay\n"
               "       sluice passwd [-c] [-b] [-D] FILE USER [PASSWORD]\n"
               "       sluice ctl [--url URL] [--key-file FILE] COMMAND ...\n"
               "  -c, --config FILE  JSON configuration (default: embedded defaults:\n"
               "                     MQTT on 0.0.0.0:1883, WebSocket on 0.0.0.0:8083/mqtt)\n"
               "      --check        validate the configuration and exit\n"
               "      --repair       repair the database in data_dir (LevelDB repair) and exit;\n"
               "                     refused while a running sluice holds data_dir\n"
               "      --dev-kafka    start an in-memory Kafka (librdkafka mock cluster, for\n"
               "                     development only) and mirror every topic into Kafka\n"
               "                     topic \"mqtt\" unless bridge rules are configured\n"
               "  dlq list|replay    list or replay the local dead-letter quarantine (broker\n"
               "                     stopped, as for --repair)\n"
               "  passwd             add, change (-b: from the command line) or delete (-D)\n"
               "                     a user in a mosquitto_passwd-compatible file (-c: new)\n"
               "  ctl COMMAND        talk to a running broker's admin API: clients, client ID,\n"
               "                     kick ID [--discard], publish TOPIC PAYLOAD [--qos N]\n"
               "                     [--retain], reload, bridge, stats (sluice ctl --help)\n"
               "  -v, --version      print the version and exit\n"
               "  -h, --help         print this and exit\n"
               "signals: SIGHUP reloads the config file; SIGTERM/SIGINT stop gracefully\n"
               "(docs/OPERATIONS.md, man sluice)\n");
}

typedef struct opts {
    const char *path, *dlq;
    bool check, repair, dev_kafka;
} opts_t;

/* -1 to go on, else the exit code (help, version, a bad argument). */
static int parse_args(int argc, char **argv, opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            o->path = argv[++i];
        } else if (!strcmp(argv[i], "--check")) {
            o->check = true;
        } else if (!strcmp(argv[i], "--repair")) {
            o->repair = true;
        } else if (!strcmp(argv[i], "--dev-kafka")) {
            o->dev_kafka = true;
        } else if (!strcmp(argv[i], "dlq") && i + 1 < argc &&
                   (!strcmp(argv[i + 1], "list") || !strcmp(argv[i + 1], "replay"))) {
            o->dlq = argv[++i];
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
    return -1;
}

/* As many connections as the hard limit allows; only the calling thread
 * (the workers inherit the mask) takes SIGINT, SIGTERM and SIGHUP. */
static void process_setup(sigset_t *set)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP); /* its default action would kill the broker */
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Started: say where it listens, reload on SIGHUP, and on SIGINT/SIGTERM
 * close every connection (within SHUTDOWN_GRACE_MS). */
static void serve(brk_t *b, const cfg_t *cfg, sigset_t *set)
{
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const cfg_listener_t *l = &cfg->listeners[i];
        static const char *names[] = {"mqtt", "ws", "mqtts", "wss", "http"};
        brk_log(b, BRK_LOG_INFO, "SLUICE-LISTEN", "%s on %s:%u%s", names[l->protocol], l->host,
                l->port,
                (l->protocol == CFG_PROTO_WS || l->protocol == CFG_PROTO_WSS) && l->path ? l->path
                                                                                         : "");
    }
    brk_log(b, BRK_LOG_INFO, "SLUICE-READY", "sluice %s ready with %d workers (%s)", SLUICE_VERSION,
            b->n_workers, cfg->source);
    int sig = 0;
    /* SIGHUP re-reads the config file (reload.c logs the outcome) */
    while (sigwait(set, &sig) == 0 && sig == SIGHUP) {
        brk_reload_result_t res;
        brk_reload(b, &res);
    }
    brk_log(b, BRK_LOG_INFO, "SLUICE-STOP", "signal %d: stopping", sig);
    brk_stats_t st;
    brk_stats_collect(b, &st);
    int64_t t0 = brk_now_ms();
    uint64_t left = brk_shutdown(b, SHUTDOWN_GRACE_MS);
    brk_log(b, BRK_LOG_INFO, "SLUICE-SHUTDOWN",
            "%llu connections closed in %lld ms (%llu cut off after %d ms)",
            (unsigned long long)(st.conns - (st.conns < left ? st.conns : left)),
            (long long)(brk_now_ms() - t0), (unsigned long long)left, SHUTDOWN_GRACE_MS);
}

/* The configuration and its files, and the commands that need no broker
 * (--repair, dlq, --check): -1 and *cfg, *auth to start, else the exit code. */
static int prepare(const opts_t *o, cfg_t **cfgp, brk_auth_t **authp)
{
    cfg_t *cfg = NULL;
    char err[512] = "";
    if (o->path) {
        if (cfg_load(o->path, &cfg, err, sizeof(err)) != CFG_OK) {
            fprintf(stderr, "sluice: %s\n", err);
            return 2;
        }
    } else if (!(cfg = cfg_defaults())) {
        fprintf(stderr, "sluice: out of memory\n");
        return 1;
    }
    if (o->repair) {
        int rc = store_repair(cfg->data_dir, err, sizeof(err));
        if (rc == STORE_OK)
            printf("%s: repaired\n", cfg->data_dir);
        else if (!in_use(cfg, rc))
            fprintf(stderr, "sluice: %s\n", err);
        cfg_free(cfg);
        return rc == STORE_OK ? 0 : 1;
    }
    if (cfg_check_bridge_kafka(cfg, o->dev_kafka, err, sizeof(err)) != CFG_OK) {
        fprintf(stderr, "sluice: %s\n", err);
        cfg_free(cfg);
        return 2;
    }
    if (o->dlq) return dlq_command(cfg, o->dlq);
    /* password and ACL files are part of the configuration: same exit code */
    brk_auth_t *auth = brk_auth_open(cfg, err, sizeof(err));
    if (!auth) {
        fprintf(stderr, "sluice: %s\n", err);
        cfg_free(cfg);
        return 2;
    }
    if (o->check) {
        brk_auth_close(auth);
        printf("%s: configuration OK\n", cfg->source);
        cfg_free(cfg);
        return 0;
    }
    *cfgp = cfg;
    *authp = auth;
    return -1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "passwd")) return brk_passwd_command(argc - 2, argv + 2);
    if (argc > 1 && !strcmp(argv[1], "ctl")) return brk_ctl_main(argc - 2, argv + 2);
    opts_t o = {0};
    int code = parse_args(argc, argv, &o);
    if (code >= 0) return code;
    cfg_t *cfg = NULL;
    brk_auth_t *auth = NULL;
    if ((code = prepare(&o, &cfg, &auth)) >= 0) return code;
    char err[512] = "";
    if (cfg->log.file && !freopen(cfg->log.file, "a", stderr)) {
        fprintf(stdout, "sluice: %s: log.file: cannot open for appending\n", cfg->log.file);
        brk_auth_close(auth);
        cfg_free(cfg);
        return 2;
    }
    sigset_t set;
    process_setup(&set);

    brk_t *b = brk_new(cfg);
    if (!b) {
        fprintf(stderr, "sluice: out of memory\n");
        brk_auth_close(auth);
        cfg_free(cfg);
        return 1;
    }
    b->auth = auth;
    b->acl_on = brk_auth_acl_on(auth);
    if (auth && brk_auth_reload_register(b))
        brk_log(b, BRK_LOG_WARN, "SLUICE-AUTH-RELOAD", "authentication will not reload");
    int rc = 0;
    bridge_dev_kafka_t *dk = NULL;
    if (o.dev_kafka && dev_kafka_start(cfg, &dk)) {
        brk_free(b);
        brk_auth_close(auth);
        cfg_free(cfg);
        return 1;
    }
    /* before the store restores sessions: their filters are interest */
    if (brk_cluster_prepare(b)) {
        fprintf(stderr, "sluice: out of memory\n");
        brk_cluster_free(b);
        brk_free(b);
        brk_auth_close(auth);
        cfg_free(cfg);
        return 1;
    }
    if (brk_persist_open(b, err, sizeof(err))) {
        fprintf(stderr, "sluice: %s\n", err);
        brk_persist_close(b);
        brk_cluster_free(b);
        brk_free(b);
        brk_auth_close(auth);
        cfg_free(cfg);
        return 1;
    }
    /* the bridge first: no PUBLISH may be acknowledged before its rules apply */
    if (brk_kafka_start(b, err, sizeof(err)) == 0 && brk_cluster_start(b, err, sizeof(err)) == 0 &&
        brk_start(b) == 0) {
        serve(b, cfg, &set);
    } else {
        if (err[0]) fprintf(stderr, "sluice: %s\n", err);
        rc = 1;
    }
    brk_stop(b);    /* stops the bridge too, after the workers */
    brk_api_stop(); /* a dead-letter replay still using the store */
    brk_kafka_free(b);
    brk_cluster_free(b);
    bridge_dev_kafka_stop(dk);
    brk_persist_close(b); /* after the workers: closing connections still writes */
    brk_free(b);
    brk_auth_close(auth); /* after the workers: sessions held identities */
    brk_reload_fini();    /* the configurations reloads made */
    cfg_free(cfg);
    return rc;
}
