/*
 * auth_jwt.c - a JSON Web Token in the CONNECT's password field.
 *
 * Signatures are libjwt's (1.10.2, on OpenSSL). libjwt verifies with the
 * algorithm the token's header names, so what it accepted is checked here
 * again: the algorithm must be one configured, and of the key's family
 * (HS* only with a secret, RS* only with an RSA key, ES* only with an EC
 * key), so an HS256 token "signed" with the public key as HMAC secret (key
 * confusion) is refused, as are "alg": "none" and a token without a
 * signature (libjwt refuses those when given a key). The header's "kid" is
 * never used to find a key: with a JWKS every key of the right family is
 * tried (a JWKS is small), so a kid naming a file or a URL names nothing.
 *
 * JWKS keys (RSA n/e, EC P-256/P-384 x/y) become PEM through OpenSSL at
 * load. Verification runs on the I/O worker: one RS256 or ES256 check costs
 * well under a millisecond. Everything here is read-only after load.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "acl.h"
#include "auth_jwt.h"

#define KEYS_MAX 16
#define FILE_MAX (1 << 20)

enum { FAM_HS, FAM_RS, FAM_ES };

typedef struct key {
    int family;
    unsigned char *bytes; /* secret, or PEM text */
    int len;
} key_t_;

struct brk_jwt {
    const cfg_auth_jwt_t *cfg;
    key_t_ keys[KEYS_MAX];
    int n_keys;
};

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(FILE_MAX + 1) : NULL;
    size_t n = buf ? fread(buf, 1, FILE_MAX + 1, f) : 0;
    if (f) fclose(f);
    if (!buf || n > FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path, buf ? "larger than 1 MiB" : strerror(errno));
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* base64url (RFC 7515, no padding) to bytes via OpenSSL's base64; NULL
 * when it is not that. */
static unsigned char *b64url(const char *s, int *len)
{
    size_t n = s ? strlen(s) : 0;
    if (!n || n > 4096) return NULL;
    char *t = malloc(n + 4);
    unsigned char *out = malloc(n + 4);
    if (!t || !out) goto fail;
    for (size_t i = 0; i < n; i++)
        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    size_t pad = (4 - n % 4) % 4;
    if (pad == 3) goto fail;
    memset(t + n, '=', pad);
    int r = EVP_DecodeBlock(out, (unsigned char *)t, (int)(n + pad));
    if (r < 0) goto fail;
    *len = r - (int)pad; /* DecodeBlock counts the padding's zero bytes */
    free(t);
    return out;
fail:
    free(t);
    free(out);
    return NULL;
}

/* One JWK as an EVP_PKEY (RSA n/e or EC P-256/P-384 x/y); NULL if not. */
static EVP_PKEY *jwk_key(const cfg_jwk_t *k)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    BIGNUM *n = NULL, *e = NULL;
    unsigned char *a = NULL, *b = NULL, pub[1 + 2 * 48];
    int alen = 0, blen = 0;
    bool rsa = k->kty && !strcmp(k->kty, "RSA"), ec = k->kty && !strcmp(k->kty, "EC");
    const char *group = !k->crv                    ? NULL
                        : !strcmp(k->crv, "P-256") ? "prime256v1"
                        : !strcmp(k->crv, "P-384") ? "secp384r1"
                                                   : NULL;
    int field = group && !strcmp(group, "prime256v1") ? 32 : 48;
    if (!bld || (!rsa && !(ec && group))) goto done;
    if (!(a = b64url(rsa ? k->n : k->x, &alen)) || !(b = b64url(rsa ? k->e : k->y, &blen)))
        goto done;
    if (rsa) {
        if (!(n = BN_bin2bn(a, alen, NULL)) || !(e = BN_bin2bn(b, blen, NULL)) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
            goto done;
    } else {
        if (alen != field || blen != field) goto done;
        pub[0] = 4; /* uncompressed point: 04 || x || y */
        memcpy(pub + 1, a, (size_t)field);
        memcpy(pub + 1 + field, b, (size_t)field);
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                              1 + 2 * (size_t)field))
            goto done;
    }
    if (!(params = OSSL_PARAM_BLD_to_param(bld)) ||
        !(ctx = EVP_PKEY_CTX_new_from_name(NULL, rsa ? "RSA" : "EC", NULL)) ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pk = NULL;
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(a);
    free(b);
    return pk;
}

