/*
 * sluice-devices - a fleet of simulated devices for the demo (docs/EXAMPLES.md).
 *
 * Each device is one MQTT connection (3.1.1 or 5) that
 *   - leaves a will, devices/<id>/status {"online":false} retained, so a
 *     device that dies (kill -9, cable pulled) shows offline by itself;
 *   - publishes devices/<id>/status {"online":true} retained once connected;
 *   - publishes JSON telemetry on devices/<id>/telemetry/<metric>
 *     (temperature, humidity, battery) at --rate readings per second, with
 *     mean-reverting drift and occasional anomalies;
 *   - subscribes to devices/<id>/commands and acknowledges every command on
 *     devices/<id>/events.
 * One thread and poll() over all sockets. SIGINT/SIGTERM: every device
 * publishes its offline status, disconnects cleanly, and the process exits 0.
 * Prints "READY <n>" on stdout once all devices are connected and subscribed.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "dev_mqtt.h"
#include "dev_tls.h"

static volatile sig_atomic_t stopping; /* the one global: set by the signal handler */

typedef struct opts {
    const char *host, *port, *prefix, *user, *pass, *cafile;
    int devices, qos, first;
    bool v5, tls, insecure;
    double rate, anomaly;
    unsigned seed;
} opts_t;

typedef struct device {
    char id[48];
    int fd;
    SSL *ssl; /* with --tls */
    bool up, subscribed;
    uint8_t in[16384];
    size_t inlen;
    double temp, temp_base, hum, batt, rate;
    double next_pub, next_ping, reconnect_at;
    uint16_t pid;
    uint64_t seq;
    int force_anomaly;
} device_t;

