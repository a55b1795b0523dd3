/* dev_tls.c - see dev_tls.h. */
#include <arpa/inet.h>
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "dev_tls.h"

static void tls_error(const char *what)
{
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    fprintf(stderr, "sluice-devices: %s: %s\n", what, buf);
}

SSL_CTX *dev_tls_ctx(const char *cafile, bool insecure)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        tls_error("TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        return ctx;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cafile ? SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1
               : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        tls_error(cafile ? cafile : "system trust store");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

SSL *dev_tls_connect(SSL_CTX *ctx, int fd, const char *host)
{
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    SSL *ssl = SSL_new(ctx);
    if (!ssl || !SSL_set_fd(ssl, fd)) goto fail;
    if (!is_ip) SSL_set_tlsext_host_name(ssl, host); /* SNI takes names only */
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (is_ip ? !X509_VERIFY_PARAM_set1_ip_asc(vp, host) : !SSL_set1_host(ssl, host)) goto fail;
    if (SSL_connect(ssl) != 1) goto fail;
    return ssl;
fail:
    tls_error("TLS handshake");
    SSL_free(ssl);
    return NULL;
}
