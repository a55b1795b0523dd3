/*
 * test_config.c - config/ unit tests. Run from tests/unit/ (ctest sets the
 * working directory) so that configs/... paths resolve.
 *
 * The bulk is one table: a JSON text and the substring its error must
 * contain (file name + JSON path + what was expected). The rest checks
 * parsed values and defaults.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define ERRLEN 512

void test_config_auth_register(CU_pSuite s);

typedef struct bad_case {
    const char *name; /* says the case */
    const char *json;
    int rc;             /* expected cfg_err_t */
    const char *expect; /* substring of the message */
} bad_case_t;

#define F CFG_ERR_FIELD
#define S CFG_ERR_SYNTAX
#define TLS_C "\"cert\":\"configs/tls/server.crt\""
#define TLS_K "\"key\":\"configs/tls/server.key\""
#define L1(body) "{\"listeners\":[" body "]}"
#define TK(body) "{\"bridge\":{\"to_kafka\":[" body "]}}"
#define FK(body) "{\"bridge\":{\"from_kafka\":[" body "]}}"

static const bad_case_t bad_cases[] = {
    /* syntax */
    {"empty_text_is_syntax_error", "", S, "bad.json: invalid JSON: empty file"},
    {"whitespace_only_is_syntax_error", " \n\t", S, "bad.json: invalid JSON: empty file"},
    {"trailing_comma_gives_line_col", "{\n \"a\": [1,\n   2,,]}", S,
     "bad.json:3:6: invalid JSON near ',]}'"},
    {"truncated_object", "{\"workers\":", S,
     "bad.json:1:12: invalid JSON: unexpected end of input"},
    {"trailing_garbage", "{} x", S, "bad.json:1:4: invalid JSON near 'x'"},
    {"single_quotes", "{'workers': 1}", S, "bad.json:1:3: invalid JSON near 'workers'"},
    {"comment_is_not_json", "{ // hi\n}", S, "bad.json:1:4: invalid JSON near '/ hi'"},
    /* top level */
    {"top_level_array", "[]", F, "bad.json: top level: expected object, got array"},
    {"top_level_string", "\"x\"", F, "bad.json: top level: expected object, got string"},
    {"unknown_top_key", "{\"wrokers\":1}", F,
     "bad.json: wrokers: unknown key (expected one of listeners, data_dir, workers"},
    {"duplicate_top_key", "{\"workers\":1,\"workers\":2}", F, "bad.json: workers: duplicate key"},
    {"workers_string", "{\"workers\":\"4\"}", F,
     "bad.json: workers: expected integer 0..256, got string"},
    {"workers_too_big", "{\"workers\":257}", F,
     "bad.json: workers: expected integer 0..256, got 257"},
    {"workers_negative", "{\"workers\":-1}", F,
     "bad.json: workers: expected integer 0..256, got -1"},
    {"workers_fraction", "{\"workers\":1.5}", F,
     "bad.json: workers: expected integer 0..256, got 1.5"},
    {"data_dir_number", "{\"data_dir\":1}", F,
     "bad.json: data_dir: expected non-empty string, got number"},
    {"data_dir_empty", "{\"data_dir\":\"\"}", F,
     "bad.json: data_dir: expected non-empty string, got \"\""},
    {"data_dir_null", "{\"data_dir\":null}", F,
     "bad.json: data_dir: expected non-empty string, got null"},
    {"node_id_bad_char", "{\"node_id\":\"a b\"}", F,
     "bad.json: node_id: expected string of 1..64 characters [A-Za-z0-9._-], got \"a b\""},
    {"node_id_empty", "{\"node_id\":\"\"}", F, "bad.json: node_id: expected string of 1..64"},
    {"node_id_too_long",
     "{\"node_id\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}", F,
     "bad.json: node_id: expected string of 1..64"},
    {"node_id_number", "{\"node_id\":7}", F,
     "bad.json: node_id: expected string of 1..64 characters [A-Za-z0-9._-], got number"},
    {"invalid_utf8_string", "{\"data_dir\":\"\xff\xfe\"}", F,
     "bad.json: data_dir: expected UTF-8 string"},
    /* listeners */
    {"listeners_object", "{\"listeners\":{}}", F,
     "bad.json: listeners: expected array of listener objects, got object"},
    {"listeners_empty", "{\"listeners\":[]}", F,
     "bad.json: listeners: expected at least one listener"},
    {"listener_not_object", L1("1"), F, "bad.json: listeners[0]: expected object, got number"},
    {"listener_unknown_key", L1("{\"protocl\":\"mqtt\"}"), F,
     "bad.json: listeners[0].protocl: unknown key (expected one of protocol, bind, path, cert, "
     "key, ca, auth, static_dir)"},
    /* auth (top level and per listener) */
    {"auth_not_object", "{\"auth\":[]}", F, "bad.json: auth: expected object, got array"},
    {"auth_unknown_key", "{\"auth\":{\"password\":\"x\"}}", F,
     "bad.json: auth.password: unknown key (expected one of allow_anonymous, password_file, "
     "acl_file, acl, http, jwt, use_identity_as_username, cert_identity)"},
    {"auth_cert_both", "{\"auth\":{\"use_identity_as_username\":true,\"cert_identity\":\"cn\"}}", F,
     "bad.json: auth.use_identity_as_username: \"cert_identity\" says it already"},
    {"auth_cert_and_password_file",
     "{\"auth\":{\"password_file\":\"p\",\"cert_identity\":\"san\"}}", F,
     "bad.json: auth.cert_identity: the certificate is the credential here"},
    {"auth_jwt_one_key", "{\"auth\":{\"jwt\":{\"secret\":\"s\",\"jwks\":\"j\"}}}", F,
     "bad.json: auth.jwt: expected exactly one of \"secret\", \"public_key\" or \"jwks\""},
    {"auth_jwt_alg_none", "{\"auth\":{\"jwt\":{\"secret\":\"s\",\"algorithms\":[\"none\"]}}}", F,
     "bad.json: auth.jwt.algorithms[0]: expected one of HS256"},
    {"auth_jwt_key_confusion",
     "{\"auth\":{\"jwt\":{\"public_key\":\"k\",\"algorithms\":[\"HS256\"]}}}", F,
     "bad.json: auth.jwt.algorithms: a public key only verifies RS*/ES* algorithms"},
    {"auth_jwt_and_password_file",
     "{\"auth\":{\"password_file\":\"p\",\"jwt\":{\"secret\":\"s\"}}}", F,
     "bad.json: auth.jwt: \"jwt\" checks the password field"},
    {"auth_http_needs_url", "{\"auth\":{\"http\":{\"timeout_ms\":100}}}", F,
     "bad.json: auth.http: expected \"url\" or \"acl_url\" (or both)"},
    {"auth_http_fail_enum", "{\"auth\":{\"http\":{\"url\":\"http://x/\",\"fail\":\"maybe\"}}}", F,
     "bad.json: auth.http.fail: expected one of"},
    {"auth_http_and_password_file",
     "{\"auth\":{\"password_file\":\"p\",\"http\":{\"url\":\"http://x/\"}}}", F,
     "bad.json: auth.http: \"url\" and \"password_file\" both check passwords"},
    {"auth_anon_contradicts_alias",
     "{\"mqtt\":{\"allow_anonymous\":true},\"auth\":{\"allow_anonymous\":false}}", F,
     "bad.json: auth.allow_anonymous: contradicts mqtt.allow_anonymous"},
    {"auth_password_file_empty", "{\"auth\":{\"password_file\":\"\"}}", F,
     "bad.json: auth.password_file: expected non-empty string, got \"\""},
    {"auth_acl_not_array", "{\"auth\":{\"acl\":{}}}", F,
     "bad.json: auth.acl: expected array of rule objects, got object"},
    {"auth_acl_rule_needs_topic", "{\"auth\":{\"acl\":[{\"access\":\"read\"}]}}", F,
     "bad.json: auth.acl[0]: expected exactly one of \"topic\" or \"pattern\""},
    {"auth_acl_rule_both", "{\"auth\":{\"acl\":[{\"topic\":\"a\",\"pattern\":\"b\"}]}}", F,
     "bad.json: auth.acl[0]: expected exactly one of \"topic\" or \"pattern\""},
    {"auth_acl_bad_access", "{\"auth\":{\"acl\":[{\"topic\":\"a\",\"access\":\"rw\"}]}}", F,
     "bad.json: auth.acl[0].access: expected one of deny|read|write|readwrite"},
    {"auth_acl_bad_filter", "{\"auth\":{\"acl\":[{\"topic\":\"a/#/b\"}]}}", F,
     "bad.json: auth.acl[0].topic: expected MQTT topic filter"},
    {"auth_acl_pattern_with_user", "{\"auth\":{\"acl\":[{\"pattern\":\"d/%c\",\"user\":\"u\"}]}}",
     F, "bad.json: auth.acl[0].user: a pattern applies to every client"},
    {"listener_auth_on_http", L1("{\"protocol\":\"http\",\"bind\":\"h:1\",\"auth\":{}}"), F,
     "bad.json: listeners[0].auth: only for MQTT listeners, not http"},
    {"listener_auth_bad_key",
     L1("{\"protocol\":\"mqtt\",\"bind\":\"h:1\",\"auth\":{\"acl_fil\":\"x\"}}"), F,
     "bad.json: listeners[0].auth.acl_fil: unknown key"},
    {"static_dir_not_http",
     L1("{\"protocol\":\"mqtt\",\"bind\":\"0.0.0.0:1\",\"static_dir\":\"/\"}"), F,
     "bad.json: listeners[0].static_dir: only for protocol http, not mqtt"},
    {"listener_missing_protocol", L1("{\"bind\":\"0.0.0.0:1\"}"), F,
     "bad.json: listeners[0].protocol: missing (expected one of mqtt|ws|mqtts|wss|http)"},
    {"listener_bad_protocol", L1("{\"protocol\":\"mqqt\",\"bind\":\"0.0.0.0:1\"}"), F,
     "bad.json: listeners[0].protocol: expected one of mqtt|ws|mqtts|wss|http, got \"mqqt\""},
    {"listener_protocol_number", L1("{\"protocol\":1,\"bind\":\"0.0.0.0:1\"}"), F,
     "bad.json: listeners[0].protocol: expected one of mqtt|ws|mqtts|wss|http, got number"},
    {"listener_missing_bind", L1("{\"protocol\":\"mqtt\"}"), F,
     "bad.json: listeners[0].bind: missing (expected \"HOST:PORT\" string)"},
    {"listener_bind_number",
     L1("{\"protocol\":\"mqtt\",\"bind\":\"0.0.0.0:1\"},{\"protocol\":\"ws\",\"bind\":1883}"), F,
     "bad.json: listeners[1].bind: expected \"HOST:PORT\" string, got number"},
    {"listener_bind_no_port", L1("{\"protocol\":\"mqtt\",\"bind\":\"0.0.0.0\"}"), F,
     "bad.json: listeners[0].bind: expected \"HOST:PORT\" string (missing \":PORT\"), got "
     "\"0.0.0.0\""},
    {"listener_bind_port_zero", L1("{\"protocol\":\"mqtt\",\"bind\":\"0.0.0.0:0\"}"), F,
     "bad.json: listeners[0].bind: expected \"HOST:PORT\" string (port must be 1..65535)"},
    {"listener_bind_port_too_big", L1("{\"protocol\":\"mqtt\",\"bind\":\"0.0.0.0:65536\"}"), F,
     "listeners[0].bind: expected \"HOST:PORT\" string (port must be 1..65535), got "
     "\"0.0.0.0:65536\""},
    {"listener_bind_port_not_digits", L1("{\"protocol\":\"mqtt\",\"bind\":\"h:+80\"}"), F,
     "listeners[0].bind: expected \"HOST:PORT\" string (port must be 1..65535)"},
    {"listener_bind_empty_host", L1("{\"protocol\":\"mqtt\",\"bind\":\":1883\"}"), F,
     "bad.json: listeners[0].bind: expected \"HOST:PORT\" string (empty host)"},
    {"listener_bind_ipv6_unbracketed", L1("{\"protocol\":\"mqtt\",\"bind\":\"::1:1883\"}"), F,
     "listeners[0].bind: expected \"HOST:PORT\" string (IPv6 addresses go in brackets"},
    {"listener_bind_ipv6_unclosed", L1("{\"protocol\":\"mqtt\",\"bind\":\"[::1:1883\"}"), F,
     "listeners[0].bind: expected \"HOST:PORT\" string (missing ']' after IPv6 address)"},
    {"listener_bind_bad_host", L1("{\"protocol\":\"mqtt\",\"bind\":\"a b:1\"}"), F,
     "listeners[0].bind: expected \"HOST:PORT\" string (bad host name)"},
    {"listener_duplicate_bind",
     L1("{\"protocol\":\"mqtt\",\"bind\":\"0.0.0.0:1883\"},{\"protocol\":\"ws\",\"bind\":\"0.0.0.0:"
        "1883\"}"),
     F,
     "bad.json: listeners[1].bind: duplicate address 0.0.0.0:1883, already used by listeners[0]"},
    {"listener_duplicate_bind_ipv6",
     L1("{\"protocol\":\"mqtt\",\"bind\":\"[::1]:1\"},{\"protocol\":\"mqtt\",\"bind\":\"[::1]:"
        "1\"}"),
     F, "listeners[1].bind: duplicate address [::1]:1, already used by listeners[0]"},
    {"listener_duplicate_key", L1("{\"protocol\":\"mqtt\",\"protocol\":\"ws\",\"bind\":\"h:1\"}"),
     F, "bad.json: listeners[0].protocol: duplicate key"},
    {"listener_path_without_slash", L1("{\"protocol\":\"ws\",\"bind\":\"h:1\",\"path\":\"mqtt\"}"),
     F, "bad.json: listeners[0].path: expected URL path starting with '/', got \"mqtt\""},
    {"listener_path_number", L1("{\"protocol\":\"ws\",\"bind\":\"h:1\",\"path\":1}"), F,
     "bad.json: listeners[0].path: expected string, got number"},
    {"listener_path_on_mqtt", L1("{\"protocol\":\"mqtt\",\"bind\":\"h:1\",\"path\":\"/x\"}"), F,
     "bad.json: listeners[0].path: only for protocol ws or wss, not mqtt"},
    {"mqtts_without_cert", L1("{\"protocol\":\"mqtts\",\"bind\":\"h:1\"," TLS_K "}"), F,
     "bad.json: listeners[0].cert: missing (protocol mqtts needs a PEM certificate file)"},
    {"wss_without_key", L1("{\"protocol\":\"wss\",\"bind\":\"h:1\"," TLS_C "}"), F,
     "bad.json: listeners[0].key: missing (protocol wss needs a PEM private key file)"},
    {"mqtts_cert_unreadable",
     L1("{\"protocol\":\"mqtts\",\"bind\":\"h:1\",\"cert\":\"configs/tls/nope.crt\"," TLS_K "}"), F,
     "bad.json: listeners[0].cert: cannot read \"configs/tls/nope.crt\": No such file or "
     "directory"},
    {"mqtts_ca_unreadable",
     L1("{\"protocol\":\"mqtts\",\"bind\":\"h:1\"," TLS_C "," TLS_K ",\"ca\":\"nope\"}"), F,
     "bad.json: listeners[0].ca: cannot read \"nope\": No such file or directory"},
    {"mqtts_cert_number", L1("{\"protocol\":\"mqtts\",\"bind\":\"h:1\",\"cert\":5," TLS_K "}"), F,
     "bad.json: listeners[0].cert: expected non-empty string, got number"},
    {"cert_on_plain_mqtt", L1("{\"protocol\":\"mqtt\",\"bind\":\"h:1\"," TLS_C "}"), F,
     "bad.json: listeners[0].cert: only for protocol mqtts or wss, not mqtt"},
    /* mqtt */
    {"mqtt_not_object", "{\"mqtt\":[]}", F, "bad.json: mqtt: expected object, got array"},
    {"mqtt_unknown_key", "{\"mqtt\":{\"max_infligt\":1}}", F,
     "bad.json: mqtt.max_infligt: unknown key (expected one of max_packet_size, max_inflight"},
    {"max_inflight_zero", "{\"mqtt\":{\"max_inflight\":0}}", F,
     "bad.json: mqtt.max_inflight: expected integer 1..65535, got 0"},
    {"max_inflight_string", "{\"mqtt\":{\"max_inflight\":\"32\"}}", F,
     "bad.json: mqtt.max_inflight: expected integer 1..65535, got string"},
    {"max_packet_size_too_small", "{\"mqtt\":{\"max_packet_size\":15}}", F,
     "bad.json: mqtt.max_packet_size: expected integer 16..268435455, got 15"},
    {"max_packet_size_too_big", "{\"mqtt\":{\"max_packet_size\":268435456}}", F,
     "bad.json: mqtt.max_packet_size: expected integer 16..268435455, got 268435456"},
    {"max_queued_negative", "{\"mqtt\":{\"max_queued\":-5}}", F,
     "bad.json: mqtt.max_queued: expected integer 0..4294967295, got -5"},
    {"queue_full_unknown", "{\"mqtt\":{\"queue_full\":\"block\"}}", F,
     "bad.json: mqtt.queue_full: expected one of backpressure|drop, got \"block\""},
    {"queue_full_timeout_string", "{\"mqtt\":{\"queue_full_timeout_ms\":\"1s\"}}", F,
     "bad.json: mqtt.queue_full_timeout_ms: expected integer 0..86400000, got string"},
    {"max_out_bytes_small", "{\"mqtt\":{\"max_out_bytes\":100}}", F,
     "bad.json: mqtt.max_out_bytes: expected integer 4096..4294967295, got 100"},
    {"keepalive_max_too_big", "{\"mqtt\":{\"keepalive_max\":65536}}", F,
     "bad.json: mqtt.keepalive_max: expected integer 0..65535, got 65536"},
    {"max_session_expiry_too_big", "{\"mqtt\":{\"max_session_expiry\":4294967296}}", F,
     "bad.json: mqtt.max_session_expiry: expected integer 0..4294967295, got 4294967296"},
    {"max_topic_levels_zero", "{\"mqtt\":{\"max_topic_levels\":0}}", F,
     "bad.json: mqtt.max_topic_levels: expected integer 1..65536, got 0"},
    {"max_topic_levels_too_big", "{\"mqtt\":{\"max_topic_levels\":65537}}", F,
     "bad.json: mqtt.max_topic_levels: expected integer 1..65536, got 65537"},
    {"max_topic_length_too_big", "{\"mqtt\":{\"max_topic_length\":65536}}", F,
     "bad.json: mqtt.max_topic_length: expected integer 1..65535, got 65536"},
    {"max_connections_negative", "{\"mqtt\":{\"max_connections\":-1}}", F,
     "bad.json: mqtt.max_connections: expected integer 0..4294967295, got -1"},
    {"max_subscriptions_string", "{\"mqtt\":{\"max_subscriptions\":\"10\"}}", F,
     "bad.json: mqtt.max_subscriptions: expected integer 0..4294967295, got string"},
    {"max_retained_float", "{\"mqtt\":{\"max_retained\":1.5}}", F,
     "bad.json: mqtt.max_retained: expected integer 0..4294967295, got 1.5"},
    {"max_retained_bytes_bool", "{\"mqtt\":{\"max_retained_bytes\":false}}", F,
     "bad.json: mqtt.max_retained_bytes: expected integer >= 0, got boolean"},
    {"receive_maximum_zero", "{\"mqtt\":{\"receive_maximum\":0}}", F,
     "bad.json: mqtt.receive_maximum: expected integer 1..65535, got 0"},
    {"topic_alias_maximum_bool", "{\"mqtt\":{\"topic_alias_maximum\":true}}", F,
     "bad.json: mqtt.topic_alias_maximum: expected integer 0..65535, got boolean"},
    {"retain_available_string", "{\"mqtt\":{\"retain_available\":\"yes\"}}", F,
     "bad.json: mqtt.retain_available: expected true or false, got string"},
    {"allow_anonymous_number", "{\"mqtt\":{\"allow_anonymous\":1}}", F,
     "bad.json: mqtt.allow_anonymous: expected true or false, got number"},
    {"allow_zero_length_clientid_null", "{\"mqtt\":{\"allow_zero_length_clientid\":null}}", F,
     "bad.json: mqtt.allow_zero_length_clientid: expected true or false, got null"},
    {"response_information_number", "{\"mqtt\":{\"response_information\":1}}", F,
     "bad.json: mqtt.response_information: expected non-empty string or null, got number"},
    {"sys_interval_too_big", "{\"mqtt\":{\"sys_interval\":86401}}", F,
     "bad.json: mqtt.sys_interval: expected integer 0..86400, got 86401"},
    {"number_overflowing_double", "{\"mqtt\":{\"sys_interval\":1e999}}", F,
     "bad.json: mqtt.sys_interval: expected integer 0..86400, got inf"},
    /* persistence */
    {"persistence_not_object", "{\"persistence\":\"batch\"}", F,
     "bad.json: persistence: expected object, got string"},
    {"persistence_unknown_key", "{\"persistence\":{\"fsync\":true}}", F,
     "bad.json: persistence.fsync: unknown key (expected one of sync, flush_ms)"},
    {"persistence_bad_sync", "{\"persistence\":{\"sync\":\"sometimes\"}}", F,
     "bad.json: persistence.sync: expected one of none|batch|always, got \"sometimes\""},
    {"persistence_sync_bool", "{\"persistence\":{\"sync\":true}}", F,
     "bad.json: persistence.sync: expected one of none|batch|always, got boolean"},
    {"flush_ms_zero", "{\"persistence\":{\"flush_ms\":0}}", F,
     "bad.json: persistence.flush_ms: expected integer 1..60000, got 0"},
    {"flush_ms_too_big", "{\"persistence\":{\"flush_ms\":60001}}", F,
     "bad.json: persistence.flush_ms: expected integer 1..60000, got 60001"},
    /* log */
    {"log_unknown_key", "{\"log\":{\"lvl\":\"info\"}}", F,
     "bad.json: log.lvl: unknown key (expected one of level, file, format)"},
    {"log_bad_level", "{\"log\":{\"level\":\"verbose\"}}", F,
     "bad.json: log.level: expected one of error|warn|info|debug, got \"verbose\""},
    {"log_file_empty", "{\"log\":{\"file\":\"\"}}", F,
     "bad.json: log.file: expected non-empty string, got \"\""},
    /* kafka */
    {"kafka_unknown_key", "{\"kafka\":{\"brokers\":\"a:1\"}}", F,
     "bad.json: kafka.brokers: unknown key (expected one of bootstrap, properties)"},
    {"kafka_bootstrap_number", "{\"kafka\":{\"bootstrap\":9092}}", F,
     "bad.json: kafka.bootstrap: expected \"HOST:PORT[,HOST:PORT...]\" string or null, got number"},
    {"kafka_bootstrap_no_port", "{\"kafka\":{\"bootstrap\":\"a:1,b\"}}", F,
     "bad.json: kafka.bootstrap: expected \"HOST:PORT[,HOST:PORT...]\" string or null (missing "
     "\":PORT\")"},
    {"kafka_properties_array", "{\"kafka\":{\"properties\":[]}}", F,
     "bad.json: kafka.properties: expected object, got array"},
    {"kafka_property_object", "{\"kafka\":{\"properties\":{\"acks\":{}}}}", F,
     "bad.json: kafka.properties.acks: expected string, number or boolean, got object"},
    {"kafka_property_null", "{\"kafka\":{\"properties\":{\"linger.ms\":null}}}", F,
     "bad.json: kafka.properties[\"linger.ms\"]: expected string, number or boolean, got null"},
    {"kafka_property_duplicate", "{\"kafka\":{\"properties\":{\"acks\":\"1\",\"acks\":\"all\"}}}",
     F, "bad.json: kafka.properties.acks: duplicate key"},
    {"kafka_property_bootstrap_servers",
     "{\"kafka\":{\"properties\":{\"bootstrap.servers\":\"a:1\"}}}", F,
     "bad.json: kafka.properties[\"bootstrap.servers\"]: set kafka.bootstrap instead"},
    /* bridge */
    {"bridge_not_object", "{\"bridge\":[]}", F, "bad.json: bridge: expected object, got array"},
    {"bridge_unknown_key", "{\"bridge\":{\"to_mqtt\":[]}}", F,
     "bad.json: bridge.to_mqtt: unknown key (expected one of to_kafka, from_kafka, spool_after_ms"},
    {"to_kafka_not_array", "{\"bridge\":{\"to_kafka\":{}}}", F,
     "bad.json: bridge.to_kafka: expected array of rule objects, got object"},
    {"to_kafka_missing_match", TK("{\"topic\":\"t\"}"), F,
     "bad.json: bridge.to_kafka[0].match: missing (expected MQTT topic filter)"},
    {"to_kafka_bad_filter_hash", TK("{\"match\":\"a/#/b\",\"topic\":\"t\"}"), F,
     "bad.json: bridge.to_kafka[0].match: expected MQTT topic filter ('#' must be the whole last "
     "level), got \"a/#/b\""},
    {"to_kafka_bad_filter_plus", TK("{\"match\":\"a/b+\",\"topic\":\"t\"}"), F,
     "bad.json: bridge.to_kafka[0].match: expected MQTT topic filter ('+' must fill a whole "
     "level)"},
    {"to_kafka_match_number", TK("{\"match\":1,\"topic\":\"t\"}"), F,
     "bad.json: bridge.to_kafka[0].match: expected non-empty string, got number"},
    {"to_kafka_missing_topic", TK("{\"match\":\"a\"}"), F,
     "bad.json: bridge.to_kafka[0].topic: missing (expected Kafka topic template)"},
    {"to_kafka_topic_bad_char", TK("{\"match\":\"a\",\"topic\":\"a/b\"}"), F,
     "bad.json: bridge.to_kafka[0].topic: '/' is not allowed in a Kafka topic name"},
    {"to_kafka_unknown_placeholder", TK("{\"match\":\"a/+\",\"topic\":\"t\",\"key\":\"{device}\"}"),
     F,
     "bad.json: bridge.to_kafka[0].key: unknown placeholder {device} (expected {N}, {topic}, "
     "{clientid}, {username} or {node})"},
    {"to_kafka_unbalanced_open", TK("{\"match\":\"a/+\",\"topic\":\"t-{2\"}"), F,
     "bad.json: bridge.to_kafka[0].topic: unbalanced '{' in template \"t-{2\""},
    {"to_kafka_unbalanced_close", TK("{\"match\":\"a/+\",\"topic\":\"t\",\"key\":\"x}\"}"), F,
     "bad.json: bridge.to_kafka[0].key: unbalanced '}' in template \"x}\""},
    {"to_kafka_nested_braces", TK("{\"match\":\"a/+\",\"topic\":\"t\",\"key\":\"{{1}}\"}"), F,
     "bad.json: bridge.to_kafka[0].key: unbalanced '{'"},
    {"to_kafka_level_zero", TK("{\"match\":\"a/+\",\"topic\":\"t\",\"key\":\"{0}\"}"), F,
     "bad.json: bridge.to_kafka[0].key: placeholder {0}: topic levels count from 1"},
    {"to_kafka_level_beyond_match", TK("{\"match\":\"a/+/b\",\"topic\":\"t\",\"key\":\"{4}\"}"), F,
     "bad.json: bridge.to_kafka[0].key: placeholder {4}: match has only 3 levels"},
    {"to_kafka_from_placeholder_rejected",
     TK("{\"match\":\"a\",\"topic\":\"t\",\"key\":\"{key}\"}"), F,
     "bad.json: bridge.to_kafka[0].key: unknown placeholder {key}"},
    {"to_kafka_bad_format", TK("{\"match\":\"a\",\"topic\":\"t\",\"format\":\"avro\"}"), F,
     "bad.json: bridge.to_kafka[0].format: expected one of raw|json, got \"avro\""},
    {"to_kafka_bad_ack", TK("{\"match\":\"a\",\"topic\":\"t\",\"ack\":\"never\"}"), F,
     "bad.json: bridge.to_kafka[0].ack: expected one of kafka|local, got \"never\""},
    {"to_kafka_final_string", TK("{\"match\":\"a\",\"topic\":\"t\",\"final\":\"true\"}"), F,
     "bad.json: bridge.to_kafka[0].final: expected true or false, got string"},
    {"to_kafka_unknown_key", TK("{\"match\":\"a\",\"topic\":\"t\",\"qos\":1}"), F,
     "bad.json: bridge.to_kafka[0].qos: unknown key (expected one of match, topic, key, headers, "
     "format, ack, final)"},
    {"to_kafka_header_number", TK("{\"match\":\"a\",\"topic\":\"t\",\"headers\":{\"h\":1}}"), F,
     "bad.json: bridge.to_kafka[0].headers.h: expected string, got number"},
    {"to_kafka_header_bad_template",
     TK("{\"match\":\"a\",\"topic\":\"t\",\"headers\":{\"h\":\"{x}\"}}"), F,
     "bad.json: bridge.to_kafka[0].headers.h: unknown placeholder {x}"},
    {"to_kafka_second_rule_reported",
     TK("{\"match\":\"a\",\"topic\":\"t\"},{\"match\":\"\",\"topic\":\"t\"}"), F,
     "bad.json: bridge.to_kafka[1].match: expected non-empty string, got \"\""},
    {"from_kafka_missing_topic", FK("{\"mqtt_topic\":\"a\"}"), F,
     "bad.json: bridge.from_kafka[0].topic: missing (expected Kafka topic or \"^regex\")"},
    {"from_kafka_bad_regex", FK("{\"topic\":\"^(a\"}"), F,
     "bad.json: bridge.from_kafka[0].topic: expected extended regular expression, got \"^(a\""},
    {"from_kafka_huge_regex", FK("{\"topic\":\"^((a{255}){255}){255}\"}"), F,
     "bad.json: bridge.from_kafka[0].topic: regular expression too complex"},
    {"from_kafka_bad_topic_name", FK("{\"topic\":\"a b\"}"), F,
     "bad.json: bridge.from_kafka[0].topic: expected Kafka topic name"},
    {"from_kafka_qos_3", FK("{\"topic\":\"t\",\"qos\":3}"), F,
     "bad.json: bridge.from_kafka[0].qos: expected integer 0..2, got 3"},
    {"from_kafka_retain_number", FK("{\"topic\":\"t\",\"retain\":0}"), F,
     "bad.json: bridge.from_kafka[0].retain: expected true or false, got number"},
    {"from_kafka_cluster_records_string", FK("{\"topic\":\"t\",\"cluster_records\":\"yes\"}"), F,
     "bad.json: bridge.from_kafka[0].cluster_records: expected true or false, got string"},
    {"from_kafka_group_empty", FK("{\"topic\":\"t\",\"group\":\"\"}"), F,
     "bad.json: bridge.from_kafka[0].group: expected non-empty string, got \"\""},
    {"from_kafka_unknown_placeholder", FK("{\"topic\":\"t\",\"mqtt_topic\":\"d/{1}\"}"), F,
     "bad.json: bridge.from_kafka[0].mqtt_topic: unknown placeholder {1} (expected {key}, {topic}, "
     "{partition} or {header.NAME})"},
    {"from_kafka_empty_header_name", FK("{\"topic\":\"t\",\"mqtt_topic\":\"d/{header.}\"}"), F,
     "bad.json: bridge.from_kafka[0].mqtt_topic: unknown placeholder {header.}"},
    {"from_kafka_wildcard_in_topic", FK("{\"topic\":\"t\",\"mqtt_topic\":\"d/+/x\"}"), F,
     "bad.json: bridge.from_kafka[0].mqtt_topic: '+' is not allowed in an MQTT topic name"},
    {"from_kafka_unknown_key", FK("{\"topic\":\"t\",\"match\":\"x\"}"), F,
     "bad.json: bridge.from_kafka[0].match: unknown key (expected one of topic, group, mqtt_topic, "
     "qos, retain, cluster_records)"},
    {"from_kafka_stacked_quantifiers", FK("{\"topic\":\"^b+++\"}"), F,
     "bad.json: bridge.from_kafka[0].topic: regular expression too complex"},
    {"bridge_spool_high_water_zero", "{\"bridge\":{\"spool_high_water\":0}}", F,
     "bad.json: bridge.spool_high_water: expected integer 1..100, got 0"},
    {"bridge_spool_high_water_over_100", "{\"bridge\":{\"spool_high_water\":101}}", F,
     "bad.json: bridge.spool_high_water: expected integer 1..100, got 101"},
    {"control_char_in_key_stays_one_line", "{\"mqtt\":{\"max\n\":1}}", F,
     "bad.json: mqtt[\"max?\"]: unknown key"},
    {"listener_bind_ipv6_no_port", L1("{\"protocol\":\"mqtt\",\"bind\":\"[::1]\"}"), F,
     "listeners[0].bind: expected \"HOST:PORT\" string (missing \":PORT\"), got \"[::1]\""},
    {"listener_bind_ipv6_empty", L1("{\"protocol\":\"mqtt\",\"bind\":\"[]:1\"}"), F,
     "listeners[0].bind: expected \"HOST:PORT\" string (empty host)"},
    {"to_kafka_empty_header_name", TK("{\"match\":\"a\",\"topic\":\"t\",\"headers\":{\"\":\"x\"}}"),
     F, "bad.json: bridge.to_kafka[0].headers: expected non-empty key, got \"\""},
    {"to_kafka_topic_too_long",
     TK("{\"match\":\"a\",\"topic\":\""
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789"
        "01234567890123456789012345678901234567890123456789\"}"),
     F, "bad.json: bridge.to_kafka[0].topic: expected Kafka topic name of 1..249 characters"},
    {"from_kafka_not_array", "{\"bridge\":{\"from_kafka\":\"commands\"}}", F,
     "bad.json: bridge.from_kafka: expected array of rule objects, got string"},
    {"from_kafka_rule_not_object", FK("\"commands\""), F,
     "bad.json: bridge.from_kafka[0]: expected object, got string"},
    {"log_not_object", "{\"log\":\"debug\"}", F, "bad.json: log: expected object, got string"},
    {"cluster_not_object", "{\"cluster\":true}", F,
     "bad.json: cluster: expected object, got boolean"},
    {"cluster_unknown_key", "{\"cluster\":{\"nodes\":3}}", F, "bad.json: cluster.nodes: unknown"},
    {"cluster_enabled_string", "{\"cluster\":{\"enabled\":\"yes\"}}", F,
     "bad.json: cluster.enabled: expected true or false, got string"},
    {"cluster_id_bad_char", "{\"cluster\":{\"id\":\"a/b\"}}", F,
     "bad.json: cluster.id: expected string of 1..64 characters [A-Za-z0-9._-], got \"a/b\""},
    {"cluster_prefix_empty", "{\"cluster\":{\"topic_prefix\":\"\"}}", F,
     "bad.json: cluster.topic_prefix: expected string of 1..64"},
    {"cluster_partitions_zero", "{\"cluster\":{\"partitions\":0}}", F,
     "bad.json: cluster.partitions: expected integer 1..10000"},
    {"cluster_checkpoint_too_long", "{\"cluster\":{\"checkpoint_ms\":600001}}", F,
     "bad.json: cluster.checkpoint_ms: expected integer 0..600000, got 600001"},
    {"cluster_timeout_not_above_heartbeat",
     "{\"cluster\":{\"heartbeat_ms\":1000,\"node_timeout_ms\":1000}}", F,
     "bad.json: cluster.node_timeout_ms: expected more than cluster.heartbeat_ms (1000), got 1000"},
    {"kafka_not_object", "{\"kafka\":\"a:1\"}", F, "bad.json: kafka: expected object, got string"},
    {"spool_max_bytes_too_small", "{\"bridge\":{\"spool_max_bytes\":1048575}}", F,
     "bad.json: bridge.spool_max_bytes: expected integer >= 1048576, got 1048575"},
    {"spool_after_ms_string", "{\"bridge\":{\"spool_after_ms\":\"5s\"}}", F,
     "bad.json: bridge.spool_after_ms: expected integer 0..86400000, got string"},
    {"dead_letter_topic_bad", "{\"bridge\":{\"dead_letter_topic\":\"dead/letters\"}}", F,
     "bad.json: bridge.dead_letter_topic: expected Kafka topic name"},
    {"dead_letter_topic_number", "{\"bridge\":{\"dead_letter_topic\":1}}", F,
     "bad.json: bridge.dead_letter_topic: expected non-empty string or null, got number"},
};

