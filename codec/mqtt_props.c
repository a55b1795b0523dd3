/*
 * mqtt_props.c - MQTT 5 properties (section 2.2.2): their types, which
 * packet may carry which, parsing with the duplicate and value rules, and
 * the size/write pair the encoder uses; mqtt_prop_next() walks an encoded
 * list for those who keep one (a forwarded message's properties). User
 * properties stay encoded: a view of their bytes travels with the packet
 * (see mqtt_props_t).
 */
#include "mqtt_internal.h"

#define B(id) MQTT_PROP_BIT(MQTT_PROP_##id)

/* Type of each property id below 64; MQTT_PT_NONE for unknown ids. */
static const uint8_t mqtt__prop_type[64] = {
    [MQTT_PROP_PAYLOAD_FORMAT] = MQTT_PT_BYTE,
    [MQTT_PROP_MESSAGE_EXPIRY] = MQTT_PT_U32,
    [MQTT_PROP_CONTENT_TYPE] = MQTT_PT_STR,
    [MQTT_PROP_RESPONSE_TOPIC] = MQTT_PT_STR,
    [MQTT_PROP_CORRELATION_DATA] = MQTT_PT_BIN,
    [MQTT_PROP_SUBSCRIPTION_ID] = MQTT_PT_VARINT,
    [MQTT_PROP_SESSION_EXPIRY] = MQTT_PT_U32,
    [MQTT_PROP_ASSIGNED_CLIENT_ID] = MQTT_PT_STR,
    [MQTT_PROP_SERVER_KEEP_ALIVE] = MQTT_PT_U16,
    [MQTT_PROP_AUTH_METHOD] = MQTT_PT_STR,
    [MQTT_PROP_AUTH_DATA] = MQTT_PT_BIN,
    [MQTT_PROP_REQUEST_PROBLEM_INFO] = MQTT_PT_BYTE,
    [MQTT_PROP_WILL_DELAY] = MQTT_PT_U32,
    [MQTT_PROP_REQUEST_RESPONSE_INFO] = MQTT_PT_BYTE,
    [MQTT_PROP_RESPONSE_INFO] = MQTT_PT_STR,
    [MQTT_PROP_SERVER_REFERENCE] = MQTT_PT_STR,
    [MQTT_PROP_REASON_STRING] = MQTT_PT_STR,
    [MQTT_PROP_RECEIVE_MAXIMUM] = MQTT_PT_U16,
    [MQTT_PROP_TOPIC_ALIAS_MAXIMUM] = MQTT_PT_U16,
    [MQTT_PROP_TOPIC_ALIAS] = MQTT_PT_U16,
    [MQTT_PROP_MAXIMUM_QOS] = MQTT_PT_BYTE,
    [MQTT_PROP_RETAIN_AVAILABLE] = MQTT_PT_BYTE,
    [MQTT_PROP_USER_PROPERTY] = MQTT_PT_PAIR,
    [MQTT_PROP_MAXIMUM_PACKET_SIZE] = MQTT_PT_U32,
    [MQTT_PROP_WILDCARD_SUB_AVAILABLE] = MQTT_PT_BYTE,
    [MQTT_PROP_SUB_ID_AVAILABLE] = MQTT_PT_BYTE,
    [MQTT_PROP_SHARED_SUB_AVAILABLE] = MQTT_PT_BYTE,
};

/* Properties whose value must be 0 or 1 ("It is a Protocol Error to include
 * a value other than 0 or 1"), and those where 0 is a Protocol Error. */
#define BOOLEAN_PROPS                                                                              \
    (B(PAYLOAD_FORMAT) | B(REQUEST_PROBLEM_INFO) | B(REQUEST_RESPONSE_INFO) | B(MAXIMUM_QOS) |     \
     B(RETAIN_AVAILABLE) | B(WILDCARD_SUB_AVAILABLE) | B(SUB_ID_AVAILABLE) |                       \
     B(SHARED_SUB_AVAILABLE))
#define NONZERO_PROPS                                                                              \
    (B(RECEIVE_MAXIMUM) | B(MAXIMUM_PACKET_SIZE) | B(TOPIC_ALIAS) | B(SUBSCRIPTION_ID))

