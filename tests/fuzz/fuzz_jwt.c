/*
 * fuzz_jwt.c - libFuzzer target for what an untrusted client or file hands
 * the JWT backend: the token in a CONNECT's password field (verified with a
 * shared secret, claims mapped to a user name and ACL rules), a JWKS text
 * turned into PEM keys, and an ACL claim's JSON. Needs brokercore (libjwt,
 * OpenSSL), hence its own link line in CMakeLists.txt.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static brk_jwt_t *jwt;
    static cfg_auth_jwt_t cfg = {.secret = "fuzz-secret",
                                 .algorithms = CFG_JWT_HS256 | CFG_JWT_HS512,
                                 .username_claim = "sub",
                                 .acl_claim = "acl",
                                 .leeway_s = 30};
    char err[256];
    if (!jwt && brk_jwt_load(&cfg, &jwt, err, sizeof(err))) abort();
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0; /* a NUL inside is what a client can send too: cut there */

    brk_jwt_claims_t cl;
    if (brk_jwt_verify(jwt, s, 1700000000, &cl) == BRK_JWT_OK) brk_jwt_claims_free(&cl);

    char **pems = NULL, why[160];
    size_t n = 0;
    if (!brk_jwks_to_pem(s, &pems, &n, why, sizeof(why))) {
        for (size_t i = 0; i < n; i++)
            free(pems[i]);
        free(pems);
    }
    cfg_acl_rule_t *rules = NULL;
    size_t nr = 0;
    if (!cfg_jwt_acl_rules(s, &rules, &nr)) cfg_auth_rules_free(rules, nr);
    free(s);
    return 0;
}
