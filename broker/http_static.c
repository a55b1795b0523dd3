/*
 * http_static.c - static files for `http` listeners with "static_dir" (see
 * http_static.h for the contract). The path check is layered on purpose:
 * lws already decodes %XX and folds "/../" in the URI, but this file does
 * not rely on it; it refuses any `..`, `.` or empty segment, backslashes and
 * control bytes itself, then resolves the candidate with realpath() and
 * serves it only if the result is still under the canonical static_dir
 * (config/ resolved it at load), which is what stops symlinks leading out.
 * The file is opened with O_NOFOLLOW on the resolved path and checked again
 * with fstat(), so it is a regular file of bounded size when read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http_static.h"

/* lws 4.1.6 knows html, css, js, png, svg, json...; these complete it. */
static const struct lws_protocol_vhost_options mime_map = {NULL, NULL, ".map", "application/json"};
static const struct lws_protocol_vhost_options mime_mjs = {&mime_map, NULL, ".mjs",
                                                           "text/javascript"};
static const struct lws_protocol_vhost_options mime_webm = {&mime_mjs, NULL, ".webmanifest",
                                                            "application/manifest+json"};

static int static_reply(struct lws *wsi, unsigned status, const char *type, const char *extra,
                        const uint8_t *body, size_t n)
{
    uint8_t hdr[LWS_PRE + 1024];
    uint8_t *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    if (lws_add_http_common_headers(wsi, status, type, n, &p, end)) return -1;
    if (lws_add_http_header_by_name(wsi, (const uint8_t *)"x-content-type-options:",
                                    (const uint8_t *)"nosniff", 7, &p, end))
        return -1;
    /* extra: "name:value\n" pairs already formatted by the caller */
    for (const char *e = extra; e && *e;) {
        const char *colon = strchr(e, ':'), *nl = strchr(e, '\n');
        if (!colon || !nl || colon > nl) break;
        char name[64];
        size_t nlen = (size_t)(colon - e) + 1;
        if (nlen >= sizeof(name)) break;
        memcpy(name, e, nlen);
        name[nlen] = '\0';
        if (lws_add_http_header_by_name(wsi, (const uint8_t *)name, (const uint8_t *)colon + 1,
                                        (int)(nl - colon - 1), &p, end))
            return -1;
        e = nl + 1;
    }
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    /* body NULL with n > 0: a HEAD, the length of what a GET would get */
    if (body && n && lws_write(wsi, (uint8_t *)body, n, LWS_WRITE_HTTP_FINAL) != (int)n) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Errors are small JSON bodies; the text is ours, nothing of the request is
 * echoed. */
static int static_error(struct lws *wsi, unsigned status, const char *msg)
{
    char buf[LWS_PRE + 128];
    int n = snprintf(buf + LWS_PRE, sizeof(buf) - LWS_PRE, "{\"error\":\"%s\"}\n", msg);
    return static_reply(wsi, status, "application/json", NULL, (uint8_t *)buf + LWS_PRE, (size_t)n);
}

/* The URI as a relative path under the root, or NULL when any segment is
 * one we never serve. "/" and "/dir/" mean index.html. */
static const char *static_relpath(const char *uri, char *out, size_t cap)
{
    if (uri[0] != '/' || uri[1] == '/') return NULL; /* "//etc/passwd" is absolute */
    const char *rel = uri + 1;
    size_t len = strlen(rel);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)rel[i] < 0x20 || rel[i] == '\\' || rel[i] == 0x7f) return NULL;
    for (const char *s = rel; *s;) {
        const char *e = strchr(s, '/');
        size_t seg = e ? (size_t)(e - s) : strlen(s);
        if ((seg == 0 && e) || (seg == 1 && s[0] == '.') || (seg == 2 && !strncmp(s, "..", 2)))
            return NULL;
        s += seg + (e ? 1 : 0);
    }
    int n = snprintf(out, cap, "%s%s", rel, (len == 0 || rel[len - 1] == '/') ? "index.html" : "");
    return n > 0 && (size_t)n < cap ? out : NULL;
}