static void test_bad_cases(void)
{
    size_t failed = 0;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *c = &bad_cases[i];
        char err[ERRLEN];
        cfg_t *sentinel = (cfg_t *)&failed, *cfg = sentinel;
        int rc = cfg_parse("bad.json", c->json, strlen(c->json), &cfg, err, sizeof(err));
        bool ok = rc == c->rc && strstr(err, c->expect) && cfg == sentinel && !strchr(err, '\n');
        if (!ok) {
            failed++;
            fprintf(stderr, "\n  FAIL %s: rc %d (want %d)\n    got:  %s\n    want: %s\n", c->name,
                    rc, c->rc, err, c->expect);
            if (rc == CFG_OK) cfg_free(cfg);
        }
        CU_ASSERT(ok);
    }
    CU_ASSERT_EQUAL(failed, 0);
}

/* ---- good configs -------------------------------------------------------- */

static cfg_t *parse_ok(const char *json)
{
    char err[ERRLEN] = "";
    cfg_t *cfg = NULL;
    int rc = cfg_parse("good.json", json, strlen(json), &cfg, err, sizeof(err));
    if (rc != CFG_OK) fprintf(stderr, "\n  unexpected error: %s\n", err);
    CU_ASSERT_EQUAL(rc, CFG_OK);
    return rc == CFG_OK ? cfg : NULL;
}

