/*
 * test_codec_malformed.c - every malformed or illegal packet we can name,
 * each with the error the decoder must return. Bytes are written by hand
 * from the specification; names carry the rule (MQTT-x.y.z-n: 3.1.1
 * numbering unless "v5" is in the name, then 5.0 numbering).
 */
#include "test_codec.h"

#define M 'M', 'Q', 'T', 'T'
#define MQTT_V311_HDR 0x00, 0x04, M, 0x04
#define MQTT_V5_HDR 0x00, 0x04, M, 0x05

/* X(name, connection version, expected error, bytes...) */
#define MALFORMED_CASES(X)                                                                         \
    /* fixed header (section 2.1, 2.2) */                                                          \
    X(packet_type_0_is_bad_packet_type, 4, MQTT_ERR_BAD_PACKET_TYPE, 0x00, 0x00)                   \
    X(auth_in_v311_is_bad_packet_type, 4, MQTT_ERR_BAD_PACKET_TYPE, 0xF0, 0x00)                    \
    X(auth_in_v31_is_bad_packet_type, 3, MQTT_ERR_BAD_PACKET_TYPE, 0xF0, 0x00)                     \
    X(first_packet_not_connect_is_protocol_error_mqtt_3_1_0_1, 0, MQTT_ERR_PROTOCOL, 0xC0, 0x00)   \
    X(first_packet_publish_is_protocol_error, 0, MQTT_ERR_PROTOCOL, 0x30, 0x03, 0x00, 0x01, 't')   \
    X(publish_qos3_is_malformed_mqtt_3_3_1_4, 4, MQTT_ERR_MALFORMED, 0x36, 0x03, 0x00, 0x01, 't')  \
    X(v5_publish_qos3_is_malformed, 5, MQTT_ERR_MALFORMED, 0x37, 0x04, 0x00, 0x01, 't', 0x00)      \
    X(publish_dup_with_qos0_is_protocol_error_mqtt_3_3_1_2, 4, MQTT_ERR_PROTOCOL, 0x38, 0x03,      \
      0x00, 0x01, 't')                                                                             \
    X(pubrel_flags_0_is_malformed_mqtt_3_6_1_1, 4, MQTT_ERR_MALFORMED, 0x60, 0x02, 0x00, 0x01)     \
    X(pubrel_v311_with_dup_is_malformed, 4, MQTT_ERR_MALFORMED, 0x6A, 0x02, 0x00, 0x01)            \
    X(subscribe_flags_0_is_malformed_mqtt_3_8_1_1, 4, MQTT_ERR_MALFORMED, 0x80, 0x06, 0x00, 0x01,  \
      0x00, 0x01, 'a', 0x00)                                                                       \
    X(unsubscribe_flags_0_is_malformed_mqtt_3_10_1_1, 4, MQTT_ERR_MALFORMED, 0xA0, 0x05, 0x00,     \
      0x01, 0x00, 0x01, 'a')                                                                       \
    X(puback_flags_nonzero_is_malformed_mqtt_2_2_2_2, 4, MQTT_ERR_MALFORMED, 0x41, 0x02, 0x00,     \
      0x01)                                                                                        \
    X(connect_flags_nonzero_is_malformed, 0, MQTT_ERR_MALFORMED, 0x12, 0x0C, MQTT_V311_HDR, 0x02,  \
      0x00, 0x3C, 0x00, 0x00)                                                                      \
    X(pingreq_flags_nonzero_is_malformed, 4, MQTT_ERR_MALFORMED, 0xC1, 0x00)                       \
    X(disconnect_flags_nonzero_is_malformed, 4, MQTT_ERR_MALFORMED, 0xE2, 0x00)                    \
    X(v5_auth_flags_nonzero_is_malformed, 5, MQTT_ERR_MALFORMED, 0xF1, 0x00)                       \
    X(remaining_length_overlong_is_malformed_mqtt_1_5_5_1, 4, MQTT_ERR_MALFORMED, 0xC0, 0x80,      \
      0x00)                                                                                        \
    X(remaining_length_five_bytes_is_malformed, 4, MQTT_ERR_MALFORMED, 0x30, 0xFF, 0xFF, 0xFF,     \
      0xFF, 0x7F)                                                                                  \
    X(pingreq_with_body_is_malformed, 4, MQTT_ERR_MALFORMED, 0xC0, 0x01, 0x00)                     \
    X(pingresp_with_body_is_malformed, 4, MQTT_ERR_MALFORMED, 0xD0, 0x01, 0x00)                    \
    X(disconnect_v311_with_body_is_malformed, 4, MQTT_ERR_MALFORMED, 0xE0, 0x01, 0x00)             \
    /* CONNECT (3.1) */                                                                            \
    X(connect_unknown_protocol_name_is_bad_protocol, 0, MQTT_ERR_BAD_PROTOCOL, 0x10, 0x0C, 0x00,   \
      0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00)                                \
    X(connect_level_6_is_bad_protocol, 0, MQTT_ERR_BAD_PROTOCOL, 0x10, 0x0C, 0x00, 0x04, M, 0x06,  \
      0x02, 0x00, 0x3C, 0x00, 0x00)                                                                \
    X(connect_mqtt_name_with_level_3_is_bad_protocol, 0, MQTT_ERR_BAD_PROTOCOL, 0x10, 0x0C, 0x00,  \
      0x04, M, 0x03, 0x02, 0x00, 0x3C, 0x00, 0x00)                                                 \
    X(connect_mqisdp_with_level_4_is_bad_protocol, 0, MQTT_ERR_BAD_PROTOCOL, 0x10, 0x0E, 0x00,     \
      0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00)                      \
    X(connect_lowercase_protocol_name_is_bad_protocol, 0, MQTT_ERR_BAD_PROTOCOL, 0x10, 0x0C, 0x00, \
      0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00)                                \
    X(connect_empty_body_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x00)                          \
    X(connect_truncated_protocol_name_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x03, 0x00, 0x04, \
      'M')                                                                                         \
    X(connect_reserved_flag_is_malformed_mqtt_3_1_2_3, 0, MQTT_ERR_MALFORMED, 0x10, 0x0C,          \
      MQTT_V311_HDR, 0x03, 0x00, 0x3C, 0x00, 0x00)                                                 \
    X(v5_connect_reserved_flag_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x0D, MQTT_V5_HDR, 0x03, \
      0x00, 0x3C, 0x00, 0x00, 0x00)                                                                \
    X(connect_will_qos3_is_malformed_mqtt_3_1_2_14, 0, MQTT_ERR_MALFORMED, 0x10, 0x0C,             \
      MQTT_V311_HDR, 0x1E, 0x00, 0x3C, 0x00, 0x00)                                                 \
    X(connect_will_qos_without_will_is_protocol_error_mqtt_3_1_2_13, 0, MQTT_ERR_PROTOCOL, 0x10,   \
      0x0C, MQTT_V311_HDR, 0x0A, 0x00, 0x3C, 0x00, 0x00)                                           \
    X(connect_will_retain_without_will_is_protocol_error_mqtt_3_1_2_15, 0, MQTT_ERR_PROTOCOL,      \
      0x10, 0x0C, MQTT_V311_HDR, 0x22, 0x00, 0x3C, 0x00, 0x00)                                     \
    X(connect_password_without_username_is_protocol_error_mqtt_3_1_2_22, 0, MQTT_ERR_PROTOCOL,     \
      0x10, 0x10, MQTT_V311_HDR, 0x42, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x02, 'p', 'w')               \
    X(connect_truncated_client_id_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x0E, MQTT_V311_HDR,  \
      0x02, 0x00, 0x3C, 0x00, 0x05, 'a', 'b')                                                      \
    X(connect_missing_client_id_is_malformed_mqtt_3_1_3_3, 0, MQTT_ERR_MALFORMED, 0x10, 0x0A,      \
      MQTT_V311_HDR, 0x02, 0x00, 0x3C)                                                             \
    X(connect_leftover_byte_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x0D, MQTT_V311_HDR, 0x02,  \
      0x00, 0x3C, 0x00, 0x00, 0xFF)                                                                \
    X(connect_client_id_bad_utf8_is_bad_utf8_mqtt_1_5_3_1, 0, MQTT_ERR_BAD_UTF8, 0x10, 0x0E,       \
      MQTT_V311_HDR, 0x02, 0x00, 0x3C, 0x00, 0x02, 0xC0, 0x80)                                     \
    X(connect_will_topic_wildcard_is_bad_topic, 0, MQTT_ERR_BAD_TOPIC, 0x10, 0x11, MQTT_V311_HDR,  \
      0x06, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x01, '#', 0x00, 0x00)                                   \
    X(connect_will_topic_empty_is_bad_topic, 0, MQTT_ERR_BAD_TOPIC, 0x10, 0x10, MQTT_V311_HDR,     \
      0x06, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)                                        \
    X(connect_will_payload_missing_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x0F, MQTT_V311_HDR, \
      0x06, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x01, 't')                                               \
    X(connect_username_bad_utf8_is_bad_utf8, 0, MQTT_ERR_BAD_UTF8, 0x10, 0x0F, MQTT_V311_HDR,      \
      0x82, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x01, 0xFF)                                              \
    X(connect_username_flag_without_username_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x0C,      \
      MQTT_V311_HDR, 0x82, 0x00, 0x3C, 0x00, 0x00)                                                 \
    X(v5_connect_without_property_length_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x0A,          \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C)                                                               \
    X(v5_connect_property_length_beyond_packet_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x0D,    \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x10, 0x00, 0x00)                                             \
    X(v5_connect_truncated_u32_property_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x10,           \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x03, 0x11, 0x00, 0x00, 0x00, 0x00)                           \
    X(v5_connect_topic_alias_is_misplaced_property, 0, MQTT_ERR_BAD_PROPERTY, 0x10, 0x10,          \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x03, 0x23, 0x00, 0x01, 0x00, 0x00)                           \
    X(v5_connect_unknown_property_7f_is_bad_property, 0, MQTT_ERR_BAD_PROPERTY, 0x10, 0x0F,        \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x02, 0x7F, 0x00, 0x00, 0x00)                                 \
    X(v5_connect_property_id_0_is_bad_property, 0, MQTT_ERR_BAD_PROPERTY, 0x10, 0x0F, MQTT_V5_HDR, \
      0x02, 0x00, 0x3C, 0x02, 0x00, 0x00, 0x00, 0x00)                                              \
    X(v5_connect_duplicate_session_expiry_is_dup_property, 0, MQTT_ERR_DUP_PROPERTY, 0x10, 0x17,   \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x01, 0x11, 0x00, 0x00, 0x00,   \
      0x02, 0x00, 0x00)                                                                            \
    X(v5_connect_receive_maximum_0_is_protocol_error, 0, MQTT_ERR_PROTOCOL, 0x10, 0x10,            \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x03, 0x21, 0x00, 0x00, 0x00, 0x00)                           \
    X(v5_connect_maximum_packet_size_0_is_protocol_error, 0, MQTT_ERR_PROTOCOL, 0x10, 0x12,        \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00)               \
    X(v5_connect_request_problem_info_2_is_protocol_error, 0, MQTT_ERR_PROTOCOL, 0x10, 0x0F,       \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x02, 0x17, 0x02, 0x00, 0x00)                                 \
    X(v5_connect_request_response_info_2_is_protocol_error, 0, MQTT_ERR_PROTOCOL, 0x10, 0x0F,      \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x02, 0x19, 0x02, 0x00, 0x00)                                 \
    X(v5_connect_duplicate_auth_method_is_dup_property, 0, MQTT_ERR_DUP_PROPERTY, 0x10, 0x13,      \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x06, 0x15, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x00)         \
    X(v5_connect_user_property_bad_utf8_is_bad_utf8, 0, MQTT_ERR_BAD_UTF8, 0x10, 0x14,             \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x07, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0xFF, 0x00, 0x00)    \
    X(v5_connect_user_property_truncated_value_is_malformed, 0, MQTT_ERR_MALFORMED, 0x10, 0x14,    \
      MQTT_V5_HDR, 0x02, 0x00, 0x3C, 0x07, 0x26, 0x00, 0x01, 'k', 0x00, 0x09, 'v', 0x00, 0x00)     \
    X(v5_connect_auth_method_bad_utf8_is_bad_utf8, 0, MQTT_ERR_BAD_UTF8, 0x10, 0x11, MQTT_V5_HDR,  \
      0x02, 0x00, 0x3C, 0x04, 0x15, 0x00, 0x01, 0x80, 0x00, 0x00)                                  \
    X(v5_connect_will_property_session_expiry_is_misplaced, 0, MQTT_ERR_BAD_PROPERTY, 0x10, 0x18,  \
      MQTT_V5_HDR, 0x06, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x01, 0x00,   \
      0x01, 't', 0x00, 0x00)                                                                       \
    X(v5_connect_will_payload_format_2_is_protocol_error, 0, MQTT_ERR_PROTOCOL, 0x10, 0x15,        \
      MQTT_V5_HDR, 0x06, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02, 0x00, 0x01, 't', 0x00,    \
      0x00)                                                                                        \
    X(v5_connect_will_response_topic_wildcard_is_protocol_error, 0, MQTT_ERR_PROTOCOL, 0x10, 0x17, \
      MQTT_V5_HDR, 0x06, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x04, 0x08, 0x00, 0x01, '+', 0x00, 0x01,    \
      't', 0x00, 0x00)                                                                             \
    X(v5_connect_duplicate_will_delay_is_dup_property, 0, MQTT_ERR_DUP_PROPERTY, 0x10, 0x1D,       \
      MQTT_V5_HDR, 0x06, 0x00, 0x3C, 0x00, 0x00, 0x00, 0x0A, 0x18, 0x00, 0x00, 0x00, 0x01, 0x18,   \
      0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't', 0x00, 0x00)                                         \
    /* CONNACK (3.2) */                                                                            \
    X(connack_reserved_flags_is_malformed_mqtt_3_2_2_1, 4, MQTT_ERR_MALFORMED, 0x20, 0x02, 0x02,   \
      0x00)                                                                                        \
    X(connack_session_present_with_error_is_protocol_error_mqtt_3_2_2_4, 4, MQTT_ERR_PROTOCOL,     \
      0x20, 0x02, 0x01, 0x05)                                                                      \
    X(connack_return_code_6_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x20, 0x02, 0x00, 0x06)       \
    X(connack_extra_byte_is_malformed, 4, MQTT_ERR_MALFORMED, 0x20, 0x03, 0x00, 0x00, 0x00)        \
    X(connack_truncated_is_malformed, 4, MQTT_ERR_MALFORMED, 0x20, 0x01, 0x00)                     \
    X(v5_connack_reason_0x01_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x20, 0x03, 0x00, 0x01,      \
      0x00)                                                                                        \
    X(v5_connack_maximum_qos_2_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x20, 0x05, 0x00, 0x00,    \
      0x02, 0x24, 0x02)                                                                            \
    X(v5_connack_retain_available_2_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x20, 0x05, 0x00,     \
      0x00, 0x02, 0x25, 0x02)                                                                      \
    X(v5_connack_message_expiry_is_misplaced, 5, MQTT_ERR_BAD_PROPERTY, 0x20, 0x08, 0x00, 0x00,    \
      0x05, 0x02, 0x00, 0x00, 0x00, 0x01)                                                          \
    X(v5_connack_duplicate_server_keep_alive_is_dup_property, 5, MQTT_ERR_DUP_PROPERTY, 0x20,      \
      0x09, 0x00, 0x00, 0x06, 0x13, 0x00, 0x01, 0x13, 0x00, 0x02)                                  \
    /* PUBLISH (3.3) */                                                                            \
    X(publish_topic_with_plus_is_bad_topic_mqtt_3_3_2_2, 4, MQTT_ERR_BAD_TOPIC, 0x30, 0x05, 0x00,  \
      0x03, 'a', '/', '+')                                                                         \
    X(publish_topic_with_hash_is_bad_topic, 4, MQTT_ERR_BAD_TOPIC, 0x30, 0x03, 0x00, 0x01, '#')    \
    X(publish_empty_topic_is_bad_topic_mqtt_4_7_3_1, 4, MQTT_ERR_BAD_TOPIC, 0x30, 0x02, 0x00,      \
      0x00)                                                                                        \
    X(v5_publish_empty_topic_without_alias_is_bad_topic, 5, MQTT_ERR_BAD_TOPIC, 0x30, 0x03, 0x00,  \
      0x00, 0x00)                                                                                  \
    X(publish_topic_surrogate_is_bad_utf8, 4, MQTT_ERR_BAD_UTF8, 0x30, 0x05, 0x00, 0x03, 0xED,     \
      0xA0, 0x80)                                                                                  \
    X(publish_topic_nul_is_bad_utf8_mqtt_4_7_3_2, 4, MQTT_ERR_BAD_UTF8, 0x30, 0x04, 0x00, 0x02,    \
      'a', 0x00)                                                                                   \
    X(publish_qos1_packet_id_0_is_protocol_error_mqtt_2_3_1_1, 4, MQTT_ERR_PROTOCOL, 0x32, 0x05,   \
      0x00, 0x01, 't', 0x00, 0x00)                                                                 \
    X(publish_qos2_packet_id_0_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x34, 0x05, 0x00, 0x01,    \
      't', 0x00, 0x00)                                                                             \
    X(publish_qos1_missing_packet_id_is_malformed, 4, MQTT_ERR_MALFORMED, 0x32, 0x03, 0x00, 0x01,  \
      't')                                                                                         \
    X(publish_topic_length_beyond_packet_is_malformed, 4, MQTT_ERR_MALFORMED, 0x30, 0x03, 0x00,    \
      0x05, 't')                                                                                   \
    X(publish_one_byte_body_is_malformed, 4, MQTT_ERR_MALFORMED, 0x30, 0x01, 0x00)                 \
    X(v5_publish_missing_property_length_is_malformed, 5, MQTT_ERR_MALFORMED, 0x30, 0x03, 0x00,    \
      0x01, 't')                                                                                   \
    X(v5_publish_overlong_property_length_is_malformed, 5, MQTT_ERR_MALFORMED, 0x30, 0x05, 0x00,   \
      0x01, 't', 0x80, 0x00)                                                                       \
    X(v5_publish_topic_alias_0_is_topic_alias_invalid_mqtt_3_3_2_8, 5, MQTT_ERR_TOPIC_ALIAS, 0x30, \
      0x07, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00)                                               \
    X(v5_publish_payload_format_2_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x30, 0x06, 0x00, 0x01, \
      't', 0x02, 0x01, 0x02)                                                                       \
    X(v5_publish_duplicate_message_expiry_is_dup_property, 5, MQTT_ERR_DUP_PROPERTY, 0x30, 0x0E,   \
      0x00, 0x01, 't', 0x0A, 0x02, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01)           \
    X(v5_publish_duplicate_topic_alias_is_dup_property, 5, MQTT_ERR_DUP_PROPERTY, 0x30, 0x0A,      \
      0x00, 0x01, 't', 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02)                                   \
    X(v5_publish_session_expiry_is_misplaced, 5, MQTT_ERR_BAD_PROPERTY, 0x30, 0x09, 0x00, 0x01,    \
      't', 0x05, 0x11, 0x00, 0x00, 0x00, 0x01)                                                     \
    X(v5_publish_will_delay_is_misplaced, 5, MQTT_ERR_BAD_PROPERTY, 0x30, 0x09, 0x00, 0x01, 't',   \
      0x05, 0x18, 0x00, 0x00, 0x00, 0x01)                                                          \
    X(v5_publish_subscription_id_0_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x30, 0x06, 0x00,      \
      0x01, 't', 0x02, 0x0B, 0x00)                                                                 \
    X(v5_publish_overlong_subscription_id_is_malformed, 5, MQTT_ERR_MALFORMED, 0x30, 0x07, 0x00,   \
      0x01, 't', 0x03, 0x0B, 0x80, 0x00)                                                           \
    X(v5_publish_response_topic_wildcard_is_protocol_error_mqtt_3_3_2_14, 5, MQTT_ERR_PROTOCOL,    \
      0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x08, 0x00, 0x02, 'a', '#')                               \
    X(v5_publish_content_type_bad_utf8_is_bad_utf8, 5, MQTT_ERR_BAD_UTF8, 0x30, 0x08, 0x00, 0x01,  \
      't', 0x04, 0x03, 0x00, 0x01, 0xFF)                                                           \
    X(v5_publish_correlation_data_truncated_is_malformed, 5, MQTT_ERR_MALFORMED, 0x30, 0x08, 0x00, \
      0x01, 't', 0x04, 0x09, 0x00, 0x05, 0x01)                                                     \
    /* PUBACK PUBREC PUBREL PUBCOMP (3.4 - 3.7) */                                                 \
    X(puback_packet_id_0_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x40, 0x02, 0x00, 0x00)          \
    X(pubrec_packet_id_0_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x50, 0x02, 0x00, 0x00)          \
    X(pubrel_packet_id_0_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x62, 0x02, 0x00, 0x00)          \
    X(pubcomp_packet_id_0_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x70, 0x02, 0x00, 0x00)         \
    X(puback_v311_extra_byte_is_malformed, 4, MQTT_ERR_MALFORMED, 0x40, 0x03, 0x00, 0x01, 0x00)    \
    X(puback_truncated_is_malformed, 4, MQTT_ERR_MALFORMED, 0x40, 0x01, 0x00)                      \
    X(v5_puback_reason_0x92_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x40, 0x03, 0x00, 0x01, 0x92) \
    X(v5_pubrel_reason_0x10_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x62, 0x03, 0x00, 0x01, 0x10) \
    X(v5_pubcomp_reason_0x80_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x70, 0x03, 0x00, 0x01,      \
      0x80)                                                                                        \
    X(v5_puback_topic_alias_is_misplaced, 5, MQTT_ERR_BAD_PROPERTY, 0x40, 0x07, 0x00, 0x01, 0x00,  \
      0x03, 0x23, 0x00, 0x01)                                                                      \
    X(v5_puback_duplicate_reason_string_is_dup_property, 5, MQTT_ERR_DUP_PROPERTY, 0x40, 0x0A,     \
      0x00, 0x01, 0x00, 0x06, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00)                                  \
    X(v5_pubrec_property_length_beyond_packet_is_malformed, 5, MQTT_ERR_MALFORMED, 0x50, 0x05,     \
      0x00, 0x01, 0x00, 0x05, 0x1F)                                                                \
    /* SUBSCRIBE (3.8) */                                                                          \
    X(subscribe_without_entries_is_protocol_error_mqtt_3_8_3_3, 4, MQTT_ERR_PROTOCOL, 0x82, 0x02,  \
      0x00, 0x01)                                                                                  \
    X(subscribe_packet_id_0_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x82, 0x06, 0x00, 0x00, 0x00, \
      0x01, 'a', 0x00)                                                                             \
    X(subscribe_requested_qos3_is_malformed_mqtt_3_8_3_4, 4, MQTT_ERR_MALFORMED, 0x82, 0x06, 0x00, \
      0x01, 0x00, 0x01, 'a', 0x03)                                                                 \
    X(subscribe_v311_upper_bits_is_malformed_mqtt_3_8_3_4, 4, MQTT_ERR_MALFORMED, 0x82, 0x06,      \
      0x00, 0x01, 0x00, 0x01, 'a', 0x04)                                                           \
    X(subscribe_v31_upper_bits_is_malformed, 3, MQTT_ERR_MALFORMED, 0x82, 0x06, 0x00, 0x01, 0x00,  \
      0x01, 'a', 0x80)                                                                             \
    X(subscribe_missing_options_byte_is_malformed, 4, MQTT_ERR_MALFORMED, 0x82, 0x05, 0x00, 0x01,  \
      0x00, 0x01, 'a')                                                                             \
    X(subscribe_filter_bad_utf8_is_bad_utf8, 4, MQTT_ERR_BAD_UTF8, 0x82, 0x06, 0x00, 0x01, 0x00,   \
      0x01, 0xFF, 0x00)                                                                            \
    X(subscribe_second_entry_truncated_is_malformed, 4, MQTT_ERR_MALFORMED, 0x82, 0x08, 0x00,      \
      0x01, 0x00, 0x01, 'a', 0x00, 0x00, 0x05)                                                     \
    X(v5_subscribe_reserved_bits_is_malformed_mqtt_3_8_3_5, 5, MQTT_ERR_MALFORMED, 0x82, 0x07,     \
      0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40)                                                     \
    X(v5_subscribe_retain_handling_3_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x82, 0x07, 0x00,    \
      0x01, 0x00, 0x00, 0x01, 'a', 0x30)                                                           \
    X(v5_subscribe_qos3_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x82, 0x07, 0x00, 0x01, 0x00,     \
      0x00, 0x01, 'a', 0x03)                                                                       \
    X(v5_subscribe_no_local_on_shared_is_protocol_error_mqtt_3_8_3_4, 5, MQTT_ERR_PROTOCOL, 0x82,  \
      0x10, 0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'a', 0x04)  \
    X(v5_subscribe_two_subscription_ids_is_dup_property, 5, MQTT_ERR_DUP_PROPERTY, 0x82, 0x0B,     \
      0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 'a', 0x00)                             \
    X(v5_subscribe_subscription_id_0_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x82, 0x09, 0x00,    \
      0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 'a', 0x00)                                               \
    X(v5_subscribe_reason_string_is_misplaced, 5, MQTT_ERR_BAD_PROPERTY, 0x82, 0x0A, 0x00, 0x01,   \
      0x03, 0x1F, 0x00, 0x00, 0x00, 0x01, 'a', 0x00)                                               \
    X(v5_subscribe_without_entries_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x82, 0x03, 0x00,      \
      0x01, 0x00)                                                                                  \
    /* UNSUBSCRIBE (3.10) */                                                                       \
    X(unsubscribe_without_entries_is_protocol_error_mqtt_3_10_3_2, 4, MQTT_ERR_PROTOCOL, 0xA2,     \
      0x02, 0x00, 0x01)                                                                            \
    X(unsubscribe_packet_id_0_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0xA2, 0x05, 0x00, 0x00,     \
      0x00, 0x01, 'a')                                                                             \
    X(unsubscribe_truncated_filter_is_malformed, 4, MQTT_ERR_MALFORMED, 0xA2, 0x05, 0x00, 0x01,    \
      0x00, 0x05, 'a')                                                                             \
    X(unsubscribe_filter_bad_utf8_is_bad_utf8, 4, MQTT_ERR_BAD_UTF8, 0xA2, 0x05, 0x00, 0x01, 0x00, \
      0x01, 0x80)                                                                                  \
    X(v5_unsubscribe_subscription_id_is_misplaced, 5, MQTT_ERR_BAD_PROPERTY, 0xA2, 0x08, 0x00,     \
      0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, 'a')                                                     \
    /* SUBACK UNSUBACK (3.9, 3.11) */                                                              \
    X(suback_v311_return_code_3_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x90, 0x03, 0x00, 0x01,   \
      0x03)                                                                                        \
    X(suback_without_return_codes_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x90, 0x02, 0x00, 0x01) \
    X(suback_packet_id_0_is_protocol_error, 4, MQTT_ERR_PROTOCOL, 0x90, 0x03, 0x00, 0x00, 0x00)    \
    X(v5_suback_reason_0x11_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0x90, 0x04, 0x00, 0x01, 0x00, \
      0x11)                                                                                        \
    X(unsuback_v311_with_payload_is_malformed, 4, MQTT_ERR_MALFORMED, 0xB0, 0x03, 0x00, 0x01,      \
      0x00)                                                                                        \
    X(v5_unsuback_reason_0x01_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0xB0, 0x04, 0x00, 0x01,     \
      0x00, 0x01)                                                                                  \
    X(v5_unsuback_without_reasons_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0xB0, 0x03, 0x00, 0x01, \
      0x00)                                                                                        \
    X(v5_suback_subscription_id_is_misplaced, 5, MQTT_ERR_BAD_PROPERTY, 0x90, 0x06, 0x00, 0x01,    \
      0x02, 0x0B, 0x01, 0x00)                                                                      \
    /* DISCONNECT AUTH (3.14, 3.15) */                                                             \
    X(v5_disconnect_reason_0x01_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0xE0, 0x01, 0x01)         \
    X(v5_disconnect_will_delay_is_misplaced, 5, MQTT_ERR_BAD_PROPERTY, 0xE0, 0x07, 0x00, 0x05,     \
      0x18, 0x00, 0x00, 0x00, 0x01)                                                                \
    X(v5_disconnect_truncated_property_is_malformed, 5, MQTT_ERR_MALFORMED, 0xE0, 0x03, 0x00,      \
      0x01, 0x11)                                                                                  \
    X(v5_disconnect_duplicate_server_reference_is_dup_property, 5, MQTT_ERR_DUP_PROPERTY, 0xE0,    \
      0x08, 0x9C, 0x06, 0x1C, 0x00, 0x00, 0x1C, 0x00, 0x00)                                        \
    X(v5_auth_reason_0x80_is_protocol_error, 5, MQTT_ERR_PROTOCOL, 0xF0, 0x01, 0x80)               \
    X(v5_auth_session_expiry_is_misplaced, 5, MQTT_ERR_BAD_PROPERTY, 0xF0, 0x07, 0x18, 0x05, 0x11, \
      0x00, 0x00, 0x00, 0x01)                                                                      \
    X(v5_auth_leftover_after_properties_is_malformed, 5, MQTT_ERR_MALFORMED, 0xF0, 0x03, 0x18,     \
      0x00, 0xAA)

#define DEFINE_MALFORMED(name, version, expected, ...)                                             \
    static void name(void)                                                                         \
    {                                                                                              \
        static const uint8_t b[] = {__VA_ARGS__};                                                  \
        mqtt_packet_t pkt;                                                                         \
        uint32_t total = 0;                                                                        \
        /* the case must be one whole packet, so the error is the named one */                     \
        if (mqtt_frame_len(b, sizeof b, 0, &total) > 0) CU_ASSERT_EQUAL(total, sizeof b);          \
        decode_case(b, sizeof b, version, expected, &pkt);                                         \
    }
MALFORMED_CASES(DEFINE_MALFORMED)

CU_TestInfo codec_malformed_tests[] = {
    MALFORMED_CASES(CODEC_TEST_INFO) CU_TEST_INFO_NULL,
};
