/*
 * dev_tls.h - TLS for the device simulator's connections (OpenSSL): one
 * client context per process, one SSL per device, handshakes done blocking
 * on the device's connected socket. Only the simulator's thread calls it.
 */
#ifndef SLUICE_DEV_TLS_H
#define SLUICE_DEV_TLS_H

#include <stdbool.h>

#include <openssl/ssl.h>

/* cafile NULL: the system's trust store; insecure: no verification at all
 * (a self-signed test broker). NULL with a message on stderr on failure. */
SSL_CTX *dev_tls_ctx(const char *cafile, bool insecure);

/* Handshake on fd, checking the certificate against host (a DNS name or an
 * IP address). NULL with a message on stderr on failure. */
SSL *dev_tls_connect(SSL_CTX *ctx, int fd, const char *host);

#endif
