/* mqtt_err.c - error texts and the MQTT 5 reason code of each decode error. */
#include "mqtt.h"

const char *mqtt_strerror(int err)
{
    if (err > 0) return "success";
    switch ((mqtt_err_t)err) {
    case MQTT_ERR_INCOMPLETE:
        return "incomplete packet";
    case MQTT_ERR_MALFORMED:
        return "malformed packet";
    case MQTT_ERR_PROTOCOL:
        return "protocol error";
    case MQTT_ERR_TOO_LARGE:
        return "packet too large";
    case MQTT_ERR_BAD_UTF8:
        return "invalid UTF-8 string";
    case MQTT_ERR_BAD_TOPIC:
        return "invalid topic name";
    case MQTT_ERR_BAD_PROTOCOL:
        return "unsupported protocol name or level";
    case MQTT_ERR_BAD_PROPERTY:
        return "unknown or misplaced property";
    case MQTT_ERR_NOSPACE:
        return "output buffer too small";
    case MQTT_ERR_BAD_PACKET_TYPE:
        return "invalid packet type";
    case MQTT_ERR_BAD_CLIENT_ID:
        return "client identifier rejected";
    case MQTT_ERR_INVALID:
        return "packet cannot be encoded";
    case MQTT_ERR_DUP_PROPERTY:
        return "duplicate property";
    case MQTT_ERR_TOPIC_ALIAS:
        return "topic alias 0 is not allowed";
    }
    return "unknown error";
}

uint8_t mqtt_err_reason(int err)
{
    if (err >= 0) return MQTT_RC_SUCCESS;
    switch ((mqtt_err_t)err) {
    case MQTT_ERR_MALFORMED:
    case MQTT_ERR_BAD_UTF8:
    case MQTT_ERR_BAD_PROPERTY:
    case MQTT_ERR_BAD_PACKET_TYPE:
        return MQTT_RC_MALFORMED;
    case MQTT_ERR_PROTOCOL:
    case MQTT_ERR_DUP_PROPERTY:
        return MQTT_RC_PROTOCOL_ERROR;
    case MQTT_ERR_TOO_LARGE:
        return MQTT_RC_PACKET_TOO_LARGE;
    case MQTT_ERR_BAD_TOPIC:
        return MQTT_RC_TOPIC_NAME_INVALID;
    case MQTT_ERR_TOPIC_ALIAS:
        return MQTT_RC_TOPIC_ALIAS_INVALID;
    case MQTT_ERR_BAD_PROTOCOL:
        return MQTT_RC_UNSUPPORTED_VERSION;
    case MQTT_ERR_BAD_CLIENT_ID:
        return MQTT_RC_CLIENT_ID_INVALID;
    case MQTT_ERR_INCOMPLETE:
    case MQTT_ERR_NOSPACE:
    case MQTT_ERR_INVALID:
        break;
    }
    return MQTT_RC_UNSPECIFIED;
}
