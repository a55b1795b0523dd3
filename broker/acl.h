/*
 * acl.h - the one access-control seam: who may connect, publish, subscribe
 * and receive what. Every MQTT site asks brk_acl_check (CONNECT, the will
 * at CONNECT, PUBLISH after topic-alias resolution, each SUBSCRIBE entry,
 * each retained message on subscribe, each delivery). Behind it sit the
 * backends, one file each: auth_passwd.c (mosquitto_passwd files),
 * auth_acl.c (Mosquitto ACL syntax, file or inline JSON), auth_verify.c
 * (the credential cache and the thread for slow password hashes),
 * auth_http.c (an operator's HTTP service decides, off the workers), and
 * auth_backoff.c (refusals to an address that keeps failing, held back).
 *
 * Ownership: brk_auth_open builds every listener's policy from the config
 * at start (reading the files; errors name file and line) and the broker
 * owns it until brk_auth_close, after the workers stopped; brk_auth_reload
 * swaps in new policies (counted: an identity holds the ones it uses). An identity
 * (brk_acl_id_t) is made at CONNECT and then owned by the session (s->acl),
 * replaced under s->lock when a client connects again.
 *
 * Threads: policies are read-only after start, so any thread may check. An
 * identity's receive cache is written by whoever delivers into its session,
 * so brk_acl_session takes s->lock; brk_acl_check on an identity nobody
 * else sees (CONNECT) needs no lock. Counters are relaxed atomics.
 */
#ifndef SLUICE_ACL_H
#define SLUICE_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mqtt.h"

struct brk;
struct brk_conn;
struct brk_session;

typedef enum brk_acl_access {
    BRK_ACL_CONNECT,   /* topic unused: credentials and allow_anonymous */
    BRK_ACL_PUBLISH,   /* write on a topic */
    BRK_ACL_SUBSCRIBE, /* a filter: some readable topic under it */
    BRK_ACL_RECEIVE,   /* read on a delivered topic */
    BRK_ACL_RETAINED,  /* read on a retained topic, on subscribe */
    BRK_ACL_WILL,      /* write on the will topic, at CONNECT */
} brk_acl_access_t;

enum {
    BRK_ACL_ALLOW = 0,
    BRK_ACL_DENY,      /* not authorized: 3.1.1 rc 5 / v5 0x87 */
    BRK_ACL_BAD_LOGIN, /* wrong user name or password: rc 4 / 0x86 */
    BRK_ACL_WAIT,      /* a slow hash is being checked off the worker: retry */
    BRK_ACL_BUSY,      /* too many checks waiting: rc 3 / 0x88 */
};

typedef struct brk_auth brk_auth_t;
typedef struct brk_acl_id brk_acl_id_t;

/* Every listener's policy, files read. NULL and "FILE:LINE: ..." in err on
 * a bad file. */
brk_auth_t *brk_auth_open(const cfg_t *cfg, char *err, size_t errlen);
void brk_auth_close(brk_auth_t *a);
/* Reload (SIGHUP, admin API): password files, ACL files and rules, JWT keys
 * and the HTTP hook are built from cfg into a new state, which replaces the
 * current one atomically; the old one is freed when the last identity made
 * from it lets go. Connected clients keep their authenticated identity and
 * move to the new rules at their next check (publish, subscribe, delivery).
 * acl_on: whether ACL checks are on (b->acl_on; they cannot be turned on
 * here). 0: done, a owns cfg (freed with its state). -1: nothing changed,
 * the reason in err, the caller still owns cfg. Any thread; one reload at
 * a time. */
int brk_auth_reload(brk_auth_t *a, cfg_t *cfg, bool acl_on, char *err, size_t errlen);
/* Have brk_reload (SIGHUP, admin API) reload b->auth too (auth_reload.c);
 * before brk_start. */
int brk_auth_reload_register(struct brk *b);
/* Whether any listener has ACL rules (then every delivery is checked). */
bool brk_auth_acl_on(const brk_auth_t *a);
/* Counters by name ("failures", "connect/allowed", ...). */
void brk_auth_stats(const struct brk *b, void (*fn)(void *arg, const char *name, uint64_t v),
                    void *arg);

/* The seam. With no auth configured: allow, except what the MQTT rules
 * already forbid elsewhere ($-topics). id may be NULL (no identity: a
 * session recovered from the store whose client has not come back). */
int brk_acl_check(brk_acl_id_t *id, const char *topic, uint16_t len, brk_acl_access_t access);
/* The same for the identity of session s (takes s->lock when ACLs apply). */
int brk_acl_session(struct brk_session *s, const char *topic, uint16_t len,
                    brk_acl_access_t access);
/* CONNECT: make c's identity and check its credentials, then its will
 * topic. ALLOW: *out is the identity for the session; a will it may not
 * publish is dropped (p->will cleared, logged: the client connects, as with
 * Mosquitto 2.0 and EMQX). Anything else was counted and logged once
 * (client id, user name, peer, reason). */
int brk_acl_connect(struct brk_conn *c, mqtt_connect_t *p, const mqtt_str_t *client_id,
                    brk_acl_id_t **out);
void brk_acl_id_free(brk_acl_id_t *id);
/* An identity for user on listener index `listener` (of the start config)
 * without asking for credentials: for tests and for callers that already
 * know who it is. NULL without memory. */