static void check_defaults(const cfg_t *c)
{
    CU_ASSERT_EQUAL_FATAL(c->n_listeners, 2);
    CU_ASSERT_EQUAL(c->listeners[0].protocol, CFG_PROTO_MQTT);
    CU_ASSERT_STRING_EQUAL(c->listeners[0].host, "0.0.0.0");
    CU_ASSERT_EQUAL(c->listeners[0].port, 1883);
    CU_ASSERT_PTR_NULL(c->listeners[0].path);
    CU_ASSERT_EQUAL(c->listeners[1].protocol, CFG_PROTO_WS);
    CU_ASSERT_STRING_EQUAL(c->listeners[1].host, "0.0.0.0");
    CU_ASSERT_EQUAL(c->listeners[1].port, 8083);
    CU_ASSERT_STRING_EQUAL(c->listeners[1].path, "/mqtt");
    CU_ASSERT_STRING_EQUAL(c->data_dir, "./data");
    CU_ASSERT_EQUAL(c->workers, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c->node_id);
    CU_ASSERT(strlen(c->node_id) >= 1 && strlen(c->node_id) <= 64);
    CU_ASSERT_EQUAL(c->mqtt.max_packet_size, 1048576);
    CU_ASSERT_EQUAL(c->mqtt.max_inflight, 32);
    CU_ASSERT_EQUAL(c->mqtt.max_queued, 1000);
    CU_ASSERT_EQUAL(c->mqtt.queue_full, CFG_QUEUE_BACKPRESSURE);
    CU_ASSERT_EQUAL(c->mqtt.queue_full_timeout_ms, 10000);
    CU_ASSERT_EQUAL(c->mqtt.max_out_bytes, 4u * 1024 * 1024);
    CU_ASSERT_EQUAL(c->mqtt.keepalive_max, 0);
    CU_ASSERT_EQUAL(c->mqtt.max_session_expiry, 0xFFFFFFFFu);
    CU_ASSERT_EQUAL(c->mqtt.receive_maximum, 64);
    CU_ASSERT_EQUAL(c->mqtt.topic_alias_maximum, 16);
    CU_ASSERT(c->mqtt.retain_available);
    CU_ASSERT(c->mqtt.allow_anonymous);
    CU_ASSERT(c->mqtt.allow_zero_length_clientid);
    CU_ASSERT_PTR_NULL(c->mqtt.response_information);
    CU_ASSERT_EQUAL(c->mqtt.sys_interval, 10);
    CU_ASSERT_EQUAL(c->mqtt.max_connections, 0);
    CU_ASSERT_EQUAL(c->mqtt.max_subscriptions, 1000);
    CU_ASSERT_EQUAL(c->mqtt.max_topic_levels, 128);
    CU_ASSERT_EQUAL(c->mqtt.max_topic_length, 65535);
    CU_ASSERT_EQUAL(c->mqtt.max_retained, 1000000);
    CU_ASSERT_EQUAL(c->mqtt.max_retained_bytes, (uint64_t)1 << 30);
    CU_ASSERT_EQUAL(c->persistence.sync, CFG_SYNC_BATCH);
    CU_ASSERT_EQUAL(c->persistence.flush_ms, 100);
    CU_ASSERT_PTR_NULL(c->kafka.bootstrap);
    CU_ASSERT_EQUAL(c->kafka.n_properties, 0);
    CU_ASSERT_EQUAL(c->bridge.n_to_kafka, 0);
    CU_ASSERT_EQUAL(c->bridge.n_from_kafka, 0);
    CU_ASSERT_EQUAL(c->bridge.spool_after_ms, 5000);
    CU_ASSERT_EQUAL(c->bridge.spool_max_bytes, (uint64_t)1 << 30);
    CU_ASSERT_PTR_NULL(c->bridge.dead_letter_topic);
    CU_ASSERT_STRING_EQUAL(c->log.level, "info");
    CU_ASSERT_PTR_NULL(c->log.file);
}

