/*
 * config.h - sluice's configuration: a JSON file (cJSON, used only inside
 * config/) read once at start, validated with precise errors, filled with
 * defaults for everything, and handed to the rest as a read-only struct.
 *
 * Ownership: cfg_load()/cfg_defaults() return a cfg_t the caller frees with
 * cfg_free(); every string in it is owned by the cfg_t. Not thread-safe to
 * build; once built it is never written, so any thread may read it.
 *
 * Errors name the file, the JSON path and what was expected, e.g.
 *   sluice.json: listeners[1].bind: expected "HOST:PORT" string, got number
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cfg_proto {
    CFG_PROTO_MQTT, /* raw TCP */
    CFG_PROTO_WS,   /* WebSocket, subprotocol "mqtt" */
    CFG_PROTO_MQTTS,
    CFG_PROTO_WSS,
    CFG_PROTO_HTTP, /* metrics / health */
} cfg_proto_t;

/* One access rule, Mosquitto's ACL line as JSON (auth.acl[i]). */
enum { CFG_ACL_DENY = 0, CFG_ACL_READ = 1, CFG_ACL_WRITE = 2, CFG_ACL_READWRITE = 3 };
typedef struct cfg_acl_rule {
    char *user;     /* topic rules: NULL = the anonymous section; patterns: NULL */
    char *filter;   /* MQTT topic filter; patterns may hold %u and %c */
    bool pattern;   /* "pattern" (applies to every client) rather than "topic" */
    uint8_t access; /* CFG_ACL_* */
} cfg_acl_rule_t;

/* "auth.http": the HTTP hook that decides CONNECTs (url) and, optionally,
 * publish and subscribe rights (acl_url); broker/auth_http.c. */
typedef struct cfg_auth_http {
    char *url;             /* POST on CONNECT; NULL = credentials not asked there */
    char *acl_url;         /* POST per (client, topic, access); NULL = no hook ACL */
    uint32_t timeout_ms;   /* whole request, default 5000 */
    uint32_t max_inflight; /* requests at once (one thread each), default 8 */
    uint32_t cache_ttl_ms; /* ACL answers kept, default 60000; 0 = not kept */
    bool fail_open;        /* "fail": "open" = hook down allows; default closed */
} cfg_auth_http_t;

/* "auth.jwt": the password carries a JSON Web Token (broker/auth_jwt.c).
 * Exactly one key source; algorithms as a bit set of CFG_JWT_*. */
enum {
    CFG_JWT_HS256 = 1,
    CFG_JWT_HS384 = 2,
    CFG_JWT_HS512 = 4,
    CFG_JWT_RS256 = 8,
    CFG_JWT_RS384 = 16,
    CFG_JWT_RS512 = 32,
    CFG_JWT_ES256 = 64,
    CFG_JWT_ES384 = 128,
};
typedef struct cfg_auth_jwt {
    char *secret;         /* HMAC shared secret (the string's bytes) */
    char *public_key;     /* PEM file: an RSA or EC public key */
    char *jwks;           /* JWKS file (RFC 7517): RSA and EC keys */
    uint32_t algorithms;  /* accepted; default: HS256 with secret, else RS256|ES256 */
    char *username_claim; /* claim that becomes the user name; NULL = CONNECT's */
    char *acl_claim;      /* claim {"pub":[..],"sub":[..],"all":[..]}; NULL = none */
    uint32_t leeway_s;    /* exp / nbf tolerance, default 30 */
} cfg_auth_jwt_t;

/* "cert_identity" ("use_identity_as_username": true is CN). */
enum { CFG_CERT_NONE = 0, CFG_CERT_CN, CFG_CERT_SAN };

/* "auth": who may connect and what they may do. Files are named here and
 * read by the broker at start (broker/auth_*.c), which reports their errors. */