brk_acl_id_t *brk_acl_id_new(brk_auth_t *a, size_t listener, const char *user,
                             const char *client_id);
/* The identity's user name as authenticated (a JWT's username_claim, a
 * certificate's CN/SAN, else the CONNECT's); NULL for none or a NULL id. */
const char *brk_acl_id_user(const brk_acl_id_t *id);

/* ---- backends (auth_*.c): never log, return errors -------------------- */

/* auth_passwd.c: a mosquitto_passwd file ($7$ PBKDF2-SHA512, $6$ SHA-512). */
typedef struct brk_passwd brk_passwd_t;
int brk_passwd_load(const char *path, brk_passwd_t **out, char *err, size_t errlen);
void brk_passwd_free(brk_passwd_t *pw);
/* The cost of checking user's password: true when it is a slow hash that
 * must not run on an I/O worker. False also for an unknown user. */
bool brk_passwd_slow(const brk_passwd_t *pw, const char *user);
/* Constant-time compare of the derived key; false for an unknown user. */
bool brk_passwd_verify(const brk_passwd_t *pw, const char *user, const uint8_t *pass, size_t len);
/* `sluice passwd ...`: returns the process exit code. */
int brk_passwd_command(int argc, char **argv);

/* auth_acl.c: rules in Mosquitto's syntax. */
typedef struct brk_acl_rules brk_acl_rules_t;
typedef struct brk_acl_view brk_acl_view_t;
/* The acl_file (if any), then the inline rules. */
int brk_acl_rules_load(const cfg_auth_t *a, brk_acl_rules_t **out, char *err, size_t errlen);
void brk_acl_rules_free(brk_acl_rules_t *r);
/* The rules that apply to one client (its user's section, or the anonymous
 * one, and every pattern with %u/%c filled in). NULL without memory. */
brk_acl_view_t *brk_acl_view_new(const brk_acl_rules_t *r, const char *user, const char *client_id);
void brk_acl_view_free(brk_acl_view_t *v);
bool brk_acl_view_allows(const brk_acl_view_t *v, const char *topic, uint16_t len,
                         brk_acl_access_t access);

/* auth_verify.c: verified credentials, and the thread for slow hashes. */
typedef struct brk_verify brk_verify_t;
brk_verify_t *brk_verify_new(void);
void brk_verify_free(brk_verify_t *v);
/* ALLOW, BAD_LOGIN, WAIT (queued to the thread: ask again) or BUSY. */
/* Before pw is freed (a reload): drop its queued jobs, wait for the one
 * running, and forget every cached answer. */
void brk_verify_forget(brk_verify_t *v, const brk_passwd_t *pw);
int brk_verify(brk_verify_t *v, const brk_passwd_t *pw, const char *user, const mqtt_str_t *pass);

/* auth_http.c: the HTTP hook (libcurl on max_inflight threads of its own).
 * Each call answers from what came back, or queues the request and answers
 * WAIT (ask again with the same arguments: the tick does). */
typedef struct brk_hook brk_hook_t;
typedef struct brk_hook_login {
    uint64_t conn; /* the asking connection: a CONNECT's answer is its own */
    const char *client_id, *user, *peer;
    const mqtt_str_t *password; /* NULL: none given */
    const cfg_listener_t *listener;
} brk_hook_login_t;
brk_hook_t *brk_hook_new(const cfg_auth_http_t *cfg);
void brk_hook_free(brk_hook_t *h);
/* ALLOW (and *superuser, and in *acl the reply's "acl" object as JSON text
 * for the caller to free, or NULL), BAD_LOGIN (the hook said no), WAIT, or
 * with the hook down: ALLOW with "fail": "open", BUSY (server unavailable)
 * else. */
int brk_hook_connect(brk_hook_t *h, const brk_hook_login_t *r, bool *superuser, char **acl);
/* PUBLISH or SUBSCRIBE on topic: ALLOW, DENY or WAIT; down: as "fail". */
int brk_hook_acl(brk_hook_t *h, const char *client_id, const char *user, const char *topic,
                 uint16_t len, brk_acl_access_t access);

/* auth_cert.c: the user name from a TLS connection's verified client
 * certificate (CFG_CERT_CN or CFG_CERT_SAN); tls is the transport's
 * OpenSSL SSL * (brk_stream_ops_t.tls). malloc'd, NULL when there is none
 * (not TLS, no certificate, no such name). The connection's worker. */
char *brk_cert_identity(void *tls, int which);

/* auth_backoff.c: refusals to an address that keeps failing are held back. */
typedef struct brk_backoff brk_backoff_t;
brk_backoff_t *brk_backoff_new(void);
void brk_backoff_free(brk_backoff_t *b);
/* A refusal held for connection `conn`: WAIT until it is due, then its
 * verdict (once). -1: nothing held. */
int brk_backoff_pending(brk_backoff_t *b, uint64_t conn, int64_t now);
/* Count a failure from addr; true when the refusal `verdict` is held for
 * conn (answer WAIT now, brk_backoff_pending gives it back later). */
bool brk_backoff_hold(brk_backoff_t *b, const char *addr, uint64_t conn, int verdict, int64_t now);

#endif
