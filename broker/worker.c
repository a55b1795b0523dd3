/*
 * worker.c - one I/O thread: its lws_context, its listening sockets, its
 * connections, its inbox.
 *
 * lws 4.1.6 (Debian) neither sets SO_REUSEPORT nor runs one context on
 * several threads, so every worker opens its own listening socket per
 * listener with SO_REUSEPORT (the kernel spreads new connections over
 * them), adopts it into its context as a raw file descriptor, and on
 * readability accepts and adopts each socket: raw MQTT into the raw
 * protocol, WebSocket as HTTP so that lws performs the upgrade.
 *
 * The connections lws carries (TLS, WebSocket, HTTP) are lws_conn.c's.
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
#include "worker_call.h"
#include "grow.h"

#define TICK_US (250 * LWS_US_PER_MS)
#define CONNECT_TIMEOUT_MS 10000
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

int brk_worker_post(brk_worker_t *w, brk_inbox_item_t item)
{
    pthread_mutex_lock(&w->inbox_lock);
    if (w->inbox_closed) { /* worker_fini ran: nobody would take it */
        pthread_mutex_unlock(&w->inbox_lock);
        return -1;
    }
    if (w->inbox_len == w->inbox_cap &&
        brk_grow_vec(&w->inbox, &w->inbox_cap, sizeof(*w->inbox), 256)) {
        pthread_mutex_unlock(&w->inbox_lock);
        return -1;
    }
    w->inbox[w->inbox_len++] = item;
    /* one wake-up per batch; our own thread drains before it sleeps. Under
     * the lock: brk_stop takes ctx away under it before destroying it, so a
     * store or bridge thread never wakes a context being destroyed
     * (ThreadSanitizer: eventfd written while the main thread closed it) */
    if (w->inbox_len == 1 && w->ctx && !atomic_load(&w->b->stopping) &&
        !pthread_equal(pthread_self(), w->thread))
        lws_cancel_service(w->ctx);
    pthread_mutex_unlock(&w->inbox_lock);
    return 0;
}

void brk_worker_post_failed(brk_worker_t *w, brk_inbox_item_t item)
{
    brk_log(w->b, BRK_LOG_ERROR, "SLUICE-INBOX-NOMEM",
            "worker %d: inbox item of kind %u lost (out of memory)", w->index, item.kind);
    switch (item.kind) {
    case BRK_INBOX_READY:
    case BRK_INBOX_RELEASE:
        brk_session_unref(item.u.s);
        break;
    case BRK_INBOX_KILL:
    case BRK_INBOX_RESUME:
        brk_conn_unref(item.u.c);
        break;
    case BRK_INBOX_ACK:
        brk_conn_unref(item.u.p->c);
        free(item.u.p);
        break;
    }
}

/* One swap of the inbox: false if it was empty. */
static bool inbox_once(brk_worker_t *w)
{
    pthread_mutex_lock(&w->inbox_lock);
    if (!w->inbox_len) {
        pthread_mutex_unlock(&w->inbox_lock);
        return false;
    }
    /* swap the vector out so producers never wait for our work */
    brk_inbox_item_t *items = w->inbox;
    uint32_t n = w->inbox_len, cap = w->inbox_cap;
    w->inbox = w->inbox_spare;
    w->inbox_cap = w->inbox_spare_cap;
    w->inbox_len = 0;
    pthread_mutex_unlock(&w->inbox_lock);
    for (uint32_t i = 0; i < n; i++) {
        brk_inbox_item_t *it = &items[i];
        if (it->kind == BRK_INBOX_READY) {
            brk_session_drain(it->u.s, w);
            brk_session_unref(it->u.s);
        } else if (it->kind == BRK_INBOX_ACK) {
            brk_pending_t *p = it->u.p;
            if (p->flow) p->c->flow_waits--;
            if (p->c->state == BRK_CONN_OPEN) {
                brk_conn_ack_done(p->c, p->seq, p->status);
                brk_conn_retry(p->c); /* read on if it waited for its acks */
            }
            brk_conn_unref(p->c);
            free(p);
        } else if (it->kind == BRK_INBOX_KILL) {
            brk_conn_kill(it->u.c);
            brk_conn_unref(it->u.c);
        } else if (it->kind == BRK_INBOX_RELEASE) {
            brk_session_release(it->u.s, w, it->pid);
            brk_session_unref(it->u.s);
        } else if (it->kind == BRK_INBOX_RESUME) {
            brk_conn_t *c = it->u.c;
            if (c->state == BRK_CONN_OPEN && c->session) brk_session_resume(c->session, c);
            brk_conn_unref(c);
        } else if (it->kind == BRK_INBOX_CALL) {
            brk_call_run(w, it->u.call);
        }
    }
    pthread_mutex_lock(&w->inbox_lock);
    w->inbox_spare = items;
    w->inbox_spare_cap = cap;
    pthread_mutex_unlock(&w->inbox_lock);
    return true;
}

