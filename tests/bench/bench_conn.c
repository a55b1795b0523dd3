/* The worker: one epoll loop over non-blocking sockets. Reads come in large
 * chunks and are parsed into as many packets as they hold; everything a
 * connection has to say in one loop iteration goes out in one send(). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define BUF_MAX (64u << 20) /* a connection buffering more than this is broken */
#define READS_PER_EVENT 8
#define NEVENTS 512

uint64_t bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int buf_reserve(struct buf *b, size_t n)
{
    if (b->off == b->len) b->off = b->len = 0;
    if (b->cap - b->len >= n) return 0;
    if (b->off) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n) return 0;
    }
    size_t nc = b->cap ? b->cap : 256;
    while (nc - b->len < n)
        nc *= 2;
    if (nc > BUF_MAX) return -1;
    uint8_t *p = realloc(b->p, nc);
    if (!p) return -1;
    b->p = p;
    b->cap = nc;
    return 0;
}

size_t bench_buf_used(const struct buf *b)
{
    return b->len - b->off;
}

static void conn_fail(struct conn *c, const char *why, int err)
{
    if (c->st == CS_CLOSED) return;
    struct worker *w = c->w;
    if (w->errors < 5 && !w->b->o.quiet)
        fprintf(stderr, "sluice-bench: connection %d: %s%s%s\n", c->idx, why, err ? ": " : "",
                err ? strerror(err) : "");
    w->errors++;
    atomic_fetch_add_explicit(&w->a_failed, 1, memory_order_relaxed);
    if (c->st != CS_READY) w->pending--;
    bench_tls_free(c);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->st = CS_CLOSED;
    c->inflight = 0;
}

static void conn_epout(struct conn *c, bool on)
{
    if (c->epout == on) return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->epout = on;
}

/* Where MQTT bytes go: straight to the wire, or to the WebSocket stage. */
struct buf *bench_conn_obuf(struct conn *c)
{
    return c->w->b->o.ws && c->st >= CS_CONNACK ? &c->stage : &c->out;
}

uint8_t *bench_conn_reserve(struct conn *c, size_t n)
{
    struct buf *b = bench_conn_obuf(c);
    if (buf_reserve(b, n) < 0) {
        conn_fail(c, "output buffer limit", 0);
        return NULL;
    }
    return b->p + b->len;
}

static uint32_t conn_rand(struct conn *c)
{
    uint32_t x = c->rng ? c->rng : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return c->rng = x;
}

static int ws_wrap(struct conn *c, int op, const uint8_t *p, size_t n)
{
    if (buf_reserve(&c->out, n + 14) < 0) return -1;
    uint32_t r = conn_rand(c);
    uint8_t mask[4];
    memcpy(mask, &r, 4);
    uint8_t *d = c->out.p + c->out.len;
    size_t h = ws_frame_header(d, op, n, mask);
    memcpy(d + h, p, n);
    ws_mask(d + h, n, mask);
    c->out.len += h + n;
    return 0;
}

/* Sends what is pending; on a short write waits for EPOLLOUT. -1: closed. */
int bench_conn_flush(struct conn *c, uint64_t now)
{
    if (c->st == CS_CLOSED) return -1;
    if (bench_buf_used(&c->stage)) {
        if (ws_wrap(c, 2, c->stage.p + c->stage.off, bench_buf_used(&c->stage)) < 0) {
            conn_fail(c, "output buffer limit", 0);
            return -1;
        }
        c->stage.off = c->stage.len = 0;
    }
    while (bench_buf_used(&c->out)) {
        size_t want = bench_buf_used(&c->out);
        ssize_t r = bench_io_send(c, c->out.p + c->out.off, want);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && errno != EAGAIN) {
            conn_fail(c, "send", errno);
            return -1;
        }
        if (r > 0) c->out.off += (size_t)r;
        if (r < 0 || (size_t)r < want) {
            c->blocked = true;
            conn_epout(c, true);
            return 0;
        }
    }
    c->out.off = c->out.len = 0;
    c->blocked = false;
    c->last_tx = now;
    conn_epout(c, false);
    return 0;
}