static void test_defaults_without_file(void)
{
    cfg_t *c = cfg_defaults();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_STRING_EQUAL(c->source, "<defaults>");
    check_defaults(c);
    cfg_free(c);
}

static void test_empty_object_is_defaults(void)
{
    cfg_t *c = parse_ok("{}");
    if (!c) return;
    CU_ASSERT_STRING_EQUAL(c->source, "good.json");
    check_defaults(c);
    cfg_free(c);
}

static void test_empty_sections_are_defaults(void)
{
    cfg_t *c = parse_ok("{\"mqtt\":{},\"persistence\":{},\"kafka\":{},\"bridge\":{},\"log\":{}}");
    if (!c) return;
    check_defaults(c);
    cfg_free(c);
}

static void test_full_file_values(void)
{
    char err[ERRLEN] = "";
    cfg_t *c = NULL;
    int rc = cfg_load("configs/good_full.json", &c, err, sizeof(err));
    if (rc) fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, CFG_OK);
    CU_ASSERT_STRING_EQUAL(c->source, "configs/good_full.json");
    CU_ASSERT_STRING_EQUAL(c->node_id, "node-a.1");
    CU_ASSERT_STRING_EQUAL(c->data_dir, "/var/lib/sluice");
    CU_ASSERT_EQUAL(c->workers, 4);

    CU_ASSERT_EQUAL_FATAL(c->n_listeners, 5);
    const cfg_listener_t *l = c->listeners;
    CU_ASSERT_EQUAL(l[0].protocol, CFG_PROTO_MQTT);
    CU_ASSERT_STRING_EQUAL(l[0].host, "127.0.0.1");
    CU_ASSERT_EQUAL(l[0].port, 1884);
    CU_ASSERT_EQUAL(l[1].protocol, CFG_PROTO_WS);
    CU_ASSERT_STRING_EQUAL(l[1].path, "/ws");
    CU_ASSERT_EQUAL(l[2].protocol, CFG_PROTO_MQTTS);
    CU_ASSERT_STRING_EQUAL(l[2].host, "::");
    CU_ASSERT_EQUAL(l[2].port, 8883);
    CU_ASSERT_STRING_EQUAL(l[2].cert, "configs/tls/server.crt");
    CU_ASSERT_STRING_EQUAL(l[2].key, "configs/tls/server.key");
    CU_ASSERT_STRING_EQUAL(l[2].ca, "configs/tls/ca.crt");
    CU_ASSERT_PTR_NULL(l[2].path);
    CU_ASSERT_EQUAL(l[3].protocol, CFG_PROTO_WSS);
    CU_ASSERT_STRING_EQUAL(l[3].host, "::1");
    CU_ASSERT_STRING_EQUAL(l[3].path, "/mqtt");
    CU_ASSERT_PTR_NULL(l[3].ca);
    CU_ASSERT_EQUAL(l[4].protocol, CFG_PROTO_HTTP);
    CU_ASSERT_STRING_EQUAL(l[4].host, "localhost");
    CU_ASSERT_EQUAL(l[4].port, 8080);

    CU_ASSERT_EQUAL(c->mqtt.max_packet_size, 65536);
    CU_ASSERT_EQUAL(c->mqtt.max_inflight, 100);
    CU_ASSERT_EQUAL(c->mqtt.max_queued, 5000);
    CU_ASSERT_EQUAL(c->mqtt.max_out_bytes, 8388608);
    CU_ASSERT_EQUAL(c->mqtt.keepalive_max, 600);
    CU_ASSERT_EQUAL(c->mqtt.max_session_expiry, 86400);
    CU_ASSERT_EQUAL(c->mqtt.receive_maximum, 20);
    CU_ASSERT_EQUAL(c->mqtt.topic_alias_maximum, 0);
    CU_ASSERT(!c->mqtt.retain_available);
    CU_ASSERT(!c->mqtt.allow_anonymous);
    CU_ASSERT(!c->mqtt.allow_zero_length_clientid);
    CU_ASSERT_STRING_EQUAL(c->mqtt.response_information, "resp/");
    CU_ASSERT_EQUAL(c->mqtt.sys_interval, 0);
    CU_ASSERT_EQUAL(c->persistence.sync, CFG_SYNC_ALWAYS);
    CU_ASSERT_EQUAL(c->persistence.flush_ms, 5);

    CU_ASSERT_STRING_EQUAL(c->kafka.bootstrap, "k1:9092,k2:9092");
    CU_ASSERT_EQUAL_FATAL(c->kafka.n_properties, 4);
    CU_ASSERT_STRING_EQUAL(c->kafka.properties[0].key, "compression.type");
    CU_ASSERT_STRING_EQUAL(c->kafka.properties[0].value, "lz4");
    CU_ASSERT_STRING_EQUAL(c->kafka.properties[1].value, "5");
    CU_ASSERT_STRING_EQUAL(c->kafka.properties[2].value, "true");
    CU_ASSERT_STRING_EQUAL(c->kafka.properties[3].value, "1.5");

    CU_ASSERT_EQUAL_FATAL(c->bridge.n_to_kafka, 2);
    const cfg_to_kafka_t *t = c->bridge.to_kafka;
    CU_ASSERT_STRING_EQUAL(t[0].match, "devices/+/telemetry/#");
    CU_ASSERT_STRING_EQUAL(t[0].topic, "telemetry");
    CU_ASSERT_STRING_EQUAL(t[0].key, "{2}");
    CU_ASSERT_EQUAL_FATAL(t[0].n_headers, 2);
    CU_ASSERT_STRING_EQUAL(t[0].headers[0].key, "node");
    CU_ASSERT_STRING_EQUAL(t[0].headers[0].value, "{node}");
    CU_ASSERT_STRING_EQUAL(t[0].headers[1].key, "client");
    CU_ASSERT_EQUAL(t[0].format, CFG_FORMAT_JSON);
    CU_ASSERT_EQUAL(t[0].ack, CFG_ACK_KAFKA);
    CU_ASSERT(t[0].final);
    CU_ASSERT_STRING_EQUAL(t[1].key, "{topic}");
    CU_ASSERT_EQUAL(t[1].n_headers, 0);
    CU_ASSERT_EQUAL(t[1].format, CFG_FORMAT_RAW);
    CU_ASSERT_EQUAL(t[1].ack, CFG_ACK_DEFAULT);
    CU_ASSERT(!t[1].final);

    CU_ASSERT_EQUAL_FATAL(c->bridge.n_from_kafka, 2);
    const cfg_from_kafka_t *f = c->bridge.from_kafka;
    CU_ASSERT_STRING_EQUAL(f[0].topic, "commands");
    CU_ASSERT_STRING_EQUAL(f[0].group, "cmd");
    CU_ASSERT_STRING_EQUAL(f[0].mqtt_topic, "devices/{key}/commands");
    CU_ASSERT_EQUAL(f[0].qos, 2);
    CU_ASSERT(f[0].retain);
    CU_ASSERT_STRING_EQUAL(f[1].topic, "^events\\..*");
    CU_ASSERT_STRING_EQUAL(f[1].group, "sluice-node-a.1");
    CU_ASSERT_EQUAL(f[1].qos, 1);
    CU_ASSERT(!f[1].retain);
    CU_ASSERT_EQUAL(c->bridge.spool_after_ms, 1000);
    CU_ASSERT_EQUAL(c->bridge.spool_max_bytes, 2097152);
    CU_ASSERT_STRING_EQUAL(c->bridge.dead_letter_topic, "sluice.dead");
    CU_ASSERT_STRING_EQUAL(c->log.level, "debug");
    CU_ASSERT_STRING_EQUAL(c->log.file, "/tmp/sluice.log");
    cfg_free(c);
}