uint64_t mqtt__props_allowed(mqtt_type_t type)
{
    const uint64_t user = B(USER_PROPERTY);
    const uint64_t reason = B(REASON_STRING) | user;
    switch (type) {
    case MQTT_CONNECT:
        return B(SESSION_EXPIRY) | B(AUTH_METHOD) | B(AUTH_DATA) | B(REQUEST_PROBLEM_INFO) |
               B(REQUEST_RESPONSE_INFO) | B(RECEIVE_MAXIMUM) | B(TOPIC_ALIAS_MAXIMUM) |
               B(MAXIMUM_PACKET_SIZE) | user;
    case MQTT_CONNACK:
        return B(SESSION_EXPIRY) | B(ASSIGNED_CLIENT_ID) | B(SERVER_KEEP_ALIVE) | B(AUTH_METHOD) |
               B(AUTH_DATA) | B(RESPONSE_INFO) | B(SERVER_REFERENCE) | B(RECEIVE_MAXIMUM) |
               B(TOPIC_ALIAS_MAXIMUM) | B(MAXIMUM_QOS) | B(RETAIN_AVAILABLE) |
               B(MAXIMUM_PACKET_SIZE) | B(WILDCARD_SUB_AVAILABLE) | B(SUB_ID_AVAILABLE) |
               B(SHARED_SUB_AVAILABLE) | reason;
    case MQTT_PUBLISH:
        return B(PAYLOAD_FORMAT) | B(MESSAGE_EXPIRY) | B(CONTENT_TYPE) | B(RESPONSE_TOPIC) |
               B(CORRELATION_DATA) | B(SUBSCRIPTION_ID) | B(TOPIC_ALIAS) | user;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        return reason;
    case MQTT_SUBSCRIBE:
        return B(SUBSCRIPTION_ID) | user;
    case MQTT_UNSUBSCRIBE:
        return user;
    case MQTT_DISCONNECT:
        return B(SESSION_EXPIRY) | B(SERVER_REFERENCE) | reason;
    case MQTT_AUTH:
        return B(AUTH_METHOD) | B(AUTH_DATA) | reason;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
        break;
    }
    return 0;
}

/* Length of the value of one property of `type` at p[0..len), or 0 when it
 * does not fit. Strings are not validated here. */
static uint32_t props_value_len(uint8_t type, const uint8_t *p, uint32_t len)
{
    uint32_t n, v;
    int rc;
    switch (type) {
    case MQTT_PT_BYTE:
        return len >= 1 ? 1 : 0;
    case MQTT_PT_U16:
        return len >= 2 ? 2 : 0;
    case MQTT_PT_U32:
        return len >= 4 ? 4 : 0;
    case MQTT_PT_VARINT:
        rc = mqtt_varint_decode(p, len, &v);
        return rc > 0 ? (uint32_t)rc : 0;
    case MQTT_PT_STR:
    case MQTT_PT_BIN:
        if (len < 2) return 0;
        n = 2u + mqtt__rd16(p);
        return n <= len ? n : 0;
    case MQTT_PT_PAIR:
        if (len < 2) return 0;
        n = 2u + mqtt__rd16(p);
        if (n + 2 > len) return 0;
        n += 2u + mqtt__rd16(p + n);
        return n <= len ? n : 0;
    }
    return 0;
}

