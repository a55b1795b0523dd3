/* fuzz_conn.c - the broker's attack surface, stateful: arbitrary bytes from up
 * to three clients into one in-process broker (two workers driven by hand,
 * no lws, no threads, no store). Each client is the far end of a socketpair
 * adopted as a plain TCP connection, so bytes take the real path: recv,
 * brk_conn_feed, decode, dispatch, handlers, routing, inbox hand-offs
 * (takeover), writes. Input: records of u8 op | u8 len | len bytes; (op & 0x3f) % 3
 * picks the client (clients 0 and 2 live on worker 0, 1 on worker 1),
 * op & 0x80 hangs it up, else the bytes are sent as one read (so packets
 * arrive split); op & 0x40 leaves them unread in the socket for now, as a
 * busy worker would (what a takeover finds there is handled by
 * brk_conn_kill). */
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "brk.h"

static const char json[] = "{\"workers\": 2, \"log\": {\"level\": \"error\"}}";
enum { N = 3 };

/* Worker `ready` (-1: none) reads its sockets; then both run their inboxes. */
static void pass(brk_t *b, int *peer, int ready)
{
    uint8_t sink[4096];
    if (ready >= 0) brk_tcp_service(&b->workers[ready]); /* reads, hang-ups */
    for (int i = 0; i < 2; i++)
        brk_worker_run_inbox(&b->workers[i]);
    for (int i = 0; i < N; i++) { /* read what the broker sent, so it never blocks */
        ssize_t r = 1;
        while (peer[i] >= 0 && (r = recv(peer[i], sink, sizeof sink, MSG_DONTWAIT)) > 0) {
        }
        if (r == 0) { /* the broker closed it: the next record on this slot reconnects */
            close(peer[i]);
            peer[i] = -1;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cfg_t *cfg;
    char err[256];
    if (!cfg && cfg_parse("fuzz", json, sizeof json - 1, &cfg, err, sizeof err)) __builtin_trap();
    brk_t *b = brk_new(cfg);
    for (int i = 0; i < 2; i++) { /* what worker_init does, minus lws */
        brk_worker_t *w = &b->workers[i];
        w->b = b;
        w->index = i;
        w->thread = pthread_self();
        pthread_mutex_init(&w->inbox_lock, NULL);
        if (brk_tcp_init(w)) __builtin_trap();
    }
    int peer[N] = {-1, -1, -1}, sv[2];
    while (size >= 2) {
        int op = data[0], k = (op & 0x3f) % N;
        size_t n = data[1] < size - 2 ? data[1] : size - 2;
        if (peer[k] < 0 && !(op & 0x80) &&
            !socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) {
            brk_tcp_adopt(&b->workers[k % 2], sv[0], NULL);
            peer[k] = sv[1];
        }
        if (peer[k] >= 0 && (op & 0x80)) {
            close(peer[k]); /* the client goes away without DISCONNECT */
            peer[k] = -1;
        } else if (peer[k] >= 0 && n) {
            send(peer[k], data + 2, n, MSG_NOSIGNAL);
        }
        pass(b, peer, (op & 0x40) ? -1 : k % 2);
        data += 2 + n;
        size -= 2 + n;
    }
    brk_stop(b); /* closes every connection, drops what inboxes still hold */
    for (int i = 0; i < N; i++)
        if (peer[i] >= 0) close(peer[i]);
    for (int i = 0; i < 2; i++)
        close(b->workers[i].epfd);
    brk_free(b);
    return 0;
}
