/*
 * lws_conn.h - what libwebsockets does for the broker: the protocol
 * callbacks of lws_conn.c (for the protocol table of lws_loop.c, called by
 * lws on the worker owning the context). The loop functions a worker calls
 * (brk_loop_*) are in worker.h, which needs no lws header.
 */
#ifndef SLUICE_BRK_LWS_CONN_H
#define SLUICE_BRK_LWS_CONN_H

#include <stddef.h>

#include <libwebsockets.h>

#define BRK_LWS_PSS sizeof(void *) /* per-session data: the connection */

int brk_lws_raw(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                size_t len);
int brk_lws_ws(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
int brk_lws_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                 size_t len);

#endif