int mqtt__props_parse(const uint8_t *p, uint32_t len, uint64_t allowed, bool many_sub_ids,
                      mqtt_props_t *out)
{
    uint32_t i = 0, user_start = 0, user_end = 0;
    bool other_after_user = false;
    while (i < len) {
        uint8_t id = p[i];
        /* Identifiers are varints, but every defined one is a single byte. */
        uint8_t type = id < 64 ? mqtt__prop_type[id] : MQTT_PT_NONE;
        uint64_t bit = MQTT_PROP_BIT(id & 63);
        if (type == MQTT_PT_NONE || !(allowed & bit)) return MQTT_ERR_BAD_PROPERTY;
        const uint8_t *v = p + i + 1;
        uint32_t vlen = props_value_len(type, v, len - i - 1);
        if (vlen == 0) return MQTT_ERR_MALFORMED;
        if (id == MQTT_PROP_USER_PROPERTY) {
            uint32_t klen = mqtt__rd16(v);
            if (!mqtt_utf8_valid(v + 2, klen) || !mqtt_utf8_valid(v + 4 + klen, vlen - 4 - klen))
                return MQTT_ERR_BAD_UTF8;
            if (out->user_count == 0)
                user_start = i;
            else if (other_after_user)
                out->user_interleaved = true;
            user_end = i + 1 + vlen;
            out->user_count++;
            out->present |= bit;
            i += 1 + vlen;
            continue;
        }
        if (out->user_count) other_after_user = true;
        if ((out->present & bit) && !(id == MQTT_PROP_SUBSCRIPTION_ID && many_sub_ids))
            return MQTT_ERR_DUP_PROPERTY;
        out->present |= bit;
        uint32_t num = 0;
        mqtt_str_t s = {v + 2, vlen - 2};
        switch (type) {
        case MQTT_PT_BYTE:
            num = v[0];
            break;
        case MQTT_PT_U16:
            num = mqtt__rd16(v);
            break;
        case MQTT_PT_U32:
            num = mqtt__rd32(v);
            break;
        case MQTT_PT_VARINT:
            mqtt_varint_decode(v, vlen, &num);
            break;
        case MQTT_PT_STR:
            if (!mqtt_utf8_valid(s.p, s.len)) return MQTT_ERR_BAD_UTF8;
            break;
        }
        if ((BOOLEAN_PROPS & bit) && num > 1) return MQTT_ERR_PROTOCOL;
        if ((NONZERO_PROPS & bit) && num == 0)
            return id == MQTT_PROP_TOPIC_ALIAS ? MQTT_ERR_TOPIC_ALIAS : MQTT_ERR_PROTOCOL;
        switch (id) {
        case MQTT_PROP_PAYLOAD_FORMAT:
            out->payload_format = (uint8_t)num;
            break;
        case MQTT_PROP_MESSAGE_EXPIRY:
            out->message_expiry = num;
            break;
        case MQTT_PROP_CONTENT_TYPE:
            out->content_type = s;
            break;
        case MQTT_PROP_RESPONSE_TOPIC:
            /* MQTT-3.3.2-14: a Topic Name, so no wildcards and not empty. */
            if (s.len == 0 || mqtt__topic_check(s.p, s.len) != 0) return MQTT_ERR_PROTOCOL;
            out->response_topic = s;
            break;
        case MQTT_PROP_CORRELATION_DATA:
            out->correlation_data = s;
            break;
        case MQTT_PROP_SUBSCRIPTION_ID:
            /* Keep the first MQTT_MAX_SUB_IDS; more are legal but dropped. */
            if (out->sub_id_count < MQTT_MAX_SUB_IDS) out->sub_ids[out->sub_id_count++] = num;
            break;
        case MQTT_PROP_SESSION_EXPIRY:
            out->session_expiry = num;
            break;
        case MQTT_PROP_ASSIGNED_CLIENT_ID:
            out->assigned_client_id = s;
            break;
        case MQTT_PROP_SERVER_KEEP_ALIVE:
            out->server_keep_alive = (uint16_t)num;
            break;
        case MQTT_PROP_AUTH_METHOD:
            out->auth_method = s;
            break;
        case MQTT_PROP_AUTH_DATA:
            out->auth_data = s;
            break;
        case MQTT_PROP_REQUEST_PROBLEM_INFO:
            out->request_problem_info = (uint8_t)num;
            break;
        case MQTT_PROP_WILL_DELAY:
            out->will_delay = num;
            break;
        case MQTT_PROP_REQUEST_RESPONSE_INFO:
            out->request_response_info = (uint8_t)num;
            break;
        case MQTT_PROP_RESPONSE_INFO:
            out->response_info = s;
            break;
        case MQTT_PROP_SERVER_REFERENCE:
            out->server_reference = s;
            break;
        case MQTT_PROP_REASON_STRING:
            out->reason_string = s;
            break;
        case MQTT_PROP_RECEIVE_MAXIMUM:
            out->receive_maximum = (uint16_t)num;
            break;
        case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
            out->topic_alias_maximum = (uint16_t)num;
            break;
        case MQTT_PROP_TOPIC_ALIAS:
            out->topic_alias = (uint16_t)num;
            break;
        case MQTT_PROP_MAXIMUM_QOS:
            out->maximum_qos = (uint8_t)num;
            break;
        case MQTT_PROP_RETAIN_AVAILABLE:
            out->retain_available = (uint8_t)num;
            break;
        case MQTT_PROP_MAXIMUM_PACKET_SIZE:
            out->maximum_packet_size = num;
            break;
        case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
            out->wildcard_sub_available = (uint8_t)num;
            break;
        case MQTT_PROP_SUB_ID_AVAILABLE:
            out->sub_id_available = (uint8_t)num;
            break;
        case MQTT_PROP_SHARED_SUB_AVAILABLE:
            out->shared_sub_available = (uint8_t)num;
            break;
        }
        i += 1 + vlen;
    }
    if (out->user_count) {
        out->user.p = p + user_start;
        out->user.len = user_end - user_start;
    }
    return 0;
}