typedef struct cfg_auth {
    bool allow_anonymous; /* default: mqtt.allow_anonymous, false with a password_file */
    char *password_file;  /* mosquitto_passwd format; NULL = none */
    char *acl_file;       /* Mosquitto ACL syntax; NULL = none */
    cfg_acl_rule_t *acl;  /* inline rules, after the file's */
    size_t n_acl;
    bool has_acl;          /* acl_file or "acl" given (even empty): deny what no rule allows */
    cfg_auth_http_t *http; /* "http": NULL = no hook */
    cfg_auth_jwt_t *jwt;   /* "jwt": NULL = none */
    uint8_t cert_identity; /* CFG_CERT_*: the user name from the client certificate */
} cfg_auth_t;

/* A JWT's ACL claim (JSON text) as rules for one client (user NULL, the
 * anonymous section): "pub" write, "sub" read, "all" readwrite, each an
 * array of MQTT filters. 0 on success (rules owned by *out, free with
 * cfg_auth_rules_free); -1 when it is not that shape. */
int cfg_jwt_acl_rules(const char *json, cfg_acl_rule_t **out, size_t *n);
void cfg_auth_rules_free(cfg_acl_rule_t *rules, size_t n);
/* One key of a JWKS (RFC 7517): kty and its base64url members, borrowed
 * from the parsed text until cfg_jwks_free. */
typedef struct cfg_jwk {
    char *kty, *n, *e, *crv, *x, *y;
} cfg_jwk_t;
/* {"keys":[...]}: 0 and the keys (members missing are NULL); -1 if not. */
int cfg_jwks_parse(const char *json, cfg_jwk_t **keys, size_t *n);
void cfg_jwks_free(cfg_jwk_t *keys, size_t n);

/* The HTTP hook's JSON (cJSON stays in config/). A request body from n
 * key/value pairs (a NULL value is JSON null): malloc'd, NULL without
 * memory. A reply body: 1 allow, 0 deny, -1 no verdict in it (empty, not
 * JSON, no "result"); *superuser from "is_superuser"; *acl (when acl is not
 * NULL) the "acl" object of an allow as compact JSON text, malloc'd, for
 * cfg_jwt_acl_rules (the JWT claim's format), NULL when there is none. */
char *cfg_http_auth_body(const char *const *keys, const char *const *values, size_t n);
int cfg_http_auth_reply(const char *body, size_t len, bool *superuser, char **acl);

typedef struct cfg_listener {
    cfg_proto_t protocol;
    char *host; /* "127.0.0.1", "0.0.0.0", "::" ... */
    uint16_t port;
    char *path;       /* ws/wss: URL path, default "/mqtt" */
    char *cert;       /* mqtts/wss: PEM certificate file (required) */
    char *key;        /* mqtts/wss: PEM private key file (required) */
    char *ca;         /* optional: CA file; if set, client certificates are required */
    cfg_auth_t *auth; /* this listener's own "auth", replacing the top-level one; NULL = none */
    /* http: canonical (realpath) directory served under "/", or NULL */
    char *static_dir;
} cfg_listener_t;

/* What happens to a QoS 1/2 delivery to an online session whose queue is
 * at mqtt.max_queued (docs/CONFIG.md, "Flow control"). */
typedef enum cfg_queue_full {
    CFG_QUEUE_BACKPRESSURE, /* queue it, hold the publisher's PUBACK/PUBREC */
    CFG_QUEUE_DROP,         /* drop it, counted */
} cfg_queue_full_t;

typedef enum cfg_sync {
    CFG_SYNC_NONE,   /* memory only */
    CFG_SYNC_BATCH,  /* durable within flush_ms */
    CFG_SYNC_ALWAYS, /* fsync before QoS 1/2 acknowledgement */
} cfg_sync_t;

typedef struct cfg_kv {
    char *key;
    char *value;
} cfg_kv_t;

typedef enum cfg_format { CFG_FORMAT_RAW, CFG_FORMAT_JSON } cfg_format_t;
typedef enum cfg_ack { CFG_ACK_DEFAULT, CFG_ACK_KAFKA, CFG_ACK_LOCAL } cfg_ack_t;