/* The end of every event: cross-thread work, then the writes of the plain
 * TCP connections (which may produce more of both). */
static void run_inbox(brk_worker_t *w)
{
    for (int rounds = 0; rounds < 8; rounds++) {
        bool items = inbox_once(w);
        bool again = brk_tcp_flush(w);
        if (!items && !again) return;
    }
    if (w->ctx) lws_cancel_service(w->ctx); /* more arrived meanwhile: come back soon */
}

/* Test seam for tests/fuzz/fuzz_conn.c, which drives workers without lws or
 * threads (ctx NULL): the end-of-event pass, inbox then TCP writes. */
void brk_worker_run_inbox(brk_worker_t *w)
{
    run_inbox(w);
}

static void tick(lws_sorted_usec_list_t *sul)
{
    brk_tick_t *t = lws_container_of(sul, brk_tick_t, sul);
    brk_worker_t *w = t->w;
    brk_t *b = w->b;
    int64_t now = brk_now_ms();
    for (brk_conn_t *c = w->conns; c; c = c->next) {
        if (c->state >= BRK_CONN_CLOSING) {
            if (c->transport == BRK_TRANSPORT_RAW) brk_tcp_expire(c, now);
            continue;
        }
        brk_conn_trim(c, now);
        brk_conn_retry(c);
        if (c->session && c->connected && atomic_load(&c->session->backlog))
            brk_session_drain(c->session, w); /* pages whose writes committed since */
        if (!c->connected && now - c->last_rx_ms > CONNECT_TIMEOUT_MS) {
            brk_conn_close(c, 0);
        } else if (c->session && c->connected && brk_flow_stuck(c->session, now)) {
            brk_log(b, BRK_LOG_WARN, "SLUICE-QUEUE-STUCK",
                    "%s: queue over mqtt.max_queued for %u ms, publishers held: disconnected",
                    c->peer, b->cfg->mqtt.queue_full_timeout_ms);
            brk_count(&w->st.flow_kicks, 1);
            brk_conn_close(c, MQTT_RC_QUOTA_EXCEEDED);
        } else if (c->connected && c->keepalive &&
                   now - c->last_rx_ms > (int64_t)c->keepalive * 1500) { /* MQTT-3.1.2-24 */
            brk_log(b, BRK_LOG_DEBUG, "SLUICE-KEEPALIVE", "%s: keepalive %us expired", c->peer,
                    c->keepalive);
            brk_conn_close(c, MQTT_RC_KEEPALIVE_TIMEOUT);
        }
    }
    if (w->index == 0) {
        brk_expire_sessions(b, now);
        if (now >= w->next_probe_ms) {
            brk_persist_probe(b);
            w->next_probe_ms = now + 1000;
        }
        if (b->cfg->mqtt.sys_interval && now >= w->next_sys_ms) {
            brk_sys_tick(b, w, now);
            w->next_sys_ms = now + (int64_t)b->cfg->mqtt.sys_interval * 1000;
        }
    }
    run_inbox(w);
    lws_sul_schedule(w->ctx, 0, &t->sul, tick, TICK_US);
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
            run_inbox(li->w);
        } else if (li) { /* the epoll set of the plain TCP connections */
            brk_tcp_service(li->w);
            run_inbox(li->w);
        }
    } else if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        run_inbox(worker_of(wsi));
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

static int open_listener(const cfg_listener_t *l, char *err, size_t errlen)
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
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
        bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 4096)) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", l->host, l->port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
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

static void *worker_main(void *arg)
{
    brk_worker_t *w = arg;
    brk_pool_bind(&w->pool);
    while (!atomic_load(&w->b->stopping))
        if (lws_service(w->ctx, 0) < 0) break;
    return NULL;
}

static int worker_init(brk_worker_t *w, char *err, size_t errlen)
{
    brk_t *b = w->b;
    const cfg_t *cfg = b->cfg;
    pthread_mutex_init(&w->inbox_lock, NULL);
    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    w->thread = pthread_self(); /* until the thread exists: posts from here wake nobody */

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
    w->ctx = lws_create_context(&info);
    if (!w->ctx) {
        snprintf(err, errlen, "worker %d: cannot create the lws context", w->index);
        return -1;
    }
    w->epfd = -1;
    w->listens = calloc(cfg->n_listeners + 1, sizeof(*w->listens));
    w->listen_conns = calloc(cfg->n_listeners + 1, sizeof(*w->listen_conns));
    w->listen_base = cfg->listeners;
    if (!w->listens || !w->listen_conns) return -1;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const cfg_listener_t *l = &cfg->listeners[i];
        struct lws_context_creation_info vi;
        memset(&vi, 0, sizeof(vi));
        char name[32];
        snprintf(name, sizeof(name), "l%zu", i);
        vi.vhost_name = name;
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

/* Items still queued hold references; a call still runs (once, here). */
static void fini_items(brk_worker_t *w, brk_inbox_item_t *items, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        brk_inbox_item_t *it = &items[i];
        if (it->kind == BRK_INBOX_READY || it->kind == BRK_INBOX_RELEASE) {
            brk_session_unref(it->u.s);
        } else if (it->kind == BRK_INBOX_ACK) {
            brk_conn_unref(it->u.p->c);
            free(it->u.p);
        } else if (it->kind == BRK_INBOX_CALL) {
            brk_call_run(w, it->u.call);
        } else {
            brk_conn_unref(it->u.c);
        }
    }
}

