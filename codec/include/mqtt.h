/*
 * mqtt.h - pure MQTT 3.1 / 3.1.1 / 5.0 packet codec.
 *
 * What it is for: turning bytes into packet structs and packet structs into
 * bytes, plus the validation rules of the specification that can be checked
 * on one packet alone (fixed header flags, variable byte integers, UTF-8,
 * topic names and filters, which property may appear in which packet).
 *
 * Ownership: decoding never copies. Every mqtt_str_t in a decoded packet is
 * a view into the caller's input buffer and is valid only as long as that
 * buffer is. Encoders write into the caller's (dst, cap) and decide no
 * policy. No I/O, no threads, no globals, no allocation: any thread may call
 * any function here on its own data.
 */
#ifndef SLUICE_MQTT_H
#define SLUICE_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol levels as carried in CONNECT. */
enum {
    MQTT_V31 = 3,
    MQTT_V311 = 4,
    MQTT_V5 = 5,
};

typedef enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15,
} mqtt_type_t;

/*
 * Errors. mqtt_decode() returns the number of bytes consumed (> 0) or one of
 * these (<= 0). MQTT_ERR_INCOMPLETE is not a failure: feed more bytes.
 */
typedef enum mqtt_err {
    MQTT_ERR_INCOMPLETE = 0,       /* need more input */
    MQTT_ERR_MALFORMED = -1,       /* 0x81: bad length, bad varint, truncated field */
    MQTT_ERR_PROTOCOL = -2,        /* 0x82: reserved flags, bad QoS, pid 0, ... */
    MQTT_ERR_TOO_LARGE = -3,       /* 0x95: remaining length above the limit */
    MQTT_ERR_BAD_UTF8 = -4,        /* 0x81: string is not well-formed UTF-8 */
    MQTT_ERR_BAD_TOPIC = -5,       /* 0x90: topic name invalid (wildcard, empty) */
    MQTT_ERR_BAD_PROTOCOL = -6,    /* CONNECT: unknown protocol name/level (0x84) */
    MQTT_ERR_BAD_PROPERTY = -7,    /* 0x81: unknown or misplaced property */
    MQTT_ERR_NOSPACE = -8,         /* encode: dst too small */
    MQTT_ERR_BAD_PACKET_TYPE = -9, /* 0x81: type 0, or AUTH before 5.0 */
    MQTT_ERR_BAD_CLIENT_ID = -10,  /* CONNECT: client id rejected (0x85 / rc 2) */
    MQTT_ERR_INVALID = -11,        /* encode: the struct cannot be encoded */
    MQTT_ERR_TOPIC_ALIAS = -13,    /* 0x94: topic alias 0 (MQTT-3.3.2-8) */
    MQTT_ERR_DUP_PROPERTY = -12,   /* 0x82: a property that may appear once is repeated */
} mqtt_err_t;

const char *mqtt_strerror(int err);
/* The MQTT 5 reason code a server sends for a decode error (DISCONNECT or
 * CONNACK), e.g. MQTT_ERR_TOO_LARGE -> 0x95. */
uint8_t mqtt_err_reason(int err);

/* MQTT 5 reason codes (also 3.1.1 CONNACK return codes 0..5, SUBACK 0x80). */
enum {
    MQTT_RC_SUCCESS = 0x00,
    MQTT_RC_GRANTED_QOS1 = 0x01,
    MQTT_RC_GRANTED_QOS2 = 0x02,
    MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQTT_RC_CONTINUE_AUTH = 0x18,
    MQTT_RC_REAUTHENTICATE = 0x19,
    MQTT_RC_UNSPECIFIED = 0x80,
    MQTT_RC_MALFORMED = 0x81,
    MQTT_RC_PROTOCOL_ERROR = 0x82,
    MQTT_RC_IMPL_SPECIFIC = 0x83,
    MQTT_RC_UNSUPPORTED_VERSION = 0x84,
    MQTT_RC_CLIENT_ID_INVALID = 0x85,
    MQTT_RC_BAD_USER_OR_PASSWORD = 0x86,
    MQTT_RC_NOT_AUTHORIZED = 0x87,
    MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    MQTT_RC_SERVER_BUSY = 0x89,
    MQTT_RC_BANNED = 0x8A,
    MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    MQTT_RC_BAD_AUTH_METHOD = 0x8C,
    MQTT_RC_KEEPALIVE_TIMEOUT = 0x8D,
    MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT_RC_PACKET_ID_IN_USE = 0x91,
    MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
    MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
    MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT_RC_PACKET_TOO_LARGE = 0x95,
    MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    MQTT_RC_QUOTA_EXCEEDED = 0x97,
    MQTT_RC_ADMIN_ACTION = 0x98,
    MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
    MQTT_RC_SERVER_MOVED = 0x9D,
    MQTT_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
    MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    MQTT_RC_MAX_CONNECT_TIME = 0xA0,
    MQTT_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
    MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2,
};