/* bridge.to_kafka[i]; templates are validated ({N}, {topic}, {clientid},
 * {username}, {node}) but kept as text: the bridge compiles them. */
typedef struct cfg_to_kafka {
    char *match; /* MQTT topic filter, validated */
    char *topic; /* Kafka topic template (required) */
    char *key;   /* template, default "{topic}" */
    cfg_kv_t *headers;
    size_t n_headers;
    cfg_format_t format;
    cfg_ack_t ack;
    bool final;
} cfg_to_kafka_t;

/* bridge.from_kafka[i]; templates may use {key}, {topic}, {partition},
 * {header.NAME}. */
typedef struct cfg_from_kafka {
    char *topic;      /* Kafka topic, or "^regex" */
    char *group;      /* consumer group, default "sluice-<node_id>" */
    char *mqtt_topic; /* template; NULL = use the record's mqtt.topic header */
    uint8_t qos;
    bool retain;
    bool cluster_records; /* also this cluster's records (skipped by default) */
} cfg_from_kafka_t;

typedef struct cfg {
    char *source; /* file name, or "<defaults>" */

    cfg_listener_t *listeners;
    size_t n_listeners;

    char *data_dir; /* default "./data" */
    int workers;    /* 0 = number of online CPUs */
    char *node_id;  /* default: host name */

    struct {
        uint32_t max_packet_size;        /* default 1 MiB (1048576) */
        uint16_t max_inflight;           /* per session, QoS 1/2 out; default 32 */
        uint32_t max_queued;             /* per offline/slow session; default 1000 */
        uint32_t max_out_bytes;          /* per connection output buffer; default 4 MiB */
        uint16_t keepalive_max;          /* server keep alive cap, 0 = none; default 0 */
        uint32_t max_session_expiry;     /* seconds; default 0xFFFFFFFF (no cap) */
        uint16_t receive_maximum;        /* advertised to MQTT 5 clients; default 64 */
        uint16_t topic_alias_maximum;    /* advertised; default 16 */
        bool retain_available;           /* default true */
        bool allow_anonymous;            /* default true */
        bool allow_zero_length_clientid; /* default true */
        char *response_information;      /* NULL = none */
        uint32_t sys_interval;           /* $SYS period in seconds, 0 = off; default 10 */
        cfg_queue_full_t queue_full;     /* online QoS 1/2 over max_queued; default BACKPRESSURE */
        uint32_t queue_full_timeout_ms;  /* longest over the mark before disconnect, 0 = never */
        uint32_t max_connections;        /* connected clients at once, 0 = no cap; default 0 */
        uint32_t max_subscriptions;      /* per session, 0 = no cap; default 1000 */
        uint32_t max_topic_levels;       /* levels of a topic or filter; default 128 */
        uint16_t max_topic_length;       /* bytes of a topic or filter; default 65535 */
        uint32_t max_retained;           /* retained messages, 0 = no cap; default 1000000 */
        uint64_t max_retained_bytes;     /* their topic + payload bytes, 0 = no cap; 1 GiB */
        uint32_t max_store_pending;      /* unacked store writes per connection; default 256 */
    } mqtt;

    struct {
        cfg_sync_t sync;   /* default CFG_SYNC_BATCH */
        uint32_t flush_ms; /* default 100 */
    } persistence;

    struct {
        char *bootstrap; /* NULL = no Kafka */
        cfg_kv_t *properties;
        size_t n_properties;
    } kafka;

    struct {
        cfg_to_kafka_t *to_kafka;
        size_t n_to_kafka;
        cfg_from_kafka_t *from_kafka;
        size_t n_from_kafka;
        uint32_t spool_after_ms;   /* default 5000 */
        uint64_t spool_max_bytes;  /* default 1 GiB */
        uint32_t spool_high_water; /* % of spool_max_bytes for readiness; 0 = default 80 */
        char *dead_letter_topic;   /* NULL = local quarantine */
    } bridge;

    /* The cluster through Kafka (docs/CLUSTER.md): nodes that share
     * <topic_prefix>.msgs / .retained / .interest / .nodes. */
    struct {
        bool enabled;
        char *id;                 /* cluster id, default "sluice" */
        char *topic_prefix;       /* internal topics' prefix, default "sluice" */
        uint32_t partitions;      /* expected partitions of each topic; default 4 */
        uint32_t load_timeout_ms; /* longest start-up load; default 30000 */
        uint32_t heartbeat_ms;    /* node heartbeat period; default 1000 */
        uint32_t node_timeout_ms; /* a node silent this long is down; default 5000 */
        uint32_t checkpoint_ms;   /* persistent sessions' checkpoints; 0 = none; default 1000 */
    } cluster;

    cfg_auth_t auth; /* top-level "auth": every listener without its own */

    struct {
        char *level; /* "error" | "warn" | "info" | "debug"; default "info" */
        char *file;  /* NULL = stderr */
        bool json;   /* log.format "json": one JSON object per line; default "text" */
    } log;

    /* The HTTP admin API (http listeners, /api/v1): off while no key is set.
     * Keys from api_keys and from the lines of api_keys_file (read at load,
     * so a reload re-reads it) end up together in keys. */
    struct {
        char **keys; /* api_keys, then the file's */
        size_t n_keys;
        char *api_keys_file; /* NULL = none */
        uint32_t max_body;   /* request body limit in bytes; default 1 MiB */
    } admin;
} cfg_t;