bool mqtt_prop_next(const uint8_t *p, uint32_t len, uint32_t *off, mqtt_prop_t *out)
{
    if (*off >= len) return false;
    const uint8_t *q = p + *off;
    uint32_t left = len - *off;
    uint8_t id = q[0];
    uint8_t type = id < 64 ? mqtt__prop_type[id] : MQTT_PT_NONE;
    uint32_t vlen = type == MQTT_PT_NONE ? 0 : props_value_len(type, q + 1, left - 1);
    if (vlen == 0) return false;
    const uint8_t *v = q + 1;
    mqtt_prop_t pr = {.id = id};
    switch (type) {
    case MQTT_PT_BYTE:
        pr.num = v[0];
        break;
    case MQTT_PT_U16:
        pr.num = mqtt__rd16(v);
        break;
    case MQTT_PT_U32:
        pr.num = mqtt__rd32(v);
        break;
    case MQTT_PT_VARINT:
        mqtt_varint_decode(v, vlen, &pr.num);
        break;
    default: /* string, binary data or string pair */
        pr.str.p = v + 2;
        pr.str.len = mqtt__rd16(v);
        if (type == MQTT_PT_PAIR) {
            pr.val.p = v + 4 + pr.str.len;
            pr.val.len = mqtt__rd16(v + 2 + pr.str.len);
        }
    }
    *out = pr;
    *off += 1 + vlen;
    return true;
}

bool mqtt_user_prop_next(const mqtt_str_t *user, uint32_t *off, mqtt_str_t *key, mqtt_str_t *val)
{
    mqtt_prop_t pr;
    while (mqtt_prop_next(user->p, user->len, off, &pr)) {
        if (pr.id != MQTT_PROP_USER_PROPERTY) continue;
        *key = pr.str;
        *val = pr.val;
        return true;
    }
    return false;
}

uint32_t mqtt_user_props_size(const mqtt_props_t *props)
{
    if (!props->user_interleaved) return props->user.len;
    uint32_t off = 0, n = 0;
    mqtt_str_t k, v;
    while (mqtt_user_prop_next(&props->user, &off, &k, &v))
        n += 5 + k.len + v.len;
    return n;
}

/* Copy the 0x26 entries of a user block; d has room for all of them. */
static uint8_t *props_copy_user(uint8_t *d, const mqtt_props_t *props)
{
    if (!props->user_interleaved) {
        if (props->user.len) memcpy(d, props->user.p, props->user.len);
        return d + props->user.len;
    }
    uint32_t off = 0;
    mqtt_str_t k, v;
    while (mqtt_user_prop_next(&props->user, &off, &k, &v)) {
        *d++ = MQTT_PROP_USER_PROPERTY;
        d = mqtt__wrstr(d, k);
        d = mqtt__wrstr(d, v);
    }
    return d;
}

int mqtt_user_props_copy(const mqtt_props_t *props, uint8_t *dst, size_t cap)
{
    uint32_t n = mqtt_user_props_size(props);
    if (n > cap) return MQTT_ERR_NOSPACE;
    return (int)(props_copy_user(dst, props) - dst);
}

/* The size of the properties in `bits` (user properties aside: they count
 * when there are any), MQTT_ERR_INVALID as for mqtt__props_size. */
