/* The publishers' side of a worker: encoding PUBLISH packets as fast as
 * rate, in-flight limit, end-to-end window and output buffer allow. Runs on
 * the worker thread that owns the connections (bench_conn.c). */
#include <string.h>

#include "bench.h"

#define OUT_SOFT (64u * 1024) /* a publisher stops encoding above this */
#define PUMP_MAX 1024         /* messages per publisher per loop iteration */
#define PUMP_SLICE 256        /* messages, all publishers, per loop iteration */

/* Encodes as many PUBLISH packets as rate, window and buffer allow, then
 * sends them in one write. Returns true when it could send more at once. */
static bool pub_pump(struct worker *w, struct conn *c, uint64_t now)
{
    const struct bench *b = w->b;
    const struct bench_opts *o = &b->o;
    if (c->st != CS_READY || c->blocked) return false;
    uint64_t budget = PUMP_MAX;
    if (o->rate > 0) {
        double due = (double)(now - w->t0) * b->pub_rate_ns;
        if (due <= (double)c->seq) return false;
        if (due - (double)c->seq < (double)budget) budget = (uint64_t)(due - (double)c->seq) + 1;
    }
    if (o->qos) {
        int avail = c->max_inflight - c->inflight;
        if (avail <= 0) return false;
        if ((uint64_t)avail < budget) budget = (uint64_t)avail;
    }
    if (o->window > 0) {
        /* End-to-end window: kernel buffers on loopback grow to megabytes
         * and a broker may ack QoS 1 long before it delivers, so neither
         * "socket writable" nor the in-flight limit stops a backlog of
         * seconds from building up. Deliveries are counted per worker; a
         * window that does not move for 500 ms is assumed dropped and
         * reopened. In the bridge scenario the Kafka reader counts. */
        uint64_t echo = 0;
        for (int i = 0; i < b->echo_rows; i++)
            echo += atomic_load_explicit(
                &b->echo[(size_t)i * (size_t)b->npubs + (size_t)c->pub_idx], memory_order_relaxed);
        echo /= b->factor ? b->factor : 1; /* messages delivered to everyone */
        if (echo != c->echo_seen) {
            c->echo_seen = echo;
            c->win_progress = now;
        }
        uint64_t base = echo > c->win_base ? echo : c->win_base;
        uint64_t win = (uint64_t)o->window / (uint64_t)b->npubs / (b->factor ? b->factor : 1);
        if (win == 0) win = 1;
        if (c->seq >= base + win) {
            if (now - c->win_progress < 500000000ull) return false;
            c->win_base = c->seq;
            c->win_progress = now;
            base = c->seq;
        }
        uint64_t avail = base + win - c->seq;
        if (avail < budget) budget = avail;
    }
    struct buf *ob = bench_conn_obuf(c);
    size_t pend = bench_buf_used(ob) + bench_buf_used(&c->out);
    uint64_t n = 0;
    bool in_win = now >= w->warm_end;
    if (in_win && !c->win_started) {
        c->win_started = true;
        c->win_lo = c->seq;
    }
    while (n < budget && pend < OUT_SOFT) {
        uint8_t *d = bench_conn_reserve(c, c->tpl_len);
        if (!d) return false;
        memcpy(d, c->tpl, c->tpl_len);
        if (o->qos) {
            uint16_t pid = c->next_pid++;
            if (c->next_pid == 0) c->next_pid = 1;
            d[c->tpl_pid_off] = (uint8_t)(pid >> 8);
            d[c->tpl_pid_off + 1] = (uint8_t)pid;
            c->inflight++;
        }
        memcpy(d + c->tpl_pay_off, &now, 8);
        uint64_t tag = (uint64_t)c->pub_idx << TAG_SEQ_BITS | (c->seq & TAG_SEQ_MASK);
        memcpy(d + c->tpl_pay_off + 8, &tag, 8);
        ob->len += c->tpl_len;
        pend += c->tpl_len;
        c->seq++;
        n++;
    }
    w->sent_all += n;
    if (in_win) {
        w->sent_win += n;
        c->win_hi = c->seq;
    }
    if (n) bench_conn_flush(c, now);
    return o->rate <= 0 && n > 0 && c->st == CS_READY && !c->blocked &&
           (!o->qos || c->inflight < c->max_inflight);
}

/* Pumps publishers round robin until PUMP_SLICE messages are out or each
 * had its turn. A short loop iteration keeps this thread's subscribers
 * reading, and acknowledging, often: a broker's in-flight window to a
 * subscriber waits for those PUBACKs, so 1,000 publishers pumped in one go
 * would make a subscriber on the same thread look slow (one round trip per
 * ~100 ms) and blame the broker for it. true: call again without waiting. */
bool bench_pub_slice(struct worker *w, uint64_t now)
{
    bool active = false;
    uint64_t start = w->sent_all;
    int i = 0;
    for (; i < w->npubs && w->sent_all - start < PUMP_SLICE; i++) {
        struct conn *c = w->pubs[w->pump_next];
        w->pump_next = (w->pump_next + 1) % w->npubs;
        active |= pub_pump(w, c, now);
    }
    return active || i < w->npubs;
}