/* Open `rel` under root; *status says why when it returns -1. */
static int static_open(const char *root, const char *rel, struct stat *st, unsigned *status)
{
    char cand[PATH_MAX], real[PATH_MAX];
    size_t rootlen = strlen(root);
    *status = HTTP_STATUS_FORBIDDEN;
    if (snprintf(cand, sizeof(cand), "%s/%s", root, rel) >= (int)sizeof(cand)) return -1;
    if (!realpath(cand, real)) {
        if (errno == ENOENT || errno == ENOTDIR) *status = HTTP_STATUS_NOT_FOUND;
        return -1;
    }
    if (strncmp(real, root, rootlen) || real[rootlen] != '/') return -1; /* led outside */
    int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -1;
    memset(st, 0, sizeof(*st));
    if (fstat(fd, st) || !S_ISREG(st->st_mode) || st->st_size > BRK_STATIC_MAX_BYTES) {
        if (S_ISDIR(st->st_mode)) *status = HTTP_STATUS_NOT_FOUND; /* fstat zeroed on failure */
        close(fd);
        return -1;
    }
    return fd;
}

/* The client's copy is current (RFC 9110 13.1): If-None-Match decides when
 * given, else If-Modified-Since against the file's mtime in seconds. */
static bool static_fresh(struct lws *wsi, const char *etag, time_t mtime)
{
    char v[128];
    if (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_IF_NONE_MATCH) > 0) return !strcmp(v, etag);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_IF_MODIFIED_SINCE) <= 0) return false;
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return end && !*end && mtime <= timegm(&tm); /* not a valid IMF-fixdate: ignored */
}

int brk_http_static(struct lws *wsi, const cfg_listener_t *l, const char *uri)
{
    char rel[PATH_MAX], etag[64], lastmod[64], extra[256];
    struct stat st;
    unsigned status;

    bool head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
    if (!head && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
        return static_error(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, "method not allowed");
    if (!static_relpath(uri, rel, sizeof(rel)))
        return static_error(wsi, HTTP_STATUS_FORBIDDEN, "forbidden");
    int fd = static_open(l->static_dir, rel, &st, &status);
    if (fd < 0)
        return static_error(wsi, status,
                            status == HTTP_STATUS_NOT_FOUND ? "not found" : "forbidden");

    /* Weak validators from stat, no content hash: the console changes only
     * when files are replaced, which changes mtime or size. */
    snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)st.st_mtim.tv_sec,
             (unsigned long long)st.st_mtim.tv_nsec, (unsigned long long)st.st_size);
    struct tm tm;
    gmtime_r(&st.st_mtim.tv_sec, &tm);
    strftime(lastmod, sizeof(lastmod), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(extra, sizeof(extra), "etag:%s\nlast-modified:%s\ncache-control:no-cache\n", etag,
             lastmod);
    if (static_fresh(wsi, etag, st.st_mtim.tv_sec)) {
        close(fd);
        return static_reply(wsi, HTTP_STATUS_NOT_MODIFIED, "text/plain", extra, NULL, 0);
    }

    struct lws_http_mount m;
    memset(&m, 0, sizeof(m));
    m.extra_mimetypes = &mime_webm;
    const char *type = lws_get_mimetype(rel, &m);
    size_t n = (size_t)st.st_size;
    if (!type) type = "application/octet-stream";
    if (head) {
        close(fd);
        return static_reply(wsi, HTTP_STATUS_OK, type, extra, NULL, n);
    }
    uint8_t *buf = malloc(LWS_PRE + n + 1);
    ssize_t got = buf ? pread(fd, buf + LWS_PRE, n, 0) : -1;
    close(fd);
    if (got != (ssize_t)n) {
        free(buf);
        return static_error(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "read failed");
    }
    /* lws keeps what the socket does not take at once and finishes it
     * before the next transaction, so the buffer is ours to free. */
    int rc = static_reply(wsi, HTTP_STATUS_OK, type, extra, buf + LWS_PRE, n);
    free(buf);
    return rc;
}
