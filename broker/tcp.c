/*
 * tcp.c - plain TCP connections on the worker's own epoll.
 *
 * libwebsockets keeps a `struct lws` and its allocations for every socket
 * it serves, about 1.3 KB: more than everything else an idle connection
 * costs. Plain MQTT over TCP needs none of it, so those sockets live on an
 * epoll set of the worker's own; the epoll descriptor itself is one raw
 * file in the worker's lws loop, so one thread still waits on everything.
 *
 *   lws poll ── epfd readable ──► brk_tcp_service: one epoll batch,
 *                                  recv -> brk_conn_feed per ready socket
 *   anything that queued output ──► c on w->dirty (brk_conn_want_write)
 *   end of every pass (run_inbox) ► brk_tcp_flush: one send() per dirty
 *                                  connection; socket full -> EPOLLOUT
 *
 * Close marks, flush reaps: a connection is only closed and handed to
 * brk_conn_closed() by brk_tcp_flush, after a whole epoll batch, so an
 * event later in the same batch never names a freed connection. Once its
 * last byte is written the socket is half-closed and drained for a short
 * grace (linger) instead of closed with unread input, so that the peer
 * reads the reason code before the connection goes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker.h"

#define RX_SIZE 65536 /* one read per ready socket per pass, as lws does */
#define EV_BATCH 256

int brk_tcp_init(brk_worker_t *w)
{
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->rxbuf = malloc(RX_SIZE);
    return w->epfd >= 0 && w->rxbuf ? 0 : -1;
}

/* Close without writing (peer gone, error): the flush reaps it. */
static void gone(brk_conn_t *c)
{
    if (c->state < BRK_CONN_DEAD) c->state = BRK_CONN_DEAD;
    brk_conn_want_write(c);
}

void brk_tcp_adopt(brk_worker_t *w, int fd, const cfg_listener_t *l)
{
    brk_conn_t *c = brk_conn_new(w, NULL, fd, BRK_TRANSPORT_RAW, l);
    if (!c) {
        close(fd);
        return;
    }
    c->ev = EPOLLIN;
    struct epoll_event ev = {.events = c->ev, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        c->ev = 0;
        gone(c);
    }
}

void brk_tcp_update(brk_conn_t *c)
{
    if (c->state >= BRK_CONN_DEAD || c->fd < 0) return;
    uint32_t want =
        (c->paused || c->state >= BRK_CONN_CLOSING ? 0 : EPOLLIN) | (c->out_wait ? EPOLLOUT : 0);
    if (want == c->ev) return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        gone(c);
    else
        c->ev = want;
}

/* The end of a half-closed socket: the last reference goes with it. */
static void linger_end(brk_conn_t *c)
{
    brk_worker_t *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->linger_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        w->linger_tail = c->prev;
    close(c->fd);
    c->fd = -1;
    brk_conn_unref(c);
}

/* Half-close a connection whose output is all written and keep reading
 * (and discarding) its input until the peer closes or the grace ends. The
 * MQTT connection ends now (brk_conn_closed: session, will); only the
 * socket and a reference to the struct stay. False: close at once. */
static bool linger(brk_conn_t *c)
{
    brk_worker_t *w = c->w;
    if (c->state >= BRK_CONN_DEAD || c->out_len != c->out_off || shutdown(c->fd, SHUT_WR) < 0)
        return false;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) return false;
    c->ev = ev.events;
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
    brk_conn_closed(c); /* unlinks c from w->conns: next/prev are ours now */
    c->state = BRK_CONN_LINGER;
    c->linger_left = BRK_LINGER_BYTES;
    c->close_by_ms = brk_now_ms() + BRK_LINGER_MS;
    c->next = NULL;
    c->prev = w->linger_tail; /* same grace for all: the list stays in deadline order */
    if (w->linger_tail)
        w->linger_tail->next = c;
    else
        w->linger_head = c;
    w->linger_tail = c;
    return true;
}