typedef enum cfg_err {
    CFG_OK = 0,
    CFG_ERR_IO = -1,     /* file cannot be read */
    CFG_ERR_SYNTAX = -2, /* not JSON */
    CFG_ERR_FIELD = -3,  /* unknown key, wrong type, bad value */
    CFG_ERR_NOMEM = -4,
} cfg_err_t;

const char *cfg_strerror(int err);

/* Defaults only, as if an empty file "{}" had been read. NULL on ENOMEM. */
cfg_t *cfg_defaults(void);

/* Read and validate `path`. On failure returns a cfg_err_t and writes a
 * one-line message "FILE: PATH: expected ..., got ..." into err. */
int cfg_load(const char *path, cfg_t **out, char *err, size_t errlen);

/* Same, from a JSON text held in memory; `name` stands for the file in
 * messages. Used by tests and the fuzz target. */
int cfg_parse(const char *name, const char *json, size_t len, cfg_t **out, char *err,
              size_t errlen);

void cfg_free(cfg_t *cfg);

/* Reload: next (freshly loaded) takes cur's values for everything a
 * running broker cannot change (listeners, data_dir, workers, node_id,
 * persistence, kafka, bridge.from_kafka, the spool and dead-letter
 * settings, log.file). Names (comma separated) of the settings that
 * differed go to restart ("needs restart"), those that will take effect to
 * applied. CFG_ERR_NOMEM leaves next unusable (free it). */
int cfg_reload_merge(cfg_t *next, const cfg_t *cur, char *applied, size_t alen, char *restart,
                     size_t rlen);

/* The effective configuration as a JSON text (malloc'd, NULL on ENOMEM),
 * secrets redacted as "***": admin keys, TLS private key paths, and Kafka
 * properties whose name mentions a password, secret, key or token. */
char *cfg_to_json(const cfg_t *cfg);

/* Bridge rules need Kafka: CFG_ERR_FIELD with "FILE: bridge.to_kafka:
 * expected kafka.bootstrap ..." in err when cfg has rules but neither
 * kafka.bootstrap nor dev_kafka (sluice --dev-kafka) provides a cluster. */
int cfg_check_bridge_kafka(const cfg_t *cfg, bool dev_kafka, char *err, size_t errlen);

#endif