static char *pkey_pem(EVP_PKEY *pk)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long len;
    if (bio && PEM_write_bio_PUBKEY(bio, pk) == 1 && (len = BIO_get_mem_data(bio, &data)) > 0 &&
        (out = malloc((size_t)len + 1))) {
        memcpy(out, data, (size_t)len);
        out[len] = 0;
    }
    BIO_free(bio);
    return out;
}

int brk_jwks_to_pem(const char *json, char ***pems, size_t *n, char *why, size_t whylen)
{
    cfg_jwk_t *keys;
    size_t count, k = 0;
    if (cfg_jwks_parse(json, &keys, &count)) {
        snprintf(why, whylen, "expected a JWKS: {\"keys\": [...]} with at most 64 keys");
        return -1;
    }
    char **out = calloc(count ? count : 1, sizeof(*out));
    for (size_t i = 0; out && i < count; i++) {
        if (keys[i].kty && strcmp(keys[i].kty, "RSA") && strcmp(keys[i].kty, "EC"))
            continue; /* "oct" and others: not for verifying with a public key */
        EVP_PKEY *pk = jwk_key(&keys[i]);
        char *pem = pk ? pkey_pem(pk) : NULL;
        EVP_PKEY_free(pk);
        if (!pem) {
            snprintf(why, whylen, "keys[%zu]: expected RSA (n, e) or EC P-256/P-384 (x, y)", i);
            for (size_t x = 0; x < k; x++)
                free(out[x]);
            free(out);
            cfg_jwks_free(keys, count);
            return -1;
        }
        out[k++] = pem;
    }
    cfg_jwks_free(keys, count);
    if (!out) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    *pems = out;
    *n = k;
    return 0;
}

/* The family of a PEM public key; -1 when it is none we verify. */
static int pem_family(const unsigned char *pem, int len)
{
    BIO *bio = BIO_new_mem_buf(pem, len);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    int id = pk ? EVP_PKEY_base_id(pk) : 0;
    EVP_PKEY_free(pk);
    BIO_free(bio);
    return id == EVP_PKEY_RSA ? FAM_RS : id == EVP_PKEY_EC ? FAM_ES : -1;
}

static int add_pem(brk_jwt_t *j, unsigned char *pem, int len, const char *where, char *err,
                   size_t errlen)
{
    int fam = pem_family(pem, len);
    if (fam < 0 || j->n_keys == KEYS_MAX) {
        snprintf(err, errlen, "%s: %s", where,
                 fam < 0 ? "expected an RSA or EC public key (PEM)" : "more than 16 keys");
        free(pem);
        return -1;
    }
    j->keys[j->n_keys++] = (key_t_){fam, pem, len};
    return 0;
}

static int load_jwks(brk_jwt_t *j, const char *path, char *err, size_t errlen)
{
    size_t len;
    char *text = read_file(path, &len, err, errlen);
    if (!text) return -1;
    char **pems = NULL;
    size_t n = 0;
    char why[160];
    int rc = brk_jwks_to_pem(text, &pems, &n, why, sizeof(why));
    free(text);
    if (rc) {
        snprintf(err, errlen, "%s: %s", path, why);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!rc)
            rc = add_pem(j, (unsigned char *)pems[i], (int)strlen(pems[i]), path, err, errlen);
        else
            free(pems[i]);
    }
    free(pems);
    if (!rc && !j->n_keys) {
        snprintf(err, errlen, "%s: no RSA or EC key in \"keys\"", path);
        rc = -1;
    }
    return rc;
}