static void conn_send_connect(struct conn *c)
{
    const struct bench_opts *o = &c->w->b->o;
    char cid[48];
    snprintf(cid, sizeof(cid), "sb%d-%d", (int)getpid(), c->idx);
    uint8_t *d = bench_conn_reserve(c, 512); /* --user / --pass: at most 200 bytes each */
    if (d)
        bench_conn_obuf(c)->len +=
            mq_connect(d, 512, cid, o->keepalive, o->v5, o->persistent, o->user, o->pass);
}

static void conn_start(struct worker *w, struct conn *c, uint64_t now)
{
    const struct bench_opts *o = &w->b->o;
    w->pending++;
    if (!w->setup_first) w->setup_first = now;
    c->st = CS_TCP;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, "socket", errno);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (o->src_first) {
        /* Let connect() pick the port per 4-tuple, so each source address
         * gives a full ephemeral range. */
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        struct sockaddr_in src = {.sin_family = AF_INET};
        uint32_t span = o->src_last - o->src_first + 1;
        src.sin_addr.s_addr = htonl(o->src_first + (uint32_t)c->idx % span);
        if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            conn_fail(c, "bind", errno);
            return;
        }
    }
    /* Subscribers may live on another node (--sub-host / --sub-port). */
    bool sub = c->role == ROLE_SUB;
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)(sub ? o->sub_port : o->port))};
    dst.sin_addr.s_addr = sub ? o->sub_host_ip : o->host_ip;
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        conn_fail(c, "connect", errno);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        conn_fail(c, "epoll_ctl", errno);
        return;
    }
    c->epout = true;
}

static void conn_session(struct conn *c, uint64_t now);

static void conn_tls_step(struct conn *c, uint64_t now)
{
    bool want_write = false;
    int r = bench_tls_handshake(c, &want_write);
    if (r < 0) {
        conn_fail(c, "TLS handshake", 0);
    } else if (r == 0) {
        conn_epout(c, want_write);
    } else {
        conn_epout(c, false);
        conn_session(c, now);
    }
}

static void conn_connected(struct conn *c, uint64_t now)
{
    const struct bench_opts *o = &c->w->b->o;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        conn_fail(c, "connect", err);
        return;
    }
    if (o->tls) {
        if (bench_tls_start(c) < 0) {
            conn_fail(c, "TLS setup", 0);
            return;
        }
        c->st = CS_TLS;
        conn_tls_step(c, now);
        return;
    }
    conn_session(c, now);
}

/* TCP (and TLS) up: the WebSocket upgrade or the CONNECT. */
static void conn_session(struct conn *c, uint64_t now)
{
    const struct bench_opts *o = &c->w->b->o;
    if (o->ws) {
        if (buf_reserve(&c->out, 512) < 0) {
            conn_fail(c, "out of memory", 0);
            return;
        }
        bool sub = c->role == ROLE_SUB;
        c->out.len += ws_request((char *)c->out.p + c->out.len, 512, sub ? o->sub_host : o->host,
                                 sub ? o->sub_port : o->port, o->ws_path, conn_rand(c));
        c->st = CS_WS;
    } else {
        c->st = CS_CONNACK;
        conn_send_connect(c);
    }
    bench_conn_flush(c, now);
}

static void conn_ready(struct conn *c, uint64_t now)
{
    struct worker *w = c->w;
    c->st = CS_READY;
    w->pending--;
    w->ready++;
    w->setup_last = now;
}

static void conn_append_ack(struct conn *c, int type, uint16_t pid)
{
    uint8_t *d = bench_conn_reserve(c, 4);
    if (d) bench_conn_obuf(c)->len += mq_ack(d, 4, type, pid);
}