/* Input of a half-closed socket: discarded; EOF, an error or too much ends it. */
static void linger_read(brk_conn_t *c, uint8_t *buf)
{
    ssize_t r = recv(c->fd, buf, RX_SIZE, MSG_DONTWAIT);
    if (r > 0 && (size_t)r < c->linger_left) {
        c->linger_left -= (uint32_t)r;
        return;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    linger_end(c);
}

static void reap(brk_conn_t *c)
{
    if (linger(c)) return;
    /* the peer's EOF comes after brk_conn_closed: by then the session's
     * close records are submitted to the store (a sync point for tests) */
    int fd = c->fd;
    c->fd = -1;
    brk_conn_closed(c);
    close(fd); /* leaves the epoll set with it */
}

void brk_tcp_service(brk_worker_t *w)
{
    struct epoll_event evs[EV_BATCH];
    int n = epoll_wait(w->epfd, evs, EV_BATCH, 0);
    for (int i = 0; i < n; i++) {
        brk_conn_t *c = evs[i].data.ptr;
        uint32_t e = evs[i].events;
        if (c->state == BRK_CONN_LINGER) {
            linger_read(c, w->rxbuf);
            continue;
        }
        if (c->state >= BRK_CONN_DEAD) continue;
        if ((e & EPOLLIN) && c->state == BRK_CONN_OPEN && !c->paused) {
            ssize_t r = recv(c->fd, w->rxbuf, RX_SIZE, MSG_DONTWAIT);
            if (r > 0) {
                if (brk_conn_feed(c, w->rxbuf, (size_t)r) < 0) gone(c);
            } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                gone(c); /* the peer went away: its will is published */
            }
        } else if (e & (EPOLLHUP | EPOLLERR)) {
            gone(c); /* reported even when nothing is registered */
            continue;
        }
        if ((e & EPOLLOUT) && c->state < BRK_CONN_DEAD) {
            c->out_wait = false;
            brk_conn_want_write(c);
        }
    }
}

bool brk_tcp_flush(brk_worker_t *w)
{
    if (w->linger_head) { /* the tick comes here at least every 250 ms */
        int64_t now = brk_now_ms();
        while (w->linger_head && now >= w->linger_head->close_by_ms)
            linger_end(w->linger_head);
    }
    brk_conn_t *list = w->dirty;
    w->dirty = NULL;
    while (list) {
        brk_conn_t *c = list;
        list = c->dirty_next;
        c->dirty_next = NULL;
        if (c->state >= BRK_CONN_DEAD || brk_conn_write(c) < 0) {
            reap(c);
            continue;
        }
        brk_tcp_update(c);
    }
    return w->dirty != NULL;
}

void brk_tcp_expire(brk_conn_t *c, int64_t now)
{
    if (c->state == BRK_CONN_CLOSING && now >= c->close_by_ms) gone(c); /* never let us write */
}

void brk_tcp_fini(brk_worker_t *w)
{
    for (brk_conn_t *c = w->conns; c; c = c->next)
        if (c->transport == BRK_TRANSPORT_RAW && c->state < BRK_CONN_DEAD) gone(c);
    brk_tcp_flush(w);
    while (w->linger_head)
        linger_end(w->linger_head);
    free(w->rxbuf);
    w->rxbuf = NULL;
}

/* ---- the transport table (conn.h) ---- */

static long tcp_write(brk_conn_t *c, const uint8_t *p, size_t n)
{
    ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
    if (r < 0) r = 0;
    if ((size_t)r < n) c->out_wait = true; /* socket full: EPOLLOUT brings it back */
    return (long)r;
}

static void tcp_want_write(brk_conn_t *c)
{
    if (c->out_wait && c->state < BRK_CONN_DEAD) return; /* EPOLLOUT brings it back */
    c->want_write = true;
    c->dirty_next = c->w->dirty;
    c->w->dirty = c;
}

static void tcp_rx_flow(brk_conn_t *c, bool on)
{
    (void)on; /* the registered events follow paused / closing */
    brk_tcp_update(c);
}

static void tcp_close_after_flush(brk_conn_t *c)
{
    c->close_by_ms = brk_now_ms() + BRK_CLOSE_GRACE_MS; /* brk_tcp_expire */
    brk_conn_want_write(c);
}

const brk_stream_ops_t brk_tcp_ops = {
    .write = tcp_write,
    .want_write = tcp_want_write,
    .rx_flow = tcp_rx_flow,
    .close_after_flush = tcp_close_after_flush,
    .tls = NULL, /* no TLS */
    .headroom = 0,
};