/* 3.1 / 3.1.1 CONNACK return codes. */
enum {
    MQTT_CONNACK_ACCEPTED = 0,
    MQTT_CONNACK_BAD_VERSION = 1,
    MQTT_CONNACK_ID_REJECTED = 2,
    MQTT_CONNACK_UNAVAILABLE = 3,
    MQTT_CONNACK_BAD_CREDENTIALS = 4,
    MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

/* MQTT 5 property identifiers. All fit below 64, so a uint64_t bitmask
 * (1ull << id) records which are present. */
enum {
    MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08,
    MQTT_PROP_CORRELATION_DATA = 0x09,
    MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    MQTT_PROP_SESSION_EXPIRY = 0x11,
    MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTH_METHOD = 0x15,
    MQTT_PROP_AUTH_DATA = 0x16,
    MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_PROP_WILL_DELAY = 0x18,
    MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    MQTT_PROP_RESPONSE_INFO = 0x1A,
    MQTT_PROP_SERVER_REFERENCE = 0x1C,
    MQTT_PROP_REASON_STRING = 0x1F,
    MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQTT_PROP_TOPIC_ALIAS = 0x23,
    MQTT_PROP_MAXIMUM_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT_PROP_USER_PROPERTY = 0x26,
    MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

#define MQTT_PROP_BIT(id) (1ull << (id))
#define MQTT_MAX_SUB_IDS 16 /* subscription ids kept per decoded PUBLISH */

/* A view of bytes: a UTF-8 string or binary data. Not NUL-terminated. */
typedef struct mqtt_str {
    const uint8_t *p;
    uint32_t len;
} mqtt_str_t;

/*
 * MQTT 5 properties of one packet (or of a will). `present` says which
 * fields are meaningful. User properties are not unpacked: `user` is a view
 * of their encoded form, every (0x26, key, value) entry in packet order,
 * concatenated - but when decoding they may be interleaved with other
 * properties, so decode sets `user` to the part of the property section
 * from the first to the end of the last user property (empty when there is
 * none) and `user_count` to the number of pairs; iterate with
 * mqtt_user_prop_next(), which skips the other properties.
 * When encoding, `user` must hold only 0x26 entries (as produced by
 * mqtt_user_props_copy()) and is written verbatim, order preserved - unless
 * `user_interleaved` is set (a decoded block), then only its 0x26 entries
 * are written, in order.
 */
typedef struct mqtt_props {
    uint64_t present;
    uint8_t payload_format;
    uint8_t request_problem_info;
    uint8_t request_response_info;
    uint8_t maximum_qos;
    uint8_t retain_available;
    uint8_t wildcard_sub_available;
    uint8_t sub_id_available;
    uint8_t shared_sub_available;
    uint16_t server_keep_alive;
    uint16_t receive_maximum;
    uint16_t topic_alias_maximum;
    uint16_t topic_alias;
    uint32_t message_expiry;
    uint32_t session_expiry;
    uint32_t will_delay;
    uint32_t maximum_packet_size;
    uint8_t sub_id_count; /* PUBLISH: several; SUBSCRIBE: at most 1 */
    uint32_t sub_ids[MQTT_MAX_SUB_IDS];
    mqtt_str_t content_type;
    mqtt_str_t response_topic;
    mqtt_str_t correlation_data;
    mqtt_str_t assigned_client_id;
    mqtt_str_t auth_method;
    mqtt_str_t auth_data;
    mqtt_str_t response_info;
    mqtt_str_t server_reference;
    mqtt_str_t reason_string;
    mqtt_str_t user;
    uint32_t user_count;
    /* Set by decode when `user` also spans other properties (they were
     * interleaved with the user properties); mqtt_encode then copies only
     * the 0x26 entries, so a decoded mqtt_props_t can be re-encoded as is. */
    bool user_interleaved;
} mqtt_props_t;

/* Iterate user properties of a decoded or encoded `user` block. *off starts
 * at 0. Returns true and fills key/val for the next pair, false at the end. */
bool mqtt_user_prop_next(const mqtt_str_t *user, uint32_t *off, mqtt_str_t *key, mqtt_str_t *val);
/* One property of an encoded property list, as mqtt_prop_next() gives it.
 * The views point into the list. */
typedef struct mqtt_prop {
    uint8_t id;     /* MQTT_PROP_* */
    uint32_t num;   /* byte, two-byte, four-byte and variable byte integer values */
    mqtt_str_t str; /* string and binary values; the key of a user property */
    mqtt_str_t val; /* the value of a user property */
} mqtt_prop_t;
/* Walk an MQTT 5 property list p[0..len) (the bytes after its length
 * prefix), e.g. the pre-encoded block a server forwards. *off starts at 0.
 * Returns true and fills *out for the next property; false at the end, and
 * also at an unknown identifier or a value that does not fit, where *off
 * stays (so it tells how far the list is well-formed). Values are not
 * validated (UTF-8, ranges, repeats, which packet may carry which): that is
 * mqtt_decode()'s work. */
bool mqtt_prop_next(const uint8_t *p, uint32_t len, uint32_t *off, mqtt_prop_t *out);
/* Bytes needed to hold the user properties of `props` as a block of 0x26
 * entries, and the copy itself (returns bytes written or MQTT_ERR_NOSPACE).
 * Used to forward user properties intact without keeping the input buffer. */
/* The properties a server forwards with an application message unchanged
 * (payload format indicator, content type, response topic, correlation
 * data, user properties) as an encoded list without its length prefix:
 * the block mqtt_publish_parts_t.props carries. The size is 0 when there
 * are none or they cannot be encoded (a decoded packet's always can);
 * write exactly that many bytes to dst. */
uint32_t mqtt_props_forward_size(const mqtt_props_t *props);
void mqtt_props_forward_write(const mqtt_props_t *props, uint8_t *dst, uint32_t len);
/* Such a block read from elsewhere (a cluster node's record): every
 * property well-formed, one a server forwards, its strings valid UTF-8 and
 * a response topic a valid topic. What mqtt_props_forward_write writes
 * always is. */
bool mqtt_props_forwardable(const uint8_t *p, uint32_t len);
uint32_t mqtt_user_props_size(const mqtt_props_t *props);
int mqtt_user_props_copy(const mqtt_props_t *props, uint8_t *dst, size_t cap);

typedef struct mqtt_connect {
    uint8_t version; /* MQTT_V31, MQTT_V311 or MQTT_V5 */
    bool clean_start;
    uint16_t keepalive;
    mqtt_props_t props;
    mqtt_str_t client_id;
    bool will;
    uint8_t will_qos;
    bool will_retain;
    mqtt_props_t will_props;
    mqtt_str_t will_topic;
    mqtt_str_t will_payload;
    bool has_username;
    bool has_password;
    mqtt_str_t username;
    mqtt_str_t password;
} mqtt_connect_t;

typedef struct mqtt_connack {
    bool session_present;
    uint8_t reason; /* 3.1.1 return code or MQTT 5 reason code */
    mqtt_props_t props;
} mqtt_connack_t;

typedef struct mqtt_publish {
    bool dup;
    uint8_t qos;
    bool retain;
    mqtt_str_t topic;   /* may be empty in MQTT 5 when a topic alias is set */
    uint16_t packet_id; /* only for qos > 0 */
    mqtt_props_t props;
    mqtt_str_t payload;
} mqtt_publish_t;

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
typedef struct mqtt_ack {
    uint16_t packet_id;
    uint8_t reason;
    mqtt_props_t props;
} mqtt_ack_t;

/* Subscription options byte: bits 0-1 QoS, 2 no-local, 3 retain-as-published,
 * 4-5 retain handling. 3.1.1 uses only the QoS bits. */
#define MQTT_SUBOPT_QOS(o) ((o)&0x03)
#define MQTT_SUBOPT_NO_LOCAL 0x04
#define MQTT_SUBOPT_RAP 0x08
#define MQTT_SUBOPT_RH(o) (((o) >> 4) & 0x03)

typedef struct mqtt_sub_entry {
    mqtt_str_t filter;
    uint8_t options;
} mqtt_sub_entry_t;

/*
 * SUBSCRIBE and UNSUBSCRIBE carry a list; `list` is a view of the encoded
 * entries (filter + options byte for SUBSCRIBE, filter only for
 * UNSUBSCRIBE), already validated as well-formed UTF-8 with legal option
 * bits, `count` entries long. Topic filter *syntax* is not an error of the
 * packet (the server answers 0x80/0x8F per entry), so it is not checked
 * here: call mqtt_filter_valid() per entry. Iterate with mqtt_sub_next().
 * When encoding, `entries`/`count` are used instead of `list`.
 */
typedef struct mqtt_subscribe {
    uint16_t packet_id;
    mqtt_props_t props;
    mqtt_str_t list;
    uint32_t count;
    const mqtt_sub_entry_t *entries; /* encode only */
} mqtt_subscribe_t;

bool mqtt_sub_next(const mqtt_subscribe_t *s, bool with_options, uint32_t *off,
                   mqtt_sub_entry_t *out);

/* SUBACK and UNSUBACK: one reason code per entry (3.1.1 UNSUBACK has none). */
typedef struct mqtt_suback {
    uint16_t packet_id;
    mqtt_props_t props;
    mqtt_str_t reasons;
} mqtt_suback_t;

/* DISCONNECT and AUTH (reason + properties; both empty before 5.0). */
typedef struct mqtt_reason_pkt {
    uint8_t reason;
    mqtt_props_t props;
} mqtt_reason_pkt_t;

typedef struct mqtt_packet {
    mqtt_type_t type;
    uint8_t flags; /* low nibble of the fixed header as received */
    union {
        mqtt_connect_t connect;
        mqtt_connack_t connack;
        mqtt_publish_t publish;
        mqtt_ack_t ack;           /* PUBACK PUBREC PUBREL PUBCOMP */
        mqtt_subscribe_t sub;     /* SUBSCRIBE UNSUBSCRIBE */
        mqtt_suback_t suback;     /* SUBACK UNSUBACK */
        mqtt_reason_pkt_t reason; /* DISCONNECT AUTH */
    } u;
} mqtt_packet_t;

typedef struct mqtt_limits {
    /* Protocol level in force on this connection; 0 before CONNECT (then
     * only a CONNECT decodes, and it carries its own level). */
    uint8_t version;
    /* Largest whole packet accepted (fixed header included); 0 = the
     * protocol maximum (268,435,460). Checked from the fixed header alone. */
    uint32_t max_packet_size;
} mqtt_limits_t;

/*
 * Decode one packet from buf[0..len).
 * Returns bytes consumed (> 0) and fills *pkt; MQTT_ERR_INCOMPLETE (0) if
 * more bytes are needed; a negative mqtt_err_t on bad input. A packet whose
 * declared length exceeds limits->max_packet_size fails with
 * MQTT_ERR_TOO_LARGE as soon as the fixed header is complete. *pkt is
 * written only on success.
 */
int mqtt_decode(const uint8_t *buf, size_t len, const mqtt_limits_t *limits, mqtt_packet_t *pkt);

/*
 * Read only the fixed header: on success (> 0) returns the fixed header
 * length and sets *total to header + remaining length (the whole packet).
 * MQTT_ERR_INCOMPLETE, MQTT_ERR_MALFORMED (overlong or 5-byte varint) or
 * MQTT_ERR_TOO_LARGE otherwise. Lets a transport know how much to buffer.
 */
int mqtt_frame_len(const uint8_t *buf, size_t len, uint32_t max_packet_size, uint32_t *total);

/*
 * Encode pkt for protocol level `version` into dst[0..cap). Returns bytes
 * written (> 0), MQTT_ERR_NOSPACE if cap is too small, MQTT_ERR_INVALID if
 * the packet cannot be expressed (e.g. a string over 65,535 bytes).
 * Properties are written only for MQTT_V5, in ascending id order, user
 * properties last. mqtt_encode_size() returns the exact size needed (or a
 * negative error).
 */
int mqtt_encode(uint8_t *dst, size_t cap, uint8_t version, const mqtt_packet_t *pkt);
int mqtt_encode_size(uint8_t version, const mqtt_packet_t *pkt);
/*
 * A PUBLISH from parts, as a server forwards one stored message: topic,
 * payload and an already encoded block of properties (`props`: a property
 * list without its length prefix, e.g. content type and user properties)
 * are copied as they are; the properties that differ per subscriber are
 * written before the block, in the order topic alias, message expiry,
 * subscription ids. Properties exist only for MQTT_V5 and are ignored
 * before. The topic may be empty only in 5.0 with a topic alias. The
 * contents of the block, the topic and the payload are not validated (the
 * caller owns them); dup is written as given.
 */
typedef struct mqtt_publish_parts {
    uint8_t version; /* MQTT_V31, MQTT_V311 or MQTT_V5 */
    uint8_t qos;
    bool retain;
    bool dup;
    mqtt_str_t topic;
    uint16_t packet_id; /* written only for qos > 0 */
    const uint32_t *sub_ids;
    uint32_t n_sub_ids; /* each id 1..268,435,455 */
    bool has_expiry;    /* write Message Expiry Interval `expiry` */
    uint32_t expiry;
    uint16_t topic_alias; /* 0 = none */
    mqtt_str_t props;
    mqtt_str_t payload;
} mqtt_publish_parts_t;

/* Encode into dst[0..cap): bytes written (> 0), MQTT_ERR_NOSPACE if cap is
 * too small, MQTT_ERR_INVALID if the parts cannot be expressed (qos above 2,
 * a topic over 65,535 bytes, an empty topic without an alias, a bad
 * subscription id, a packet over the protocol maximum). On success
 * *pid_off (when not NULL) is the offset of the two-byte packet identifier
 * for qos > 0, so that one encoding can be shared and the id patched per
 * subscriber, and 0 for qos 0. mqtt_encode_publish_size() returns the exact
 * size needed (or a negative error). */
int mqtt_encode_publish(uint8_t *dst, size_t cap, const mqtt_publish_parts_t *parts,
                        uint32_t *pid_off);
int mqtt_encode_publish_size(const mqtt_publish_parts_t *parts);
/* Offset of the packet identifier inside an encoded PUBLISH with QoS > 0,
 * so that one encoding can be shared and the id patched per subscriber
 * (two bytes, big-endian). MQTT_ERR_INVALID if buf[0..len) is not one whole
 * such PUBLISH. */
int mqtt_publish_pid_offset(const uint8_t *buf, size_t len);

/* Variable byte integer helpers (1..4 bytes; values up to 268,435,455). */
int mqtt_varint_encode(uint8_t *dst, uint32_t value);                  /* returns length */
int mqtt_varint_decode(const uint8_t *p, size_t len, uint32_t *value); /* len, 0, <0 */
int mqtt_varint_size(uint32_t value);

/* UTF-8 well-formedness per MQTT: no U+0000, no surrogates, no overlongs,
 * nothing above U+10FFFF. */
bool mqtt_utf8_valid(const uint8_t *p, size_t len);

/* Topic name: at least one byte, no '+' or '#', valid UTF-8. */
bool mqtt_topic_valid(const uint8_t *p, size_t len);
/* Topic filter: at least one byte, '+' alone in its level, '#' alone and
 * last, valid UTF-8. A $share/<group>/<filter> is valid when the group is
 * non-empty without '+', '#' or '/' and the rest is a valid filter. */
bool mqtt_filter_valid(const uint8_t *p, size_t len);
/* If filter is $share/<group>/<rest>, fill group and rest and return true. */
bool mqtt_share_split(const uint8_t *p, size_t len, mqtt_str_t *group, mqtt_str_t *rest);
/* Does topic name match filter? Wildcards at the first level do not match
 * topics starting with '$'. Allocation-free. Both must already be valid. */
bool mqtt_topic_match(const uint8_t *filter, size_t flen, const uint8_t *topic, size_t tlen);

#endif
