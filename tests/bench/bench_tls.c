/* TLS for the generator's connections (--tls), with OpenSSL: the same
 * byte stream as plain TCP, wrapped. One client SSL_CTX for the run (read
 * by every worker, never changed after bench_tls_init); one SSL per
 * connection, owned by its worker. No session resumption: every
 * connection pays a full handshake, which is what the setup rate of the
 * mqtts/wss rows measures. The broker's certificate is not verified (the
 * runner makes a throwaway self-signed one); this is a load generator on
 * loopback, not a client to copy. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <sys/socket.h>

#include "bench.h"

static SSL_CTX *ctx;

int bench_tls_init(void)
{
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return -1;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* A broker that closes without close_notify is a close (0), as on TCP. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* The output buffer moves (realloc, memmove) between a short write and
     * its retry; partial writes let a short write work like send(). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return 0;
}

void bench_tls_free(struct conn *c)
{
    SSL_free(c->ssl);
    c->ssl = NULL;
}

int bench_tls_start(struct conn *c)
{
    SSL *s = SSL_new(ctx);
    if (!s || !SSL_set_fd(s, c->fd)) {
        SSL_free(s);
        return -1;
    }
    SSL_set_connect_state(s);
    c->ssl = s;
    return 0;
}

/* Maps an OpenSSL result to send()/recv() conventions: EAGAIN when it has
 * to wait for the socket (either direction: level-triggered epoll wakes the
 * connection again), ECONNRESET on anything else, 0 on a clean close. */
static ssize_t tls_result(struct conn *c, int r)
{
    if (r > 0) return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (!errno) errno = ECONNRESET;
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

/* 1: established, 0: in progress (*want_write: wait for EPOLLOUT), -1: failed. */
int bench_tls_handshake(struct conn *c, bool *want_write)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) return 1;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want_write = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    ERR_clear_error();
    return -1;
}

ssize_t bench_io_send(struct conn *c, const void *p, size_t n)
{
    if (!c->ssl) return send(c->fd, p, n, MSG_NOSIGNAL);
    return tls_result(c, SSL_write(c->ssl, p, (int)(n > (1u << 30) ? 1u << 30 : n)));
}

ssize_t bench_io_recv(struct conn *c, void *p, size_t n)
{
    if (!c->ssl) return recv(c->fd, p, n, 0);
    return tls_result(c, SSL_read(c->ssl, p, (int)(n > (1u << 30) ? 1u << 30 : n)));
}