static void on_publish(struct conn *c, const struct mq_pkt *p, uint64_t now)
{
    struct worker *w = c->w;
    w->recv_all++;
    /* Marked in every phase: a window message may arrive before this worker
     * has seen PH_RUN; the window counters below stay 0 until it has. */
    if (p->plen >= 16) {
        uint64_t ts, tag;
        memcpy(&ts, p->payload, 8);
        memcpy(&tag, p->payload + 8, 8);
        if (bench_rx_mark(c, tag)) {
            /* Throughput counts first deliveries only: a duplicate is no
             * message delivered. */
            if (now >= w->warm_end && now < w->meas_end) w->recv_win++;
            uint64_t k = tag >> TAG_SEQ_BITS;
            /* single writer per slot: this worker */
            _Atomic uint64_t *e = &w->b->echo[(size_t)w->id * (size_t)w->b->npubs + k];
            atomic_store_explicit(e, atomic_load_explicit(e, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
            if (ts >= w->warm_end && ts < w->meas_end) {
                w->recv_match++;
                bench_hist_record(&w->hist, now > ts ? now - ts : 0);
            }
        }
    } else {
        w->foreign++;
    }
    if (p->qos == 1)
        conn_append_ack(c, MQ_PUBACK, p->pid);
    else if (p->qos == 2)
        conn_append_ack(c, MQ_PUBREC, p->pid);
}

static void on_acked(struct conn *c, uint16_t pid, uint64_t now)
{
    struct worker *w = c->w;
    int64_t seq = bench_ack_seq(c, pid);
    if (seq < 0 || seqmap_test_set(&c->acked, (uint64_t)seq)) {
        /* An ack for nothing outstanding: the broker's fault, counted. */
        w->bad_acks++;
        return;
    }
    if (c->inflight > 0) c->inflight--;
    if (now >= w->warm_end && now < w->meas_end) w->acked_win++;
}

static void on_packet(struct conn *c, const struct mq_pkt *p, uint64_t now)
{
    const struct bench_opts *o = &c->w->b->o;
    char why[64];
    switch (p->type) {
    case MQ_CONNACK:
        if (c->st != CS_CONNACK) {
            conn_fail(c, "unexpected CONNACK", 0);
            return;
        }
        if (p->rc) {
            snprintf(why, sizeof(why), "CONNACK refused, code %u", p->rc);
            {
                conn_fail(c, why, 0);
                return;
            }
        }
        c->max_inflight = o->inflight;
        if (p->recv_max && p->recv_max < c->max_inflight) c->max_inflight = p->recv_max;
        if (c->role == ROLE_SUB) {
            uint8_t *d = bench_conn_reserve(c, 256);
            if (!d) return;
            bench_conn_obuf(c)->len += mq_subscribe(d, 256, 1, c->topic, o->qos, o->v5);
            c->st = CS_SUBACK;
        } else {
            conn_ready(c, now);
        }
        return;
    case MQ_SUBACK:
        if (c->st != CS_SUBACK) {
            conn_fail(c, "unexpected SUBACK", 0);
            return;
        }
        if (p->rc >= 0x80) {
            snprintf(why, sizeof(why), "SUBSCRIBE refused, code %u", p->rc);
            {
                conn_fail(c, why, 0);
                return;
            }
        }
        conn_ready(c, now);
        return;
    case MQ_PUBLISH: {
        on_publish(c, p, now);
        return;
    }
    case MQ_PUBACK:
    case MQ_PUBCOMP: {
        on_acked(c, p->pid, now);
        return;
    }
    case MQ_PUBREC: {
        conn_append_ack(c, MQ_PUBREL, p->pid);
        return;
    }
    case MQ_PUBREL: {
        conn_append_ack(c, MQ_PUBCOMP, p->pid);
        return;
    }
    case MQ_PINGRESP:
        return;
    case MQ_DISCONNECT:
        snprintf(why, sizeof(why), "DISCONNECT from broker, reason %u", p->rc);
        {
            conn_fail(c, why, 0);
            return;
        }
    default: {
        conn_fail(c, "unexpected packet", 0);
        return;
    }
    }
}

/* Unwraps WebSocket frames from c->in into c->ws. -1: failed. */
static int conn_unframe(struct conn *c)
{
    for (;;) {
        struct ws_frame f;
        long r = ws_parse(c->in.p + c->in.off, bench_buf_used(&c->in), &f);
        if (r == 0) return 0;
        if (r < 0) {
            conn_fail(c, "malformed WebSocket frame", 0);
            return -1;
        }
        c->in.off += (size_t)r;
        if (f.op == 0 || f.op == 2 || f.op == 1) {
            if (buf_reserve(&c->ws, f.len) < 0) {
                conn_fail(c, "input buffer limit", 0);
                return -1;
            }
            memcpy(c->ws.p + c->ws.len, f.payload, f.len);
            c->ws.len += f.len;
        } else if (f.op == 8) {
            conn_fail(c, "WebSocket close from broker", 0);
            return -1;
        } else if (f.op == 9) {
            if (ws_wrap(c, 10, f.payload, f.len) < 0) {
                conn_fail(c, "output buffer limit", 0);
                return -1;
            }
        }
    }
}

static void conn_process(struct conn *c, uint64_t now)
{
    const struct bench_opts *o = &c->w->b->o;
    if (c->st == CS_WS) {
        size_t used;
        int r = ws_response(c->in.p + c->in.off, bench_buf_used(&c->in), &used);
        if (r == 0) return;
        if (r < 0) {
            conn_fail(c, "WebSocket upgrade refused", 0);
            return;
        }
        c->in.off += used;
        c->st = CS_CONNACK;
        conn_send_connect(c);
    }
    struct buf *src = &c->in;
    if (o->ws) {
        if (conn_unframe(c) < 0) return;
        src = &c->ws;
    }
    while (c->st != CS_CLOSED && bench_buf_used(src)) {
        struct mq_pkt p;
        long r = mq_parse(src->p + src->off, bench_buf_used(src), o->v5, &p);
        if (r == 0) break;
        if (r < 0) {
            conn_fail(c, "malformed MQTT packet", 0);
            return;
        }
        src->off += (size_t)r;
        on_packet(c, &p, now);
    }
}

static void conn_readable(struct conn *c, uint64_t now)
{
    const struct bench_opts *o = &c->w->b->o;
    for (int k = 0; k < READS_PER_EVENT && c->st != CS_CLOSED; k++) {
        if (!c->in.cap && buf_reserve(&c->in, o->rbuf) < 0) {
            conn_fail(c, "out of memory", 0);
            return;
        }
        if (buf_reserve(&c->in, c->in.cap / 4) < 0) {
            conn_fail(c, "input buffer limit", 0);
            return;
        }
        size_t space = c->in.cap - c->in.len;
        ssize_t r = bench_io_recv(c, c->in.p + c->in.len, space);
        if (r == 0) {
            if (c->w->seen_phase < PH_QUIT) conn_fail(c, "closed by broker", 0);
            return;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) conn_fail(c, "recv", errno);
            break;
        }
        c->in.len += (size_t)r;
        conn_process(c, now);
        /* TLS hands out one record per read: go on while records come. */
        if ((size_t)r < space && !c->ssl) break;
    }
    if (c->st != CS_CLOSED && (bench_buf_used(&c->out) || bench_buf_used(&c->stage)) && !c->blocked)
        bench_conn_flush(c, now);
}

static void conn_pings(struct worker *w, uint64_t now)
{
    const struct bench_opts *o = &w->b->o;
    uint64_t idle = (uint64_t)o->keepalive * 500000000ull; /* keepalive / 2 */
    if (!idle) return;
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = w->conns[i];
        if (c->st != CS_READY || c->blocked || now - c->last_tx < idle) continue;
        uint8_t *d = bench_conn_reserve(c, 2);
        if (d) {
            bench_conn_obuf(c)->len += mq_simple(d, 2, MQ_PINGREQ);
            bench_conn_flush(c, now);
        }
    }
}