static void worker_fini(brk_worker_t *w)
{
    for (size_t i = 0; w->listens && i <= w->b->cfg->n_listeners; i++)
        free(w->listens[i]);
    free(w->listens);
    free(w->tick);
    /* a call may post more (to any worker): take the vector out under the
     * lock until it stays empty, then close the inbox to later posts */
    for (;;) {
        pthread_mutex_lock(&w->inbox_lock);
        brk_inbox_item_t *items = w->inbox;
        uint32_t n = w->inbox_len;
        w->inbox = NULL;
        w->inbox_len = w->inbox_cap = 0;
        w->inbox_closed = !n;
        pthread_mutex_unlock(&w->inbox_lock);
        if (!n) {
            free(items);
            break;
        }
        fini_items(w, items, n);
        free(items);
    }
    free(w->inbox_spare);
    brk_matches_free(&w->matches);
    if (w->reserve_fd >= 0) close(w->reserve_fd);
}

int brk_start(brk_t *b)
{
    char err[256] = "";
    lws_set_log_level(LLL_ERR, NULL);
    for (int i = 0; i < b->n_workers; i++) {
        b->workers[i].b = b;
        b->workers[i].index = i;
        if (worker_init(&b->workers[i], err, sizeof(err))) {
            brk_log(b, BRK_LOG_ERROR, "SLUICE-START-FAIL", "%s: %s", b->cfg->source, err);
            return -1;
        }
    }
    for (int i = 0; i < b->n_workers; i++)
        if (pthread_create(&b->workers[i].thread, NULL, worker_main, &b->workers[i])) {
            brk_log(b, BRK_LOG_ERROR, "SLUICE-START-FAIL", "cannot start worker %d", i);
            return -1;
        }
    return 0;
}

/* On each worker: close its connections for the shutdown. */
static void shut_worker(brk_worker_t *w, void *arg)
{
    (void)arg;
    for (brk_conn_t *c = w->conns; c; c = c->next) {
        if (c->state >= BRK_CONN_CLOSING) continue;
        brk_session_t *s = c->session;
        if (s) {
            /* the session outlives the process: its will is not for now
             * (a server shutdown is not the client's failure) */
            pthread_mutex_lock(&s->lock);
            bool persists = s->conn == c && brk_persist_on(s);
            pthread_mutex_unlock(&s->lock);
            if (persists) c->disconnected_cleanly = true;
        }
        brk_conn_close(c, MQTT_RC_SERVER_SHUTTING_DOWN);
    }
}

uint64_t brk_shutdown(brk_t *b, int64_t timeout_ms)
{
    atomic_store(&b->draining, true);
    for (int i = 0; i < b->n_workers; i++)
        brk_worker_call(&b->workers[i], shut_worker, NULL);
    int64_t deadline = brk_now_ms() + timeout_ms;
    brk_stats_t st;
    for (;;) {
        brk_stats_collect(b, &st);
        if (!st.conns || brk_now_ms() >= deadline) return st.conns;
        usleep(5000);
    }
}

void brk_stop(brk_t *b)
{
    atomic_store(&b->stopping, true);
    for (int i = 0; i < b->n_workers; i++)
        if (b->workers[i].ctx) lws_cancel_service(b->workers[i].ctx);
    for (int i = 0; i < b->n_workers; i++)
        if (b->workers[i].ctx && !pthread_equal(b->workers[i].thread, pthread_self()))
            pthread_join(b->workers[i].thread, NULL);
    /* closing connections may post to other workers: destroy every
     * context before freeing any inbox */
    for (int i = 0; i < b->n_workers; i++)
        brk_tcp_fini(&b->workers[i]);
    for (int i = 0; i < b->n_workers; i++) {
        brk_worker_t *w = &b->workers[i];
        pthread_mutex_lock(&w->inbox_lock); /* see brk_worker_post */
        struct lws_context *ctx = w->ctx;
        w->ctx = NULL;
        pthread_mutex_unlock(&w->inbox_lock);
        if (ctx) lws_context_destroy(ctx);
    }
    /* the bridge's last completions and injections land in inboxes that
     * still exist; worker_fini drops them */
    brk_kafka_stop(b);
    for (int i = 0; i < b->n_workers; i++)
        worker_fini(&b->workers[i]);
}
