/*
 * lws_loop.c - the worker's event loop: one lws_context per worker, its
 * listening sockets, the epoll set of the plain TCP connections as one more
 * descriptor in it, and the 250 ms tick. The broker's side of each event is
 * elsewhere (brk_worker_tick, brk_worker_run_inbox in worker.c; tcp.c;
 * lws_conn.c). Each function runs on its worker's thread, except
 * brk_loop_wake (any thread) and init/fini/destroy (the main thread, before
 * the worker runs or after it stopped).
 *
 * lws 4.1.6 (Debian) neither sets SO_REUSEPORT nor runs one context on
 * several threads, so every worker opens its own listening socket per
 * listener with SO_REUSEPORT (the kernel spreads new connections over
 * them), adopts it into its context as a raw file descriptor, and on
 * readability accepts and adopts each socket: plain MQTT to tcp.c, MQTT
 * over TLS into the raw protocol, WebSocket as HTTP so that lws performs
 * the upgrade.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "brk.h"
#include "lws_conn.h"

#define TICK_US (250 * LWS_US_PER_MS)
#define ACCEPT_BATCH 64

typedef struct brk_listen {
    brk_worker_t *w;
    int fd;
    struct lws_vhost *vh;
    const cfg_listener_t *l;
} brk_listen_t;

typedef struct brk_tick {
    lws_sorted_usec_list_t sul;
    brk_worker_t *w;
} brk_tick_t;

static brk_worker_t *worker_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

static void tick(lws_sorted_usec_list_t *sul)
{
    brk_tick_t *t = lws_container_of(sul, brk_tick_t, sul);
    brk_worker_tick(t->w);
    lws_sul_schedule(t->w->ctx, 0, &t->sul, tick, TICK_US);
}

static void accept_ready(brk_listen_t *li)
{
    brk_worker_t *w = li->w;
    bool ws = li->l->protocol == CFG_PROTO_WS || li->l->protocol == CFG_PROTO_WSS ||
              li->l->protocol == CFG_PROTO_HTTP; /* lws speaks HTTP on these */
    bool tls = li->l->protocol == CFG_PROTO_MQTTS || li->l->protocol == CFG_PROTO_WSS;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(li->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if ((errno == EMFILE || errno == ENFILE) && w->reserve_fd >= 0) {
                /* out of descriptors: accept and drop one so the listener
                 * does not spin, then take the reserve back */
                close(w->reserve_fd);
                int tmp = accept(li->fd, NULL, NULL);
                if (tmp >= 0) close(tmp);
                w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                brk_log(w->b, BRK_LOG_WARN, "SLUICE-ACCEPT-EMFILE",
                        "out of file descriptors; refused a connection on port %u", li->l->port);
            }
            return;
        }
        if (atomic_load(&w->b->draining)) { /* shutting down: refuse at once */
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (li->l->protocol == CFG_PROTO_MQTT) {
            brk_tcp_adopt(w, fd, li->l);
            continue;
        }
        lws_adopt_desc_t ad = {0};
        ad.vh = li->vh;
        ad.type = LWS_ADOPT_SOCKET | (ws ? LWS_ADOPT_HTTP : 0) | (tls ? LWS_ADOPT_ALLOW_SSL : 0);
        ad.fd.sockfd = fd;
        ad.vh_prot_name = ws ? NULL : "sluice-raw";
        ad.opaque = (void *)li->l;
        lws_adopt_descriptor_vhost_via_info(&ad); /* closes fd on failure */
    }
}

static int cb_listen(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    if (reason == LWS_CALLBACK_RAW_RX_FILE) {
        brk_listen_t *li = lws_get_opaque_user_data(wsi);
        if (li && li->l) {
            accept_ready(li);
            brk_worker_run_inbox(li->w);
        } else if (li) { /* the epoll set of the plain TCP connections */
            brk_tcp_service(li->w);
            brk_worker_run_inbox(li->w);
        }
    } else if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        brk_worker_run_inbox(worker_of(wsi));
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"http", brk_lws_http, sizeof(void *), 0, 0, NULL, 0}, /* api.c request */
    {"mqtt", brk_lws_ws, BRK_LWS_PSS, 65536, 0, NULL, 0},
    {"mqttv3.1", brk_lws_ws, BRK_LWS_PSS, 65536, 0, NULL, 0},
    {"sluice-raw", brk_lws_raw, BRK_LWS_PSS, 65536, 0, NULL, 0},
    {"sluice-listen", cb_listen, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* A socket bound to l's address (nonblocking unless probing), -1 with the
 * reason in err. reuseport: every worker binds the same port. */
static int bind_port(const cfg_listener_t *l, bool reuseport, char *err, size_t errlen)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", l->port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(l->host, port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", l->host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one))) ||
        bind(fd, res->ai_addr, res->ai_addrlen)) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", l->host, l->port,
                 errno == EADDRINUSE ? "address in use (another process listens there)"
                                     : strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int open_listener(const cfg_listener_t *l, char *err, size_t errlen)
{
    int fd = bind_port(l, true, err, errlen);
    if (fd >= 0 && listen(fd, 4096)) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", l->host, l->port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Every worker binds each listener with SO_REUSEPORT, which the kernel
 * also grants to another process of the same user on the same port: a
 * second broker started by mistake would take half of the first one's new
 * connections, and a test harness two nodes' clients. So the port is first
 * bound once without it: held by anyone else, that fails (EADDRINUSE). */
int brk_loop_probe(const cfg_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        int fd = bind_port(&cfg->listeners[i], false, err, errlen);
        if (fd < 0) return -1;
        close(fd);
    }
    return 0;
}