static void test_listeners_replace_defaults(void)
{
    cfg_t *c = parse_ok("{\"listeners\":[{\"protocol\":\"ws\",\"bind\":\"[fe80::1%eth0]:80\"}]}");
    if (!c) return;
    CU_ASSERT_EQUAL_FATAL(c->n_listeners, 1);
    CU_ASSERT_STRING_EQUAL(c->listeners[0].host, "fe80::1%eth0");
    CU_ASSERT_EQUAL(c->listeners[0].port, 80);
    CU_ASSERT_STRING_EQUAL(c->listeners[0].path, "/mqtt");
    cfg_free(c);
}

static void test_same_port_other_host_is_fine(void)
{
    cfg_t *c = parse_ok("{\"listeners\":[{\"protocol\":\"mqtt\",\"bind\":\"127.0.0.1:1883\"},"
                        "{\"protocol\":\"mqtt\",\"bind\":\"[::1]:1883\"}]}");
    if (c) CU_ASSERT_EQUAL(c->n_listeners, 2);
    cfg_free(c);
}

static void test_comment_keys_are_ignored(void)
{
    cfg_t *c = parse_ok("{\"_comment\":\"x\",\"mqtt\":{\"_why\":[1,2],\"max_inflight\":7},"
                        "\"_a\":{\"anything\":true}}");
    if (c) CU_ASSERT_EQUAL(c->mqtt.max_inflight, 7);
    cfg_free(c);
}

