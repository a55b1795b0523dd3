/*
 * auth_cert.c - the client certificate as identity (Mosquitto's
 * use_identity_as_username): on a TLS listener with a "ca", libwebsockets
 * has already verified the chain during the handshake; this only reads the
 * verified certificate's subject CN, or its first subjectAltName (DNS, then
 * e-mail, then URI, in the certificate's order), through OpenSSL. Called on
 * the connection's worker at CONNECT; a name holding a NUL byte is refused
 * (it would read as a shorter one).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "acl.h"

static char *copy_asn1(const ASN1_STRING *a)
{
    unsigned char *utf8 = NULL;
    int n = a ? ASN1_STRING_to_UTF8(&utf8, a) : -1;
    char *out = NULL;
    if (n > 0 && memchr(utf8, 0, (size_t)n) == NULL && (out = malloc((size_t)n + 1))) {
        memcpy(out, utf8, (size_t)n);
        out[n] = 0;
    }
    OPENSSL_free(utf8);
    return out;
}

static char *common_name(X509 *x)
{
    X509_NAME *name = X509_get_subject_name(x);
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    X509_NAME_ENTRY *e = i >= 0 ? X509_NAME_get_entry(name, i) : NULL;
    return e ? copy_asn1(X509_NAME_ENTRY_get_data(e)) : NULL;
}

static char *alt_name(X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    char *out = NULL;
    for (int i = 0; gens && !out && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS || g->type == GEN_EMAIL || g->type == GEN_URI)
            out = copy_asn1(g->d.ia5);
    }
    GENERAL_NAMES_free(gens);
    return out;
}

char *brk_cert_identity(void *tls, int which)
{
    SSL *ssl = tls;
    X509 *x = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    if (!x) return NULL;
    /* lws required a valid chain when the listener has a "ca"; say so again */
    char *id = SSL_get_verify_result(ssl) != X509_V_OK ? NULL
               : which == CFG_CERT_SAN                 ? alt_name(x)
                                                       : common_name(x);
    X509_free(x);
    return id;
}
