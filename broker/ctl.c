/*
 * ctl.c - `sluice ctl`: the admin API from the command line (libcurl for
 * HTTP, cJSON for the one body it builds). Talks to a running broker's
 * `http` listener; prints the JSON answer on stdout; exit 0 on a 2xx
 * answer, 1 on any other answer, 2 on a usage error, 3 when the broker
 * cannot be reached. Keys come from --key-file or $SLUICE_API_KEY (a key
 * on the command line would show in `ps`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ctl.h"

typedef struct ctl {
    const char *url;
    char key[512];
} ctl_t;

static void ctl_usage(FILE *f)
{
    fprintf(f, "usage: sluice ctl [--url URL] [--key-file FILE] COMMAND\n"
               "  --url URL        the broker's http listener (default $SLUICE_URL or\n"
               "                   http://127.0.0.1:8080)\n"
               "  --key-file FILE  file whose first line is an admin API key (default\n"
               "                   $SLUICE_API_KEY)\n"
               "commands:\n"
               "  clients [--connected] [--prefix ID]  list clients\n"
               "  client ID                             one client\n"
               "  kick ID [--discard]                   disconnect (MQTT 5: 0x98); --discard\n"
               "                                        also ends the session\n"
               "  publish TOPIC PAYLOAD [--qos N] [--retain]\n"
               "  reload                                re-read the config file\n"
               "  bridge                                Kafka bridge status\n"
               "  stats                                 broker counters\n");
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
    fwrite(p, size, n, arg);
    return size * n;
}

/* One request; prints the body. Returns the exit code. */
static int request(const ctl_t *c, const char *method, const char *path, const char *body)
{
    CURL *h = curl_easy_init();
    if (!h) return 3;
    char url[1024], auth[600];
    snprintf(url, sizeof(url), "%s/api/v1%s", c->url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->key);
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    if (body) hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, stdout);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    else if (!strcmp(method, "POST"))
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "sluice ctl: %s: %s\n", c->url, curl_easy_strerror(rc));
        return 3;
    }
    if (status == 204) printf("{}\n");
    return status >= 200 && status < 300 ? 0 : 1;
}

static char *escape(const char *s)
{
    CURL *h = curl_easy_init();
    char *e = h ? curl_easy_escape(h, s, 0) : NULL;
    char *out = e ? strdup(e) : NULL;
    curl_free(e);
    if (h) curl_easy_cleanup(h);
    return out;
}

static int cmd_publish(const ctl_t *c, int argc, char **argv)
{
    if (argc < 3) return -1;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "topic", argv[1]);
    cJSON_AddStringToObject(o, "payload", argv[2]);
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--retain")) {
            cJSON_AddBoolToObject(o, "retain", 1);
        } else if (!strcmp(argv[i], "--qos") && i + 1 < argc) {
            cJSON_AddNumberToObject(o, "qos", atoi(argv[++i]));
        } else {
            cJSON_Delete(o);
            return -1;
        }
    }
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int rc = body ? request(c, "POST", "/publish", body) : 3;
    free(body);
    return rc;
}

static int cmd_id(const ctl_t *c, int argc, char **argv, const char *method)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--discard"))) return -1;
    char *id = escape(argv[1]);
    if (!id) return 3;
    char path[1024];
    snprintf(path, sizeof(path), "/clients/%s%s", id, argc == 3 ? "?discard=true" : "");
    free(id);
    return request(c, method, path, NULL);
}

static int cmd_clients(const ctl_t *c, int argc, char **argv)
{
    char path[1024] = "/clients?limit=1000";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--connected")) {
            strcat(path, "&connected=true");
        } else if (!strcmp(argv[i], "--prefix") && i + 1 < argc) {
            char *p = escape(argv[++i]);
            if (!p) return 3;
            snprintf(path + strlen(path), sizeof(path) - strlen(path), "&clientid=%s", p);
            free(p);
        } else {
            return -1;
        }
    }
    return request(c, "GET", path, NULL);
}

static bool read_key(ctl_t *c, const char *file)
{
    if (!file) {
        const char *k = getenv("SLUICE_API_KEY");
        snprintf(c->key, sizeof(c->key), "%s", k ? k : "");
        return true;
    }
    FILE *f = fopen(file, "r");
    if (!f || !fgets(c->key, sizeof(c->key), f)) {
        fprintf(stderr, "sluice ctl: %s: cannot read a key\n", file);
        if (f) fclose(f);
        return false;
    }
    fclose(f);
    c->key[strcspn(c->key, "\r\n")] = 0;
    return true;
}

int brk_ctl_main(int argc, char **argv)
{
    ctl_t c = {.url = getenv("SLUICE_URL") ? getenv("SLUICE_URL") : "http://127.0.0.1:8080"};
    const char *key_file = NULL;
    int i = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--url") && i + 1 < argc) {
            c.url = argv[++i];
        } else if (!strcmp(argv[i], "--key-file") && i + 1 < argc) {
            key_file = argv[++i];
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            ctl_usage(stdout);
            return 0;
        } else {
            break;
        }
    }
    if (i >= argc) {
        ctl_usage(stderr);
        return 2;
    }
    if (!read_key(&c, key_file)) return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    argc -= i;
    argv += i;
    const char *cmd = argv[0];
    int rc = -1;
    if (!strcmp(cmd, "clients"))
        rc = cmd_clients(&c, argc, argv);
    else if (!strcmp(cmd, "client"))
        rc = cmd_id(&c, argc, argv, "GET");
    else if (!strcmp(cmd, "kick"))
        rc = cmd_id(&c, argc, argv, "DELETE");
    else if (!strcmp(cmd, "publish"))
        rc = cmd_publish(&c, argc, argv);
    else if (!strcmp(cmd, "reload") && argc == 1)
        rc = request(&c, "POST", "/reload", NULL);
    else if (!strcmp(cmd, "bridge") && argc == 1)
        rc = request(&c, "GET", "/bridge", NULL);
    else if (!strcmp(cmd, "stats") && argc == 1)
        rc = request(&c, "GET", "/stats", NULL);
    curl_global_cleanup();
    if (rc < 0) {
        fprintf(stderr, "sluice ctl: bad command line\n");
        ctl_usage(stderr);
        return 2;
    }
    return rc;
}
