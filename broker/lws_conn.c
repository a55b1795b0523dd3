/*
 * lws_conn.c - the connections libwebsockets carries: MQTT over TLS
 * (raw protocol on a TLS vhost), over WebSocket (plain or TLS), and the
 * HTTP listeners' requests. Each lws callback becomes one of four events of
 * the one byte stream (open, bytes in, writable, closed) handed to conn.c,
 * as tcp.c does for plain TCP. Runs on the worker that owns the context.
 */
#include <stdbool.h>
#include <string.h>

#include <libwebsockets.h>

#include "brk.h"
#include "lws_conn.h"

typedef struct pss {
    brk_conn_t *c;
} pss_t;

static brk_worker_t *worker_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* After any input: deliveries made to sessions of this worker are drained
 * now, in the same loop pass, so their writes batch with the rest. */
static int after_rx(brk_worker_t *w, int rc)
{
    brk_worker_run_inbox(w);
    return rc;
}

/* Every close the broker asks lws for through a callback's -1 says why. */
static int drop(struct lws *wsi, brk_conn_t *c, const char *why)
{
    brk_log(worker_of(wsi)->b, BRK_LOG_INFO, "SLUICE-CONN-DROP", "%s: connection closed: %s",
            c ? c->peer : "?", why);
    return -1;
}

/* lws 4.1.6 arms PENDING_TIMEOUT_ESTABLISH_WITH_SERVER (context
 * timeout_secs) when it completes the TLS handshake of an adopted socket,
 * and only the HTTP role ever clears it: on a raw (mqtts) connection it
 * fired seconds later, whatever the traffic, and lws closed the socket with
 * no callback but RAW_CLOSE. Bytes have arrived, so the handshake is over:
 * from here the broker's CONNECT and keepalive timers decide. Not once
 * closing, whose PENDING_TIMEOUT_CLOSE_SEND must stay. */
static void handshake_done(struct lws *wsi, brk_conn_t *c)
{
    if (!c->connected && c->state < BRK_CONN_CLOSING) lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
}

/* Both transports end in the same four events (one byte stream). */
enum { EV_OPEN, EV_RX, EV_WRITE, EV_CLOSE, EV_OTHER };

static int conn_event(struct lws *wsi, pss_t *ps, int ev, uint8_t transport, void *in, size_t len)
{
    brk_conn_t *c = ps ? ps->c : NULL;
    switch (ev) {
    case EV_OPEN:
        ps->c = brk_conn_new(worker_of(wsi), wsi, lws_get_socket_fd(wsi), transport,
                             lws_get_opaque_user_data(wsi));
        return ps->c ? 0 : drop(wsi, NULL, "out of memory");
    case EV_RX:
        if (!c) return drop(wsi, NULL, "input without a connection");
        handshake_done(wsi, c);
        if (after_rx(c->w, brk_conn_feed(c, in, len)) < 0)
            return drop(wsi, c, "its input could not be handled");
        return 0;
    case EV_WRITE:
        if (!c) return drop(wsi, NULL, "writable without a connection");
        /* -1: closing and flushed (its reason was logged), or lws_write
         * failed (lws_conn_write logged it) */
        return after_rx(c->w, brk_conn_write(c));
    case EV_CLOSE:
        if (c) {
            brk_worker_t *w = c->w;
            if (c->state < BRK_CONN_CLOSING && !c->connected)
                brk_log(w->b, BRK_LOG_INFO, "SLUICE-CONN-LOST",
                        "%s: closed before CONNECT (TLS handshake failed or timed out, or the "
                        "peer left)",
                        c->peer);
            brk_conn_closed(c);
            ps->c = NULL;
            brk_worker_run_inbox(w);
        }
        return 0;
    default:
        return 0;
    }
}

int brk_lws_raw(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    int ev = reason == LWS_CALLBACK_RAW_ADOPT       ? EV_OPEN
             : reason == LWS_CALLBACK_RAW_RX        ? EV_RX
             : reason == LWS_CALLBACK_RAW_WRITEABLE ? EV_WRITE
             : reason == LWS_CALLBACK_RAW_CLOSE     ? EV_CLOSE
                                                    : EV_OTHER;
    uint8_t transport =
        (ev == EV_OPEN && lws_is_ssl(wsi)) ? BRK_TRANSPORT_TLS_RAW : BRK_TRANSPORT_RAW;
    return conn_event(wsi, user, ev, transport, in, len);
}

static bool path_ok(struct lws *wsi, const cfg_listener_t *l)
{
    char uri[256];
    int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
    if (n <= 0) return false;
    char *q = strchr(uri, '?');
    if (q) *q = 0;
    const char *want = (l && l->path) ? l->path : "/mqtt";
    return strcmp(uri, want) == 0;
}

int brk_lws_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    pss_t *ps = user;
    if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
        return path_ok(wsi, lws_get_opaque_user_data(wsi)) ? 0 : 1;
    if (reason == LWS_CALLBACK_RECEIVE && ps && ps->c && !lws_frame_is_binary(wsi)) {
        brk_conn_close(ps->c, MQTT_RC_MALFORMED); /* MQTT over WebSocket is binary only */
        return 0;
    }
    int ev = reason == LWS_CALLBACK_ESTABLISHED        ? EV_OPEN
             : reason == LWS_CALLBACK_RECEIVE          ? EV_RX
             : reason == LWS_CALLBACK_SERVER_WRITEABLE ? EV_WRITE
             : reason == LWS_CALLBACK_CLOSED           ? EV_CLOSE
                                                       : EV_OTHER;
    return conn_event(wsi, ps, ev, BRK_TRANSPORT_WS, in, len);
}

int brk_lws_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len)
{
    return brk_http_callback(wsi, (int)reason, user, in, len);
}

/* ---- the transport table (conn.h) ---- */

static long lws_conn_write(brk_conn_t *c, const uint8_t *p, size_t n)
{
    if (lws_partial_buffered(c->wsi)) return 0; /* lws still holds the last write */
    int wp = c->transport == BRK_TRANSPORT_WS ? LWS_WRITE_BINARY : LWS_WRITE_RAW;
    /* p has LWS_PRE bytes of headroom in front (headroom below) */
    if (lws_write(c->wsi, (unsigned char *)p, n, (enum lws_write_protocol)wp) < 0) {
        brk_log(c->w->b, BRK_LOG_INFO, "SLUICE-CONN-DROP", "%s: connection closed: write failed",
                c->peer);
        return -1;
    }
    return (long)n; /* lws keeps what the socket did not take */
}

static void lws_conn_want_write(brk_conn_t *c)
{
    c->want_write = true;
    lws_callback_on_writable(c->wsi);
}

static void lws_conn_rx_flow(brk_conn_t *c, bool on)
{
    if (c->wsi) lws_rx_flow_control(c->wsi, on);
}

static void lws_conn_close_after_flush(brk_conn_t *c)
{
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, BRK_CLOSE_GRACE_MS / 1000);
    c->want_write = false; /* ask again: the WRITEABLE callback returns -1 */
    brk_conn_want_write(c);
}

static void *lws_conn_tls(brk_conn_t *c)
{
    return c->wsi && lws_is_ssl(c->wsi) ? lws_get_ssl(c->wsi) : NULL;
}

const brk_stream_ops_t brk_lws_ops = {
    .write = lws_conn_write,
    .want_write = lws_conn_want_write,
    .rx_flow = lws_conn_rx_flow,
    .close_after_flush = lws_conn_close_after_flush,
    .tls = lws_conn_tls,
    .headroom = LWS_PRE,
};