static void test_nullable_fields_accept_null(void)
{
    cfg_t *c = parse_ok("{\"kafka\":{\"bootstrap\":null},\"log\":{\"file\":null},"
                        "\"mqtt\":{\"response_information\":null},"
                        "\"bridge\":{\"dead_letter_topic\":null,"
                        "\"from_kafka\":[{\"topic\":\"t\",\"mqtt_topic\":null,\"qos\":0}]}}");
    if (!c) return;
    CU_ASSERT_PTR_NULL(c->kafka.bootstrap);
    CU_ASSERT_PTR_NULL(c->log.file);
    CU_ASSERT_PTR_NULL(c->bridge.from_kafka[0].mqtt_topic);
    CU_ASSERT_EQUAL(c->bridge.from_kafka[0].qos, 0);
    cfg_free(c);
}

static void test_templates_accepted(void)
{
    cfg_t *c = parse_ok("{\"node_id\":\"n1\",\"bridge\":{\"to_kafka\":[{\"match\":\"a/+/+\","
                        "\"topic\":\"x-{2}.{3}-{node}\",\"key\":\"{clientid}/{username}/{topic}\","
                        "\"ack\":\"local\"},{\"match\":\"$SYS/#\",\"topic\":\"{9}\",\"key\":\"\"}],"
                        "\"from_kafka\":[{\"topic\":\"c\",\"mqtt_topic\":"
                        "\"d/{key}/{topic}/{partition}/{header.x-y}\"}]}}");
    if (!c) return;
    CU_ASSERT_EQUAL(c->bridge.to_kafka[0].ack, CFG_ACK_LOCAL);
    CU_ASSERT_STRING_EQUAL(c->bridge.to_kafka[1].key, "");
    CU_ASSERT_STRING_EQUAL(c->bridge.from_kafka[0].group, "sluice-n1");
    cfg_free(c);
}