/* Poll fd in the worker's loop: a listening socket (l set) or the epoll
 * set (l NULL); lws closes it with the context. NULL on failure. */
static brk_listen_t *watch_fd(brk_worker_t *w, struct lws_vhost *vh, int fd,
                              const cfg_listener_t *l)
{
    brk_listen_t *li = calloc(1, sizeof(*li));
    if (!li) {
        close(fd);
        return NULL;
    }
    *li = (brk_listen_t){.w = w, .fd = fd, .vh = vh, .l = l};
    lws_adopt_desc_t ad = {0};
    ad.vh = vh;
    ad.type = LWS_ADOPT_RAW_FILE_DESC;
    ad.fd.filefd = fd;
    ad.vh_prot_name = "sluice-listen";
    ad.opaque = li;
    if (!lws_adopt_descriptor_vhost_via_info(&ad)) {
        free(li);
        return NULL;
    }
    return li;
}

int brk_loop_init(brk_worker_t *w, char *err, size_t errlen)
{
    const cfg_t *cfg = w->b->cfg;

    bool tls = false;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        tls |= cfg->listeners[i].protocol == CFG_PROTO_MQTTS ||
               cfg->listeners[i].protocol == CFG_PROTO_WSS;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.options =
        LWS_SERVER_OPTION_EXPLICIT_VHOSTS | (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.user = w;
    info.pt_serv_buf_size = 65536;
    /* lws times the TLS handshake and the HTTP upgrade with this (default
     * 5 s); a handshake storm on a busy worker can take longer, and the
     * broker's own CONNECT timeout is the one that should decide */
    info.timeout_secs = BRK_CONNECT_TIMEOUT_MS / 1000;
    w->ctx = lws_create_context(&info);
    if (!w->ctx) {
        snprintf(err, errlen, "worker %d: cannot create the lws context", w->index);
        return -1;
    }
    w->listens = calloc(cfg->n_listeners + 1, sizeof(*w->listens));
    w->vhost_names = calloc(cfg->n_listeners + 1, sizeof(*w->vhost_names));
    if (!w->listens || !w->vhost_names) return -1;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const cfg_listener_t *l = &cfg->listeners[i];
        struct lws_context_creation_info vi;
        memset(&vi, 0, sizeof(vi));
        /* lws keeps the pointer, not a copy: the name lives as long as w */
        snprintf(w->vhost_names[i], sizeof(w->vhost_names[i]), "l%zu", i);
        vi.vhost_name = w->vhost_names[i];
        vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        vi.protocols = protocols;
        vi.user = (void *)l;
        if (l->protocol == CFG_PROTO_MQTTS || l->protocol == CFG_PROTO_WSS) {
            vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
            vi.ssl_cert_filepath = l->cert;
            vi.ssl_private_key_filepath = l->key;
            if (l->ca) {
                vi.ssl_ca_filepath = l->ca;
                vi.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
            }
        }
        struct lws_vhost *vh = lws_create_vhost(w->ctx, &vi);
        if (!vh) {
            snprintf(err, errlen, "listeners[%zu]: cannot create the listener (TLS files?)", i);
            return -1;
        }
        int fd = open_listener(l, err, errlen);
        if (fd < 0) return -1;
        if (!(w->listens[i] = watch_fd(w, vh, fd, l))) {
            snprintf(err, errlen, "listeners[%zu]: cannot adopt the listening socket", i);
            return -1;
        }
    }
    /* the plain TCP connections: their epoll set is one more descriptor */
    struct lws_context_creation_info ti;
    memset(&ti, 0, sizeof(ti));
    ti.vhost_name = "tcp";
    ti.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    ti.protocols = protocols;
    struct lws_vhost *tvh = lws_create_vhost(w->ctx, &ti);
    if (brk_tcp_init(w) || !tvh ||
        !(w->listens[cfg->n_listeners] = watch_fd(w, tvh, w->epfd, NULL))) {
        snprintf(err, errlen, "worker %d: cannot set up epoll: %s", w->index, strerror(errno));
        return -1;
    }
    brk_tick_t *t = calloc(1, sizeof(*t));
    if (!t) return -1;
    t->w = w;
    w->tick = t;
    lws_sul_schedule(w->ctx, 0, &t->sul, tick, TICK_US);
    return 0;
}

void brk_loop_run(brk_worker_t *w)
{
    while (!atomic_load(&w->b->stopping))
        if (lws_service(w->ctx, 0) < 0) break;
}

void brk_loop_wake(brk_worker_t *w)
{
    if (w->ctx) lws_cancel_service(w->ctx);
}

void brk_loop_destroy(struct lws_context *ctx)
{
    if (ctx) lws_context_destroy(ctx);
}

void brk_loop_fini(brk_worker_t *w)
{
    for (size_t i = 0; w->listens && i <= w->b->cfg->n_listeners; i++)
        free(w->listens[i]);
    free(w->listens);
    w->listens = NULL;
    free(w->vhost_names); /* the context that read them is destroyed */
    w->vhost_names = NULL;
    free(w->tick);
    w->tick = NULL;
}

void brk_loop_global_init(void)
{
    lws_set_log_level(LLL_ERR, NULL);
}
