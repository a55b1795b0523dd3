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
 * event later in the same batch never names a freed connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "brk.h"

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
    c->dead = true;
    c->closing = true;
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
    if (c->dead || !c->live) return;
    uint32_t want = (c->paused || c->closing ? 0 : EPOLLIN) | (c->out_wait ? EPOLLOUT : 0);
    if (want == c->ev) return;
    struct epoll_event ev = {.events = want, .data.ptr = c};
    if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        gone(c);
    else
        c->ev = want;
}

void brk_tcp_service(brk_worker_t *w)
{
    struct epoll_event evs[EV_BATCH];
    int n = epoll_wait(w->epfd, evs, EV_BATCH, 0);
    for (int i = 0; i < n; i++) {
        brk_conn_t *c = evs[i].data.ptr;
        uint32_t e = evs[i].events;
        if (c->dead) continue;
        if ((e & EPOLLIN) && !c->closing && !c->paused) {
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
        if ((e & EPOLLOUT) && !c->dead) {
            c->out_wait = false;
            brk_conn_want_write(c);
        }
    }
}

static void reap(brk_conn_t *c)
{
    /* the peer's EOF comes after brk_conn_closed: by then the session's
     * close records are submitted to the store (a sync point for tests) */
    int fd = c->fd;
    c->fd = -1;
    brk_conn_closed(c);
    close(fd); /* leaves the epoll set with it */
}

bool brk_tcp_flush(brk_worker_t *w)
{
    brk_conn_t *list = w->dirty;
    w->dirty = NULL;
    while (list) {
        brk_conn_t *c = list;
        list = c->dirty_next;
        c->dirty_next = NULL;
        if (c->dead || brk_conn_write(c) < 0) {
            reap(c);
            continue;
        }
        brk_tcp_update(c);
    }
    return w->dirty != NULL;
}

void brk_tcp_expire(brk_conn_t *c, int64_t now)
{
    if (c->closing && !c->dead && now >= c->close_by_ms) gone(c); /* never let us write */
}

void brk_tcp_fini(brk_worker_t *w)
{
    for (brk_conn_t *c = w->conns; c; c = c->next)
        if (c->transport == BRK_TRANSPORT_RAW && !c->dead) gone(c);
    brk_tcp_flush(w);
    free(w->rxbuf);
    w->rxbuf = NULL;
}