static void test_bool_and_sync_values(void)
{
    static const char *const syncs[] = {"none", "batch", "always"};
    for (int i = 0; i < 3; i++) {
        char json[128];
        snprintf(json, sizeof(json), "{\"persistence\":{\"sync\":\"%s\",\"flush_ms\":60000}}",
                 syncs[i]);
        cfg_t *c = parse_ok(json);
        if (!c) continue;
        CU_ASSERT_EQUAL(c->persistence.sync, (cfg_sync_t)i);
        CU_ASSERT_EQUAL(c->persistence.flush_ms, 60000);
        cfg_free(c);
    }
}

static void test_queue_full_values(void)
{
    cfg_t *c = parse_ok("{\"mqtt\":{\"queue_full\":\"drop\",\"queue_full_timeout_ms\":0}}");
    if (!c) return;
    CU_ASSERT_EQUAL(c->mqtt.queue_full, CFG_QUEUE_DROP);
    CU_ASSERT_EQUAL(c->mqtt.queue_full_timeout_ms, 0);
    cfg_free(c);
}

static void test_limits_at_bounds(void)
{
    cfg_t *c = parse_ok("{\"workers\":256,\"mqtt\":{\"max_packet_size\":268435455,"
                        "\"max_inflight\":65535,\"max_session_expiry\":4294967295},"
                        "\"bridge\":{\"spool_max_bytes\":1048576}}");
    if (!c) return;
    CU_ASSERT_EQUAL(c->workers, 256);
    CU_ASSERT_EQUAL(c->mqtt.max_packet_size, 268435455);
    CU_ASSERT_EQUAL(c->mqtt.max_inflight, 65535);
    CU_ASSERT_EQUAL(c->mqtt.max_session_expiry, 4294967295u);
    CU_ASSERT_EQUAL(c->bridge.spool_max_bytes, 1048576);
    cfg_free(c);
}

/* Bridge rules without a Kafka cluster are refused, naming file and field;
 * --dev-kafka (dev_kafka) or kafka.bootstrap provides one. */
static void test_bridge_rules_need_kafka(void)
{
    static const struct {
        const char *json;
        bool dev_kafka;
        const char *want; /* NULL: accepted */
    } cases[] = {
        {TK("{\"match\":\"a\",\"topic\":\"t\"}"), false,
         "good.json: bridge.to_kafka: expected kafka.bootstrap to be set (bridge rules and the "
         "cluster need a Kafka cluster; --dev-kafka starts a development one), got none"},
        {"{\"cluster\":{\"enabled\":true}}", false,
         "good.json: cluster.enabled: expected kafka.bootstrap to be set"},
        {"{\"cluster\":{\"enabled\":false}}", false, NULL},
        {FK("{\"topic\":\"t\"}"), false, "good.json: bridge.from_kafka: expected kafka.bootstrap"},
        {TK("{\"match\":\"a\",\"topic\":\"t\"}"), true, NULL},
        {"{\"kafka\":{\"bootstrap\":\"k:9092\"},\"bridge\":{\"from_kafka\":[{\"topic\":\"t\"}]}}",
         false, NULL},
        {"{\"bridge\":{\"spool_after_ms\":100}}", false, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cfg_t *c = parse_ok(cases[i].json);
        if (!c) continue;
        char err[ERRLEN] = "";
        int rc = cfg_check_bridge_kafka(c, cases[i].dev_kafka, err, sizeof(err));
        if (!cases[i].want) {
            CU_ASSERT_EQUAL(rc, CFG_OK);
        } else {
            CU_ASSERT_EQUAL(rc, CFG_ERR_FIELD);
            if (!strstr(err, cases[i].want)) fprintf(stderr, "\n  got \"%s\"\n", err);
            CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].want));
        }
        cfg_free(c);
    }
}