static void worker_snapshot(struct worker *w)
{
    uint64_t inflight = 0, outq = 0;
    for (int i = 0; i < w->npubs; i++) {
        inflight += (uint64_t)w->pubs[i]->inflight;
        outq += bench_buf_used(&w->pubs[i]->out) + bench_buf_used(&w->pubs[i]->stage);
    }
    atomic_store_explicit(&w->a_sent_win, w->sent_win, memory_order_relaxed);
    atomic_store_explicit(&w->a_recv_all, w->recv_all, memory_order_relaxed);
    atomic_store_explicit(&w->a_recv_match, w->recv_match, memory_order_relaxed);
    atomic_store_explicit(&w->a_inflight, inflight, memory_order_relaxed);
    atomic_store_explicit(&w->a_outq, outq, memory_order_relaxed);
    atomic_store_explicit(&w->a_ready, w->ready, memory_order_relaxed);
}

/* Best effort: a DISCONNECT each, then close. The broker is told goodbye
 * so that its numbers are not inflated by abnormal-close handling. */
static void worker_close_all(struct worker *w)
{
    uint64_t now = bench_now();
    for (int i = 0; i < w->nconns; i++) {
        struct conn *c = w->conns[i];
        if (c->st == CS_READY) {
            uint8_t *d = bench_conn_reserve(c, 2);
            if (d) {
                bench_conn_obuf(c)->len += mq_simple(d, 2, MQ_DISCONNECT);
                bench_conn_flush(c, now);
            }
        }
        bench_tls_free(c);
        if (c->fd >= 0) close(c->fd);
        c->fd = -1;
        if (c->st != CS_CLOSED) c->st = CS_CLOSED;
        free(c->in.p);
        free(c->ws.p);
        free(c->out.p);
        free(c->stage.p);
        c->in = c->ws = c->out = c->stage = (struct buf){0};
        /* rx and acked stay: the main thread tallies loss from them. */
    }
}