static int64_t props_size_bits(const mqtt_props_t *pr, uint64_t bits, uint64_t allowed)
{
    int64_t n = 0;
    if (bits & ~allowed) return MQTT_ERR_INVALID;
    while (bits) {
        int id = __builtin_ctzll(bits);
        bits &= bits - 1;
        switch (mqtt__prop_type[id]) {
        case MQTT_PT_BYTE:
            n += 2;
            break;
        case MQTT_PT_U16:
            n += 3;
            break;
        case MQTT_PT_U32:
            n += 5;
            break;
        case MQTT_PT_VARINT: /* only the Subscription Identifier */
            for (uint32_t i = 0; i < pr->sub_id_count && i < MQTT_MAX_SUB_IDS; i++) {
                if (pr->sub_ids[i] == 0 || pr->sub_ids[i] > MQTT_VARINT_MAX)
                    return MQTT_ERR_INVALID;
                n += 1 + mqtt__varsize(pr->sub_ids[i]);
            }
            break;
        default: {
            const mqtt_str_t *s = NULL;
            switch (id) {
            case MQTT_PROP_CONTENT_TYPE:
                s = &pr->content_type;
                break;
            case MQTT_PROP_RESPONSE_TOPIC:
                s = &pr->response_topic;
                break;
            case MQTT_PROP_CORRELATION_DATA:
                s = &pr->correlation_data;
                break;
            case MQTT_PROP_ASSIGNED_CLIENT_ID:
                s = &pr->assigned_client_id;
                break;
            case MQTT_PROP_AUTH_METHOD:
                s = &pr->auth_method;
                break;
            case MQTT_PROP_AUTH_DATA:
                s = &pr->auth_data;
                break;
            case MQTT_PROP_RESPONSE_INFO:
                s = &pr->response_info;
                break;
            case MQTT_PROP_SERVER_REFERENCE:
                s = &pr->server_reference;
                break;
            case MQTT_PROP_REASON_STRING:
                s = &pr->reason_string;
                break;
            }
            if (!s || s->len > MQTT_STR_MAX) return MQTT_ERR_INVALID;
            n += 3 + s->len;
        }
        }
    }
    if (pr->user.len) {
        if (!(allowed & B(USER_PROPERTY))) return MQTT_ERR_INVALID;
        n += mqtt_user_props_size(pr);
    }
    return n > MQTT_VARINT_MAX ? MQTT_ERR_INVALID : n;
}

/* The properties in `bits`, then the user properties; no length prefix. */
static uint8_t *props_write_bits(uint8_t *d, const mqtt_props_t *pr, uint64_t bits)
{
    while (bits) {
        int id = __builtin_ctzll(bits);
        bits &= bits - 1;
        switch (id) {
        case MQTT_PROP_SUBSCRIPTION_ID:
            for (uint32_t i = 0; i < pr->sub_id_count && i < MQTT_MAX_SUB_IDS; i++) {
                *d++ = MQTT_PROP_SUBSCRIPTION_ID;
                d = mqtt__wrvar(d, pr->sub_ids[i]);
            }
            continue;
        }
        *d++ = (uint8_t)id;
        switch (id) {
        case MQTT_PROP_PAYLOAD_FORMAT:
            *d++ = pr->payload_format;
            break;
        case MQTT_PROP_MESSAGE_EXPIRY:
            d = mqtt__wr32(d, pr->message_expiry);
            break;
        case MQTT_PROP_CONTENT_TYPE:
            d = mqtt__wrstr(d, pr->content_type);
            break;
        case MQTT_PROP_RESPONSE_TOPIC:
            d = mqtt__wrstr(d, pr->response_topic);
            break;
        case MQTT_PROP_CORRELATION_DATA:
            d = mqtt__wrstr(d, pr->correlation_data);
            break;
        case MQTT_PROP_SESSION_EXPIRY:
            d = mqtt__wr32(d, pr->session_expiry);
            break;
        case MQTT_PROP_ASSIGNED_CLIENT_ID:
            d = mqtt__wrstr(d, pr->assigned_client_id);
            break;
        case MQTT_PROP_SERVER_KEEP_ALIVE:
            d = mqtt__wr16(d, pr->server_keep_alive);
            break;
        case MQTT_PROP_AUTH_METHOD:
            d = mqtt__wrstr(d, pr->auth_method);
            break;
        case MQTT_PROP_AUTH_DATA:
            d = mqtt__wrstr(d, pr->auth_data);
            break;
        case MQTT_PROP_REQUEST_PROBLEM_INFO:
            *d++ = pr->request_problem_info;
            break;
        case MQTT_PROP_WILL_DELAY:
            d = mqtt__wr32(d, pr->will_delay);
            break;
        case MQTT_PROP_REQUEST_RESPONSE_INFO:
            *d++ = pr->request_response_info;
            break;
        case MQTT_PROP_RESPONSE_INFO:
            d = mqtt__wrstr(d, pr->response_info);
            break;
        case MQTT_PROP_SERVER_REFERENCE:
            d = mqtt__wrstr(d, pr->server_reference);
            break;
        case MQTT_PROP_REASON_STRING:
            d = mqtt__wrstr(d, pr->reason_string);
            break;
        case MQTT_PROP_RECEIVE_MAXIMUM:
            d = mqtt__wr16(d, pr->receive_maximum);
            break;
        case MQTT_PROP_TOPIC_ALIAS_MAXIMUM:
            d = mqtt__wr16(d, pr->topic_alias_maximum);
            break;
        case MQTT_PROP_TOPIC_ALIAS:
            d = mqtt__wr16(d, pr->topic_alias);
            break;
        case MQTT_PROP_MAXIMUM_QOS:
            *d++ = pr->maximum_qos;
            break;
        case MQTT_PROP_RETAIN_AVAILABLE:
            *d++ = pr->retain_available;
            break;
        case MQTT_PROP_MAXIMUM_PACKET_SIZE:
            d = mqtt__wr32(d, pr->maximum_packet_size);
            break;
        case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
            *d++ = pr->wildcard_sub_available;
            break;
        case MQTT_PROP_SUB_ID_AVAILABLE:
            *d++ = pr->sub_id_available;
            break;
        case MQTT_PROP_SHARED_SUB_AVAILABLE:
            *d++ = pr->shared_sub_available;
            break;
        }
    }
    return props_copy_user(d, pr);
}

