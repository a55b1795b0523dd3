/*
 * auth_jwt.h - JSON Web Tokens as passwords (auth_jwt.c): keys loaded once
 * from the config (a secret, a PEM public key or a JWKS file), then any
 * thread verifies (the object is read-only after load). Never logs: the
 * caller (acl.c) logs the refusal once with its reason.
 */
#ifndef SLUICE_AUTH_JWT_H
#define SLUICE_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct brk_jwt brk_jwt_t;

enum {
    BRK_JWT_OK = 0,
    BRK_JWT_BAD_SIGNATURE, /* not a JWT, wrong key, refused algorithm, no signature */
    BRK_JWT_EXPIRED,       /* exp passed or nbf not reached (beyond the leeway) */
    BRK_JWT_BAD_CLAIMS,    /* username_claim / acl_claim missing or malformed */
};

/* What a verified token grants; owned by the caller (brk_jwt_claims_free). */
typedef struct brk_jwt_claims {
    char *user;            /* username_claim's value; NULL without one */
    cfg_acl_rule_t *rules; /* acl_claim's rules (anonymous section) */
    size_t n_rules;
    bool has_acl; /* acl_claim configured and present */
} brk_jwt_claims_t;

/* NULL-free on success; -1 and "FILE: what" in err. */
int brk_jwt_load(const cfg_auth_jwt_t *cfg, brk_jwt_t **out, char *err, size_t errlen);
void brk_jwt_free(brk_jwt_t *j);
/* BRK_JWT_*; *out filled on BRK_JWT_OK only. token is NUL-terminated. */
int brk_jwt_verify(const brk_jwt_t *j, const char *token, int64_t now_s, brk_jwt_claims_t *out);
void brk_jwt_claims_free(brk_jwt_claims_t *c);
/* JWKS text to PEM public keys (malloc'd strings, *n of them); keys of
 * other types are skipped. -1 and the reason in why. */
int brk_jwks_to_pem(const char *json, char ***pems, size_t *n, char *why, size_t whylen);

#endif