typedef struct sim {
    opts_t o;
    SSL_CTX *tls; /* with --tls */
    device_t *dev;
    uint64_t rng;
    int ready_printed;
} sim_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double rnd(sim_t *s) /* xorshift64*, [0,1) */
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double gauss(sim_t *s)
{
    double u = rnd(s) + 1e-12, v = rnd(s);
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int send_all(device_t *d, const uint8_t *b, size_t n)
{
    while (n) {
        ssize_t w = d->ssl ? SSL_write(d->ssl, b, (int)n) : send(d->fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static void drop(sim_t *s, device_t *d, double delay)
{
    SSL_free(d->ssl); /* no close_notify: the connection is already bad */
    d->ssl = NULL;
    if (d->fd >= 0) close(d->fd);
    d->fd = -1;
    d->up = d->subscribed = false;
    d->inlen = 0;
    d->reconnect_at = now_s() + delay;
    (void)s;
}

static int publish(sim_t *s, device_t *d, const char *topic, const char *json, int qos, bool retain)
{
    uint8_t buf[4096];
    if (++d->pid == 0) d->pid = 1;
    size_t n = dev_mqtt_publish(buf, sizeof(buf), s->o.v5, topic, (const uint8_t *)json,
                                strlen(json), qos, retain, d->pid);
    if (!n || send_all(d, buf, n)) {
        drop(s, d, 1.0);
        return -1;
    }
    return 0;
}

static int tcp_connect(const opts_t *o)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    if (getaddrinfo(o->host, o->port, &hints, &res)) return -1;
    int fd = -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        struct timeval tv = {2, 0}; /* bounds a blocked write, a TLS handshake or record */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (!connect(fd, ai->ai_addr, ai->ai_addrlen)) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static void dev_connect(sim_t *s, device_t *d)
{
    char will_topic[96];
    const char *offline = "{\"online\":false}";
    uint8_t buf[1024];
    snprintf(will_topic, sizeof(will_topic), "devices/%s/status", d->id);
    dev_will_t will = {will_topic, (const uint8_t *)offline, strlen(offline), 1, true};
    d->fd = tcp_connect(&s->o);
    if (d->fd < 0) {
        d->reconnect_at = now_s() + 1.0;
        return;
    }
    if (s->tls && !(d->ssl = dev_tls_connect(s->tls, d->fd, s->o.host))) {
        drop(s, d, 5.0);
        return;
    }
    size_t n = dev_mqtt_connect(buf, sizeof(buf), s->o.v5, d->id, 30, &will, s->o.user, s->o.pass);
    if (!n || send_all(d, buf, n)) drop(s, d, 1.0);
}

/* After CONNACK: retained online status, then the command subscription. */
static void dev_online(sim_t *s, device_t *d)
{
    char topic[96], payload[128];
    uint8_t buf[256];
    d->up = true;
    snprintf(topic, sizeof(topic), "devices/%s/status", d->id);
    snprintf(payload, sizeof(payload), "{\"online\":true,\"ts\":%lld}", wall_ms());
    if (publish(s, d, topic, payload, 1, true)) return;
    snprintf(topic, sizeof(topic), "devices/%s/commands", d->id);
    size_t n = dev_mqtt_subscribe(buf, sizeof(buf), s->o.v5, 1, topic, 1);
    if (!n || send_all(d, buf, n)) drop(s, d, 1.0);
    d->next_pub = now_s() + rnd(s) / d->rate; /* spread the fleet over one period */
    d->next_ping = now_s() + 15;
}

static void telemetry(sim_t *s, device_t *d)
{
    /* mean-reverting walks; an anomaly is a short spike the analytics
     * consumer should flag */
    d->temp += 0.05 * (d->temp_base - d->temp) + 0.15 * gauss(s);
    d->hum += 0.05 * (50 - d->hum) + 0.4 * gauss(s);
    d->batt -= 0.01 + 0.005 * rnd(s);
    if (d->batt < 5) d->batt = 100; /* recharged */
    double temp = d->temp;
    if (d->force_anomaly || rnd(s) < s->o.anomaly) {
        temp += (rnd(s) < 0.5 ? -1 : 1) * (12 + 6 * rnd(s));
        d->force_anomaly = 0;
    }
    const char *names[3] = {"temperature", "humidity", "battery"};
    const char *units[3] = {"C", "%", "%"};
    double vals[3] = {temp, d->hum, d->batt};
    d->seq++;
    for (int i = 0; i < 3 && d->fd >= 0; i++) {
        char topic[128], payload[256];
        snprintf(topic, sizeof(topic), "devices/%s/telemetry/%s", d->id, names[i]);
        snprintf(payload, sizeof(payload),
                 "{\"id\":\"%s\",\"metric\":\"%s\",\"value\":%.2f,\"unit\":\"%s\","
                 "\"ts\":%lld,\"seq\":%llu}",
                 d->id, names[i], vals[i], units[i], wall_ms(), (unsigned long long)d->seq);
        publish(s, d, topic, payload, s->o.qos, false);
    }
}

/* A command: {"cmd":"ping"|"set_rate"|"reboot"|"anomaly", "rate":N, "req":X}.
 * Every command, good or bad, gets one event on devices/<id>/events. */
static void command(sim_t *s, device_t *d, const uint8_t *p, size_t n)
{
    cJSON *c = cJSON_ParseWithLength((const char *)p, n);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(c, "cmd");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(c, "req");
    const char *name = cJSON_IsString(cmd) ? cmd->valuestring : "";
    const char *err = NULL;
    bool reboot = false;
    if (!c) {
        err = "not JSON";
    } else if (!strcmp(name, "ping")) {
    } else if (!strcmp(name, "set_rate")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(c, "rate");
        if (cJSON_IsNumber(r) && r->valuedouble > 0 && r->valuedouble <= 100)
            d->rate = r->valuedouble;
        else
            err = "rate must be a number in (0, 100]";
    } else if (!strcmp(name, "reboot")) {
        reboot = true;
    } else if (!strcmp(name, "anomaly")) {
        d->force_anomaly = 1;
    } else {
        err = "unknown command";
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "id", d->id);
    cJSON_AddStringToObject(ev, "event", "ack");
    cJSON_AddStringToObject(ev, "cmd", name);
    if (req) cJSON_AddItemToObject(ev, "req", cJSON_Duplicate(req, true));
    cJSON_AddBoolToObject(ev, "ok", err == NULL);
    if (err) cJSON_AddStringToObject(ev, "error", err);
    cJSON_AddNumberToObject(ev, "rate", d->rate);
    cJSON_AddNumberToObject(ev, "ts", (double)wall_ms());
    char *text = cJSON_PrintUnformatted(ev);
    char topic[96];
    snprintf(topic, sizeof(topic), "devices/%s/events", d->id);
    if (text) publish(s, d, topic, text, 1, false);
    free(text);
    cJSON_Delete(ev);
    cJSON_Delete(c);
    if (reboot && d->fd >= 0) {
        char st[96];
        snprintf(st, sizeof(st), "devices/%s/status", d->id);
        publish(s, d, st, "{\"online\":false,\"reason\":\"reboot\"}", 1, true);
        uint8_t b[2];
        if (d->fd >= 0 && dev_mqtt_simple(b, sizeof(b), 14)) send_all(d, b, 2);
        drop(s, d, 2.0);
    }
}

static void dev_read(sim_t *s, device_t *d)
{
    size_t room = sizeof(d->in) - d->inlen;
    /* TLS: poll said the socket is readable, so a whole record is on its way
     * (SO_RCVTIMEO bounds the wait); bytes OpenSSL already holds are taken
     * too, as poll cannot see them */
    ssize_t r = d->ssl ? SSL_read(d->ssl, d->in + d->inlen, (int)room)
                       : recv(d->fd, d->in + d->inlen, room, MSG_DONTWAIT);
    if (d->ssl && r > 0 && SSL_pending(d->ssl) && (size_t)r < room) {
        int more = SSL_read(d->ssl, d->in + d->inlen + r, (int)(room - (size_t)r));
        if (more > 0) r += more;
    }
    if (r == 0 || (r < 0 && (d->ssl || (errno != EAGAIN && errno != EINTR)))) {
        drop(s, d, 1.0);
        return;
    }
    if (r > 0) d->inlen += (size_t)r;
    size_t off = 0;
    while (d->fd >= 0) {
        dev_pkt_t p;
        long used = dev_mqtt_parse(d->in + off, d->inlen - off, s->o.v5, &p);
        if (used < 0 || (used == 0 && d->inlen == sizeof(d->in) && off == 0)) {
            fprintf(stderr, "sluice-devices: %s: bad packet from the broker\n", d->id);
            drop(s, d, 1.0);
            return;
        }
        if (used == 0) break;
        off += (size_t)used;
        if (p.type == DEV_CONNACK) {
            if (p.rc) {
                fprintf(stderr, "sluice-devices: %s: CONNACK code %d\n", d->id, p.rc);
                drop(s, d, 5.0);
                return;
            }
            dev_online(s, d);
        } else if (p.type == DEV_SUBACK) {
            d->subscribed = true;
        } else if (p.type == DEV_PUBLISH) {
            uint8_t ack[4];
            if ((p.flags & 6) && dev_mqtt_puback(ack, sizeof(ack), p.pid) && send_all(d, ack, 4)) {
                drop(s, d, 1.0);
                return;
            }
            command(s, d, p.payload, p.plen);
        }
    }
    if (d->fd >= 0 && off) {
        memmove(d->in, d->in + off, d->inlen - off);
        d->inlen -= off;
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: sluice-devices [options]\n"
            "  -H, --host HOST       broker host (default 127.0.0.1)\n"
            "  -p, --port PORT       broker MQTT port (default 1883)\n"
            "  -n, --devices N       number of devices (default 50)\n"
            "      --first K         number of the first device (default 1)\n"
            "      --prefix P        device id prefix: P-001, P-002... (default dev)\n"
            "  -r, --rate HZ         readings per second per device (default 1)\n"
            "  -q, --qos 0|1         QoS of telemetry (default 0)\n"
            "  -V, --mqtt 3|5        MQTT 3.1.1 or 5 (default 5)\n"
            "      --anomaly P       probability of an anomalous reading (default 0.005)\n"
            "  -u, --username U      username for CONNECT\n"
            "  -P, --password W      password for CONNECT\n"
            "      --tls             TLS (an mqtts listener); verifies the broker's certificate\n"
            "                        against the system trust store and --host\n"
            "      --cafile FILE     trust this CA (PEM) instead of the system store\n"
            "      --insecure        TLS without any certificate check (test brokers only)\n"
            "      --seed S          random seed (default: time)\n"
            "  -h, --help            this text\n"
            "Topics: devices/<id>/telemetry/<metric>, devices/<id>/status (retained, will),\n"
            "devices/<id>/commands (in), devices/<id>/events (acks). See docs/EXAMPLES.md.\n");
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {
        {"host", 1, 0, 'H'}, {"port", 1, 0, 'p'}, {"devices", 1, 0, 'n'},  {"rate", 1, 0, 'r'},
        {"qos", 1, 0, 'q'},  {"mqtt", 1, 0, 'V'}, {"username", 1, 0, 'u'}, {"password", 1, 0, 'P'},
        {"help", 0, 0, 'h'}, {"prefix", 1, 0, 1}, {"anomaly", 1, 0, 2},    {"seed", 1, 0, 3},
        {"first", 1, 0, 4},  {"tls", 0, 0, 5},    {"cafile", 1, 0, 6},     {"insecure", 0, 0, 7},
        {0, 0, 0, 0}};
    *o = (opts_t){.host = "127.0.0.1",
                  .port = "1883",
                  .prefix = "dev",
                  .devices = 50,
                  .first = 1,
                  .v5 = true,
                  .rate = 1.0,
                  .anomaly = 0.005,
                  .seed = (unsigned)time(NULL)};
    int c;
    while ((c = getopt_long(argc, argv, "H:p:n:r:q:V:u:P:h", lo, NULL)) != -1) {
        switch (c) {
        case 'H':
            o->host = optarg;
            break;
        case 'p':
            o->port = optarg;
            break;
        case 'n':
            o->devices = atoi(optarg);
            break;
        case 'r':
            o->rate = atof(optarg);
            break;
        case 'q':
            o->qos = atoi(optarg);
            break;
        case 'V':
            o->v5 = atoi(optarg) == 5;
            break;
        case 'u':
            o->user = optarg;
            break;
        case 'P':
            o->pass = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 1:
            o->prefix = optarg;
            break;
        case 2:
            o->anomaly = atof(optarg);
            break;
        case 3:
            o->seed = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 4:
            o->first = atoi(optarg);
            break;
        case 5:
            o->tls = true;
            break;
        case 6:
            o->cafile = optarg;
            o->tls = true;
            break;
        case 7:
            o->insecure = true;
            o->tls = true;
            break;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc || o->devices < 1 || o->devices > 10000 || o->rate <= 0 || o->rate > 100 ||
        o->qos < 0 || o->qos > 1 || strlen(o->prefix) > 24) {
        fprintf(stderr, "sluice-devices: bad arguments (devices 1..10000, rate (0,100], qos "
                        "0|1, prefix up to 24 chars); see --help\n");
        return -1;
    }
    return 0;
}

static void shutdown_all(sim_t *s)
{
    for (int i = 0; i < s->o.devices; i++) {
        device_t *d = &s->dev[i];
        if (d->fd < 0) continue;
        if (d->up) {
            char topic[96];
            uint8_t b[2];
            snprintf(topic, sizeof(topic), "devices/%s/status", d->id);
            publish(s, d, topic, "{\"online\":false,\"reason\":\"shutdown\"}", 0, true);
            if (d->fd >= 0 && dev_mqtt_simple(b, sizeof(b), 14)) send_all(d, b, 2);
        }
        if (d->ssl && d->fd >= 0) SSL_shutdown(d->ssl); /* close_notify, not waited for */
        drop(s, d, 0);
    }
}

static void tick(sim_t *s, struct pollfd *pf)
{
    double t = now_s();
    int ready = 0;
    for (int i = 0; i < s->o.devices; i++) {
        device_t *d = &s->dev[i];
        if (d->fd >= 0 && (pf[i].revents & (POLLIN | POLLHUP | POLLERR))) dev_read(s, d);
        if (d->fd < 0 && t >= d->reconnect_at) dev_connect(s, d);
        if (d->fd < 0 || !d->up) continue;
        ready += d->subscribed;
        if (t >= d->next_pub) {
            telemetry(s, d);
            d->next_pub += 1.0 / d->rate;
            if (d->next_pub < t) d->next_pub = t + 1.0 / d->rate; /* fell behind: skip */
        }
        if (d->fd >= 0 && t >= d->next_ping) {
            uint8_t b[2];
            d->next_ping = t + 15;
            if (dev_mqtt_simple(b, sizeof(b), 12) && send_all(d, b, 2)) drop(s, d, 1.0);
        }
    }
    if (ready == s->o.devices && !s->ready_printed) {
        printf("READY %d\n", ready);
        fflush(stdout);
        s->ready_printed = 1;
    }
}

int main(int argc, char **argv)
{
    sim_t s = {0};
    if (parse_opts(argc, argv, &s.o)) return 2;
    if (s.o.tls && !(s.tls = dev_tls_ctx(s.o.cafile, s.o.insecure))) return 1;
    s.rng = 0x9E3779B97F4A7C15ULL ^ s.o.seed;
    s.dev = calloc((size_t)s.o.devices, sizeof(*s.dev));
    struct pollfd *pf = calloc((size_t)s.o.devices, sizeof(*pf));
    if (!s.dev || !pf) return 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (int i = 0; i < s.o.devices; i++) {
        device_t *d = &s.dev[i];
        snprintf(d->id, sizeof(d->id), "%s-%03d", s.o.prefix, s.o.first + i);
        d->fd = -1;
        d->rate = s.o.rate;
        d->temp_base = 18 + 8 * rnd(&s);
        d->temp = d->temp_base;
        d->hum = 40 + 20 * rnd(&s);
        d->batt = 40 + 60 * rnd(&s);
    }
    while (!stopping) {
        for (int i = 0; i < s.o.devices; i++) {
            pf[i].fd = s.dev[i].fd;
            pf[i].events = POLLIN;
            pf[i].revents = 0;
        }
        if (poll(pf, (nfds_t)s.o.devices, 20) < 0 && errno != EINTR) break;
        tick(&s, pf);
    }
    shutdown_all(&s);
    free(pf);
    free(s.dev);
    SSL_CTX_free(s.tls);
    fprintf(stderr, "sluice-devices: stopped\n");
    return 0;
}