int64_t mqtt__props_size(const mqtt_props_t *pr, uint64_t allowed)
{
    return props_size_bits(pr, pr->present & ~B(USER_PROPERTY), allowed);
}

uint8_t *mqtt__props_write(uint8_t *d, const mqtt_props_t *pr, uint32_t plen)
{
    return props_write_bits(mqtt__wrvar(d, plen), pr, pr->present & ~B(USER_PROPERTY));
}

/* What a server passes on with an application message unchanged. */
#define FORWARDED                                                                                  \
    (B(PAYLOAD_FORMAT) | B(CONTENT_TYPE) | B(RESPONSE_TOPIC) | B(CORRELATION_DATA) |               \
     B(USER_PROPERTY))

uint32_t mqtt_props_forward_size(const mqtt_props_t *pr)
{
    int64_t n = props_size_bits(pr, pr->present & FORWARDED & ~B(USER_PROPERTY), FORWARDED);
    return n < 0 ? 0 : (uint32_t)n;
}

void mqtt_props_forward_write(const mqtt_props_t *pr, uint8_t *dst, uint32_t len)
{
    if (len) props_write_bits(dst, pr, pr->present & FORWARDED & ~B(USER_PROPERTY));
}

bool mqtt_props_forwardable(const uint8_t *p, uint32_t len)
{
    uint32_t off = 0;
    mqtt_prop_t pr;
    while (mqtt_prop_next(p, len, &off, &pr)) {
        switch (pr.id) {
        case MQTT_PROP_PAYLOAD_FORMAT:
            if (pr.num > 1) return false;
            break;
        case MQTT_PROP_CORRELATION_DATA:
            break;
        case MQTT_PROP_CONTENT_TYPE:
            if (!mqtt_utf8_valid(pr.str.p, pr.str.len)) return false;
            break;
        case MQTT_PROP_RESPONSE_TOPIC:
            if (!mqtt_topic_valid(pr.str.p, pr.str.len)) return false;
            break;
        case MQTT_PROP_USER_PROPERTY:
            if (!mqtt_utf8_valid(pr.str.p, pr.str.len) || !mqtt_utf8_valid(pr.val.p, pr.val.len))
                return false;
            break;
        default:
            return false;
        }
    }
    return off == len;
}