void *bench_worker_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    const struct bench_opts *o = &b->o;
    struct epoll_event ev[NEVENTS];
    uint64_t next_tick = 0;
    for (;;) {
        int ph = atomic_load_explicit(&b->phase, memory_order_acquire);
        if (ph >= PH_RUN && w->seen_phase < PH_RUN) {
            w->t0 = b->t0;
            w->warm_end = b->warm_end;
            w->meas_end = b->meas_end;
        }
        w->seen_phase = ph;
        if (ph == PH_QUIT) break;
        uint64_t now = bench_now();
        while (w->pending < o->connect_window && w->next_connect < w->nconns)
            conn_start(w, w->conns[w->next_connect++], now);
        bool active = ph == PH_RUN && now < w->meas_end && w->npubs && bench_pub_slice(w, now);
        int n = epoll_wait(w->ep, ev, NEVENTS, active ? 0 : 1);
        now = bench_now();
        for (int i = 0; i < n; i++) {
            struct conn *c = ev[i].data.ptr;
            if (c->st == CS_CLOSED) continue;
            if (c->st == CS_TLS) {
                conn_tls_step(c, now);
                continue;
            }
            if (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                if (c->st == CS_TCP)
                    conn_connected(c, now);
                else if (ev[i].events & EPOLLOUT)
                    bench_conn_flush(c, now);
            }
            if (c->st != CS_CLOSED && c->st != CS_TCP &&
                (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                conn_readable(c, now);
        }
        if (now >= next_tick) {
            next_tick = now + 1000000000ull;
            conn_pings(w, now);
        }
        worker_snapshot(w);
    }
    worker_close_all(w);
    atomic_store_explicit(&w->a_done, 1, memory_order_release);
    return NULL;
}