int brk_jwt_load(const cfg_auth_jwt_t *cfg, brk_jwt_t **out, char *err, size_t errlen)
{
    brk_jwt_t *j = calloc(1, sizeof(*j));
    int rc = -1;
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    j->cfg = cfg;
    if (cfg->secret) {
        j->keys[0] =
            (key_t_){FAM_HS, (unsigned char *)strdup(cfg->secret), (int)strlen(cfg->secret)};
        j->n_keys = j->keys[0].bytes ? 1 : 0;
        rc = j->n_keys ? 0 : -1;
    } else if (cfg->public_key) {
        size_t len;
        char *pem = read_file(cfg->public_key, &len, err, errlen);
        rc = pem ? add_pem(j, (unsigned char *)pem, (int)len, cfg->public_key, err, errlen) : -1;
    } else {
        rc = load_jwks(j, cfg->jwks, err, errlen);
    }
    if (rc) {
        brk_jwt_free(j);
        return -1;
    }
    *out = j;
    return 0;
}

void brk_jwt_free(brk_jwt_t *j)
{
    if (!j) return;
    for (int i = 0; i < j->n_keys; i++)
        free(j->keys[i].bytes);
    free(j);
}

/* The configured bit of alg when it belongs to family; 0 otherwise. */
static uint32_t alg_bit(jwt_alg_t alg, int family)
{
    switch (alg) {
    case JWT_ALG_HS256:
        return family == FAM_HS ? CFG_JWT_HS256 : 0;
    case JWT_ALG_HS384:
        return family == FAM_HS ? CFG_JWT_HS384 : 0;
    case JWT_ALG_HS512:
        return family == FAM_HS ? CFG_JWT_HS512 : 0;
    case JWT_ALG_RS256:
        return family == FAM_RS ? CFG_JWT_RS256 : 0;
    case JWT_ALG_RS384:
        return family == FAM_RS ? CFG_JWT_RS384 : 0;
    case JWT_ALG_RS512:
        return family == FAM_RS ? CFG_JWT_RS512 : 0;
    case JWT_ALG_ES256:
        return family == FAM_ES ? CFG_JWT_ES256 : 0;
    case JWT_ALG_ES384:
        return family == FAM_ES ? CFG_JWT_ES384 : 0;
    default:
        return 0; /* none, and whatever else */
    }
}

/* exp and nbf, when present, within leeway of now. */
static bool times_ok(jwt_t *t, int64_t now, int64_t leeway)
{
    errno = 0;
    long exp = jwt_get_grant_int(t, "exp");
    if (errno != ENOENT && (errno || now > exp + leeway)) return false;
    errno = 0;
    long nbf = jwt_get_grant_int(t, "nbf");
    if (errno != ENOENT && (errno || now + leeway < nbf)) return false;
    return true;
}

int brk_jwt_verify(const brk_jwt_t *j, const char *token, int64_t now_s, brk_jwt_claims_t *out)
{
    memset(out, 0, sizeof(*out));
    jwt_t *t = NULL;
    for (int i = 0; i < j->n_keys && !t; i++) {
        const key_t_ *k = &j->keys[i];
        if (jwt_decode(&t, token, k->bytes, k->len)) {
            t = NULL;
            continue;
        }
        if (!(alg_bit(jwt_get_alg(t), k->family) & j->cfg->algorithms)) {
            jwt_free(t); /* a valid signature, but not by an algorithm we accept */
            t = NULL;
        }
    }
    if (!t) return BRK_JWT_BAD_SIGNATURE;
    int rc = BRK_JWT_EXPIRED;
    if (!times_ok(t, now_s, j->cfg->leeway_s)) goto done;
    rc = BRK_JWT_BAD_CLAIMS;
    if (j->cfg->username_claim) {
        const char *u = jwt_get_grant(t, j->cfg->username_claim);
        if (!u || !*u || !(out->user = strdup(u))) goto done;
    }
    if (j->cfg->acl_claim) {
        char *acl = jwt_get_grants_json(t, j->cfg->acl_claim);
        int bad = !acl || cfg_jwt_acl_rules(acl, &out->rules, &out->n_rules);
        free(acl);
        if (bad) goto done;
        out->has_acl = true;
    }
    rc = BRK_JWT_OK;
done:
    if (rc) brk_jwt_claims_free(out);
    jwt_free(t);
    return rc;
}

void brk_jwt_claims_free(brk_jwt_claims_t *c)
{
    free(c->user);
    cfg_auth_rules_free(c->rules, c->n_rules);
    memset(c, 0, sizeof(*c));
}