static void test_client_limits(void)
{
    cfg_t *c = parse_ok("{\"mqtt\":{\"max_connections\":5000,\"max_subscriptions\":0,"
                        "\"max_topic_levels\":65536,\"max_topic_length\":1,"
                        "\"max_retained\":0,\"max_retained_bytes\":1099511627776}}");
    if (!c) return;
    CU_ASSERT_EQUAL(c->mqtt.max_connections, 5000);
    CU_ASSERT_EQUAL(c->mqtt.max_subscriptions, 0);
    CU_ASSERT_EQUAL(c->mqtt.max_topic_levels, 65536);
    CU_ASSERT_EQUAL(c->mqtt.max_topic_length, 1);
    CU_ASSERT_EQUAL(c->mqtt.max_retained, 0);
    CU_ASSERT_EQUAL(c->mqtt.max_retained_bytes, (uint64_t)1 << 40);
    cfg_free(c);
}

/* ---- files and API edges --------------------------------------------------- */

static void expect_load_error(const char *path, int want_rc, const char *want)
{
    char err[ERRLEN] = "";
    cfg_t *sentinel = (cfg_t *)&err, *c = sentinel;
    int rc = cfg_load(path, &c, err, sizeof(err));
    if (rc != want_rc || !strstr(err, want))
        fprintf(stderr, "\n  %s: rc %d, got \"%s\", want \"%s\"\n", path, rc, err, want);
    CU_ASSERT_EQUAL(rc, want_rc);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    CU_ASSERT_PTR_EQUAL(c, sentinel);
    if (rc == CFG_OK) cfg_free(c);
}

static void test_missing_file(void)
{
    expect_load_error("nope.json", CFG_ERR_IO, "nope.json: cannot read: No such file or directory");
}

static void test_directory_is_io_error(void)
{
    expect_load_error("configs", CFG_ERR_IO, "configs: cannot read: Is a directory");
}

static void test_file_wrong_type(void)
{
    expect_load_error("configs/bad_type.json", CFG_ERR_FIELD,
                      "configs/bad_type.json: listeners[1].bind: expected \"HOST:PORT\" string, "
                      "got number");
}

static void test_file_syntax_line_col(void)
{
    expect_load_error("configs/bad_syntax.json", CFG_ERR_SYNTAX,
                      "configs/bad_syntax.json:3:20: invalid JSON near '\"info\" }'");
}

static void test_file_empty(void)
{
    expect_load_error("configs/empty.json", CFG_ERR_SYNTAX,
                      "configs/empty.json: invalid JSON: empty");
}

static void test_file_tls_missing_cert(void)
{
    expect_load_error("configs/bad_tls_missing_cert.json", CFG_ERR_FIELD,
                      "configs/bad_tls_missing_cert.json: listeners[0].cert: cannot read "
                      "\"configs/tls/missing.crt\"");
}

static void test_examples_load(void)
{
    static const char *const files[] = {"../../examples/minimal.json", "../../examples/sluice.json",
                                        "configs/empty_object.json"};
    for (size_t i = 0; i < 3; i++) {
        char err[ERRLEN] = "";
        cfg_t *c = NULL;
        int rc = cfg_load(files[i], &c, err, sizeof(err));
        if (rc) fprintf(stderr, "\n  %s\n", err);
        CU_ASSERT_EQUAL(rc, CFG_OK);
        cfg_free(c);
    }
}

static void test_nul_byte_in_input(void)
{
    static const char json[] = "{\"workers\":1}\0garbage";
    char err[ERRLEN];
    cfg_t *c = NULL;
    int rc = cfg_parse("nul.json", json, sizeof(json) - 1, &c, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, CFG_ERR_SYNTAX);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "nul.json:1:14: invalid JSON: NUL byte"));
    CU_ASSERT_PTR_NULL(c);
}

static void test_length_is_respected(void)
{
    /* Only the first 2 bytes are the document. */
    const char *json = "{}{\"workers\":\"x\"}";
    cfg_t *c = NULL;
    CU_ASSERT_EQUAL(cfg_parse("len.json", json, 2, &c, NULL, 0), CFG_OK);
    cfg_free(c);
}

static void test_error_buffer_edges(void)
{
    const char *json = "{\"workers\":-1}";
    char tiny[8];
    cfg_t *c = NULL;
    /* NULL / zero-length / short buffers: same code, no overflow. */
    CU_ASSERT_EQUAL(cfg_parse("x.json", json, strlen(json), &c, NULL, 0), CFG_ERR_FIELD);
    CU_ASSERT_EQUAL(cfg_parse("x.json", json, strlen(json), &c, tiny, sizeof(tiny)), CFG_ERR_FIELD);
    CU_ASSERT_STRING_EQUAL(tiny, "x.json:");
    CU_ASSERT_EQUAL(cfg_parse(NULL, json, strlen(json), &c, tiny, sizeof(tiny)), CFG_ERR_FIELD);
    CU_ASSERT_PTR_NULL(c);
    cfg_free(NULL);
}

static void test_strerror(void)
{
    CU_ASSERT_STRING_EQUAL(cfg_strerror(CFG_OK), "success");
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg_strerror(CFG_ERR_IO), "read"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg_strerror(CFG_ERR_SYNTAX), "JSON"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg_strerror(CFG_ERR_FIELD), "value"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg_strerror(CFG_ERR_NOMEM), "memory"));
    CU_ASSERT_PTR_NOT_NULL(strstr(cfg_strerror(42), "unknown"));
}

int main(void)
{
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"bad_configs_name_file_path_and_expectation", test_bad_cases},
        {"defaults_without_file", test_defaults_without_file},
        {"empty_object_is_defaults", test_empty_object_is_defaults},
        {"empty_sections_are_defaults", test_empty_sections_are_defaults},
        {"full_file_values", test_full_file_values},
        {"listeners_replace_defaults", test_listeners_replace_defaults},
        {"same_port_other_host_is_fine", test_same_port_other_host_is_fine},
        {"comment_keys_are_ignored", test_comment_keys_are_ignored},
        {"nullable_fields_accept_null", test_nullable_fields_accept_null},
        {"templates_accepted", test_templates_accepted},
        {"sync_values", test_bool_and_sync_values},
        {"queue_full_values", test_queue_full_values},
        {"limits_at_bounds", test_limits_at_bounds},
        {"bridge_rules_need_kafka", test_bridge_rules_need_kafka},
        {"client_limits", test_client_limits},
        {"missing_file", test_missing_file},
        {"directory_is_io_error", test_directory_is_io_error},
        {"file_wrong_type", test_file_wrong_type},
        {"file_syntax_line_col", test_file_syntax_line_col},
        {"file_empty", test_file_empty},
        {"file_tls_missing_cert", test_file_tls_missing_cert},
        {"examples_load", test_examples_load},
        {"nul_byte_in_input", test_nul_byte_in_input},
        {"length_is_respected", test_length_is_respected},
        {"error_buffer_edges", test_error_buffer_edges},
        {"strerror", test_strerror},
    };
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite("config", NULL, NULL);
    if (!s) goto fail;
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn)) goto fail;
    test_config_auth_register(s); /* test_config_auth.c */
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    printf("\n%zu table cases, %zu tests\n", sizeof(bad_cases) / sizeof(bad_cases[0]),
           sizeof(tests) / sizeof(tests[0]));
    CU_cleanup_registry();
    return failed ? 1 : 0;
fail:
    CU_cleanup_registry();
    return 2;
}
