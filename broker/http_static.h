/*
 * http_static.h - static files (the browser console, examples/console/) served
 * by `http` listeners that set "static_dir" (docs/CONFIG.md). Only files whose
 * realpath lies inside that directory are ever read: `..` segments, absolute
 * or backslashed paths and symlinks leading out are refused (403), missing
 * files are 404, both as small JSON bodies. Files are read whole, bounded by
 * BRK_STATIC_MAX_BYTES, and carry an ETag, Last-Modified and Cache-Control.
 *
 * Called from brk_http_callback() on the worker thread that owns the
 * connection; it keeps no state between requests, so workers call it
 * concurrently.
 */
#ifndef SLUICE_HTTP_STATIC_H
#define SLUICE_HTTP_STATIC_H

#include <libwebsockets.h>

#include "config.h"

#define BRK_STATIC_MAX_BYTES (4u << 20) /* larger files answer 403 */

/* Answer one GET for `uri` (lws's decoded path, query string excluded) from
 * l->static_dir. Returns what an lws HTTP callback returns: 0 to keep the
 * connection, -1 to close it. */
int brk_http_static(struct lws *wsi, const cfg_listener_t *l, const char *uri);

#endif
