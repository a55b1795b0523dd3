/*
 * worker.c - one I/O thread: its connections, its inbox, its tick, and the
 * broker's start and stop. The event loop it runs in (the lws context, the
 * listening sockets, the timer) is lws_loop.c's; the connections lws
 * carries (TLS, WebSocket, HTTP) are lws_conn.c's; plain TCP is tcp.c's.
 * This file includes no libwebsockets header.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brk.h"
#include "cluster.h"
#include "worker_call.h"
#include "grow.h"

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
    if (w->inbox_len == 1 && !atomic_load(&w->b->stopping) &&
        !pthread_equal(pthread_self(), w->thread))
        brk_loop_wake(w);
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
 * TCP connections (which may produce more of both), then the store barrier
 * of the pass's acknowledgements. */
static void run_inbox(brk_worker_t *w)
{
    for (int rounds = 0; rounds < 8; rounds++) {
        bool items = inbox_once(w);
        bool again = brk_tcp_flush(w);
        /* last, after every write of the pass: the barrier its acks wait on */
        if (!items && !again && !brk_store_wait_flush(w)) return;
    }
    brk_store_wait_flush(w);
    brk_loop_wake(w); /* more arrived meanwhile: come back soon */
}

/* Test seam for tests/fuzz/fuzz_conn.c, which drives workers without lws or
 * threads (ctx NULL): the end-of-event pass, inbox then TCP writes. */
void brk_worker_run_inbox(brk_worker_t *w)
{
    run_inbox(w);
}

void brk_worker_tick(brk_worker_t *w)
{
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
        if (!c->connected && now - c->last_rx_ms > BRK_CONNECT_TIMEOUT_MS) {
            brk_log(b, BRK_LOG_INFO, "SLUICE-CONNECT-TIMEOUT",
                    "%s: no CONNECT within %d ms: closed", c->peer, BRK_CONNECT_TIMEOUT_MS);
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
}

static void *worker_main(void *arg)
{
    brk_worker_t *w = arg;
    brk_pool_bind(&w->pool);
    brk_loop_run(w);
    return NULL;
}

static int worker_init(brk_worker_t *w, char *err, size_t errlen)
{
    const cfg_t *cfg = w->b->cfg;
    pthread_mutex_init(&w->inbox_lock, NULL);
    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    w->thread = pthread_self(); /* until the thread exists: posts from here wake nobody */
    w->epfd = -1;
    w->listen_conns = calloc(cfg->n_listeners + 1, sizeof(*w->listen_conns));
    w->listen_base = cfg->listeners;
    if (!w->listen_conns) return -1;
    return brk_loop_init(w, err, errlen);
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
    brk_loop_fini(w);
    brk_store_wait_flush(w); /* normally none: every pass ends with it */
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
    brk_loop_global_init();
    if (brk_loop_probe(b->cfg, err, sizeof(err))) {
        brk_log(b, BRK_LOG_ERROR, "SLUICE-START-FAIL", "%s: %s", b->cfg->source, err);
        return -1;
    }
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
        brk_loop_wake(&b->workers[i]);
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
        brk_loop_destroy(ctx);
    }
    /* the bridge's last completions and injections land in inboxes that
     * still exist; worker_fini drops them */
    brk_kafka_stop(b);
    brk_cluster_stop(b);
    for (int i = 0; i < b->n_workers; i++)
        worker_fini(&b->workers[i]);
}
