/* test_codec_prim.c - variable byte integers, UTF-8, error texts/codes, the
 * string hash. */
#include "test_codec.h"
#include "mqtt_hash.h"

/* Decode bytes as a varint; on success also check that encoding the value
 * gives back the same bytes (they are minimal) and the size agrees. */
static void varint_case(const uint8_t *b, size_t n, int rc_expected, uint32_t value_expected)
{
    uint32_t v = 0xDEADBEEF;
    int rc = mqtt_varint_decode(b, n, &v);
    CU_ASSERT_EQUAL(rc, rc_expected);
    if (rc_expected <= 0) {
        CU_ASSERT_EQUAL(v, 0xDEADBEEF);
        return;
    }
    CU_ASSERT_EQUAL(v, value_expected);
    uint8_t enc[4];
    CU_ASSERT_EQUAL(mqtt_varint_encode(enc, value_expected), rc_expected);
    CU_ASSERT_EQUAL(mqtt_varint_size(value_expected), rc_expected);
    CU_ASSERT(memcmp(enc, b, (size_t)rc_expected) == 0);
}

/* X(name, expected rc, expected value, bytes...) - MQTT 5 section 1.5.5. */
#define VARINT_CASES(X)                                                                            \
    X(varint_spec_0_one_byte, 1, 0, 0x00)                                                          \
    X(varint_spec_127_one_byte, 1, 127, 0x7F)                                                      \
    X(varint_spec_128_two_bytes, 2, 128, 0x80, 0x01)                                               \
    X(varint_spec_16383_two_bytes, 2, 16383, 0xFF, 0x7F)                                           \
    X(varint_spec_16384_three_bytes, 3, 16384, 0x80, 0x80, 0x01)                                   \
    X(varint_spec_2097151_three_bytes, 3, 2097151, 0xFF, 0xFF, 0x7F)                               \
    X(varint_spec_2097152_four_bytes, 4, 2097152, 0x80, 0x80, 0x80, 0x01)                          \
    X(varint_spec_268435455_four_bytes, 4, 268435455, 0xFF, 0xFF, 0xFF, 0x7F)                      \
    X(varint_trailing_bytes_are_not_consumed, 1, 5, 0x05, 0xFF)                                    \
    X(overlong_varint_0x80_0x00_is_malformed, MQTT_ERR_MALFORMED, 0, 0x80, 0x00)                   \
    X(overlong_varint_three_bytes_is_malformed, MQTT_ERR_MALFORMED, 0, 0xFF, 0x80, 0x00)           \
    X(overlong_varint_four_bytes_is_malformed, MQTT_ERR_MALFORMED, 0, 0x80, 0x80, 0x80, 0x00)      \
    X(five_byte_varint_is_malformed, MQTT_ERR_MALFORMED, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F)          \
    X(four_continuation_bytes_are_malformed_without_fifth, MQTT_ERR_MALFORMED, 0, 0x80, 0x80,      \
      0x80, 0x80)                                                                                  \
    X(varint_with_continuation_at_end_is_incomplete, MQTT_ERR_INCOMPLETE, 0, 0x80)                 \
    X(varint_three_continuations_is_incomplete, MQTT_ERR_INCOMPLETE, 0, 0xFF, 0xFF, 0xFF)

#define DEFINE_VARINT(name, rc, value, ...)                                                        \
    static void name(void)                                                                         \
    {                                                                                              \
        static const uint8_t b[] = {__VA_ARGS__};                                                  \
        varint_case(b, sizeof b, rc, value);                                                       \
    }
VARINT_CASES(DEFINE_VARINT)

static void varint_empty_input_is_incomplete(void)
{
    uint32_t v;
    CU_ASSERT_EQUAL(mqtt_varint_decode((const uint8_t *)"", 0, &v), MQTT_ERR_INCOMPLETE);
}

static void varint_encode_above_max_is_invalid(void)
{
    uint8_t b[8];
    CU_ASSERT_EQUAL(mqtt_varint_encode(b, 268435456u), MQTT_ERR_INVALID);
    CU_ASSERT_EQUAL(mqtt_varint_size(268435456u), MQTT_ERR_INVALID);
    CU_ASSERT_EQUAL(mqtt_varint_size(0xFFFFFFFFu), MQTT_ERR_INVALID);
}

static void varint_every_boundary_roundtrips(void)
{
    static const uint32_t vals[] = {0,      1,       126,     127,       128,      129,
                                    16383,  16384,   16385,   2097151,   2097152,  2097153,
                                    999999, 1234567, 9999999, 268435454, 268435455};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint8_t b[4];
        uint32_t v;
        int n = mqtt_varint_encode(b, vals[i]);
        CU_ASSERT_EQUAL(n, mqtt_varint_size(vals[i]));
        CU_ASSERT_EQUAL(mqtt_varint_decode(b, (size_t)n, &v), n);
        CU_ASSERT_EQUAL(v, vals[i]);
        CU_ASSERT_EQUAL(mqtt_varint_decode(b, (size_t)n - 1, &v), MQTT_ERR_INCOMPLETE);
    }
}

static void utf8_case(const uint8_t *b, size_t n, bool expected)
{
    CU_ASSERT_EQUAL(mqtt_utf8_valid(b, n), expected);
}

/* X(name, valid?, bytes...) - MQTT 5 section 1.5.4, 3.1.1 section 1.5.3. */
#define UTF8_CASES(X)                                                                              \
    X(utf8_ascii_is_valid, true, 'a', '/', 'b')                                                    \
    X(utf8_two_byte_e_acute_is_valid, true, 0xC3, 0xA9)                                            \
    X(utf8_three_byte_euro_is_valid, true, 0xE2, 0x82, 0xAC)                                       \
    X(utf8_four_byte_emoji_is_valid, true, 0xF0, 0x9F, 0x98, 0x80)                                 \
    X(utf8_max_code_point_10ffff_is_valid, true, 0xF4, 0x8F, 0xBF, 0xBF)                           \
    X(utf8_feff_bom_is_valid, true, 0xEF, 0xBB, 0xBF) /* MQTT-1.5.4-3: not skipped */              \
    X(utf8_last_before_surrogates_d7ff_is_valid, true, 0xED, 0x9F, 0xBF)                           \
    X(utf8_first_after_surrogates_e000_is_valid, true, 0xEE, 0x80, 0x80)                           \
    X(utf8_u0000_is_invalid_mqtt_1_5_4_2, false, 'a', 0x00, 'b')                                   \
    X(utf8_u0000_in_long_ascii_run_is_invalid, false, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 0x00,     \
      'h')                                                                                         \
    X(utf8_surrogate_d800_is_invalid_mqtt_1_5_4_1, false, 0xED, 0xA0, 0x80)                        \
    X(utf8_surrogate_dfff_is_invalid, false, 0xED, 0xBF, 0xBF)                                     \
    X(utf8_overlong_two_byte_slash_is_invalid, false, 0xC0, 0xAF)                                  \
    X(utf8_overlong_c1_is_invalid, false, 0xC1, 0xBF)                                              \
    X(utf8_overlong_three_byte_is_invalid, false, 0xE0, 0x80, 0xAF)                                \
    X(utf8_overlong_four_byte_is_invalid, false, 0xF0, 0x80, 0x80, 0xAF)                           \
    X(utf8_overlong_nul_c0_80_is_invalid, false, 0xC0, 0x80)                                       \
    X(utf8_above_10ffff_is_invalid, false, 0xF4, 0x90, 0x80, 0x80)                                 \
    X(utf8_f5_lead_is_invalid, false, 0xF5, 0x80, 0x80, 0x80)                                      \
    X(utf8_ff_byte_is_invalid, false, 0xFF)                                                        \
    X(utf8_lone_continuation_is_invalid, false, 0x80)                                              \
    X(utf8_truncated_two_byte_is_invalid, false, 'x', 0xC3)                                        \
    X(utf8_truncated_four_byte_is_invalid, false, 0xF0, 0x9F, 0x98)                                \
    X(utf8_bad_continuation_is_invalid, false, 0xE2, 0x28, 0xA1)                                   \
    X(utf8_non_ascii_after_eight_ascii_is_checked, false, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h',  \
      0xC0, 0x80)

#define DEFINE_UTF8(name, valid, ...)                                                              \
    static void name(void)                                                                         \
    {                                                                                              \
        static const uint8_t b[] = {__VA_ARGS__};                                                  \
        utf8_case(b, sizeof b, valid);                                                             \
    }
UTF8_CASES(DEFINE_UTF8)

static void utf8_empty_string_is_valid(void)
{
    CU_ASSERT_TRUE(mqtt_utf8_valid((const uint8_t *)"", 0));
}

static void utf8_every_two_byte_code_point_is_valid(void)
{
    int bad = 0;
    for (uint32_t cp = 0x80; cp < 0x800; cp++) {
        uint8_t b[2] = {(uint8_t)(0xC0 | (cp >> 6)), (uint8_t)(0x80 | (cp & 0x3F))};
        bad += !mqtt_utf8_valid(b, 2);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void utf8_all_surrogates_are_invalid(void)
{
    int accepted = 0;
    for (uint32_t cp = 0xD800; cp <= 0xDFFF; cp++) {
        uint8_t b[3] = {(uint8_t)(0xE0 | (cp >> 12)), (uint8_t)(0x80 | ((cp >> 6) & 0x3F)),
                        (uint8_t)(0x80 | (cp & 0x3F))};
        accepted += mqtt_utf8_valid(b, 3);
    }
    CU_ASSERT_EQUAL(accepted, 0);
}

static void err_reason_maps_each_error(void)
{
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_MALFORMED), MQTT_RC_MALFORMED);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_PROTOCOL), MQTT_RC_PROTOCOL_ERROR);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_TOO_LARGE), MQTT_RC_PACKET_TOO_LARGE);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_TOPIC_ALIAS), MQTT_RC_TOPIC_ALIAS_INVALID);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_BAD_UTF8), MQTT_RC_MALFORMED);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_BAD_TOPIC), MQTT_RC_TOPIC_NAME_INVALID);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_BAD_PROTOCOL), MQTT_RC_UNSUPPORTED_VERSION);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_BAD_PROPERTY), MQTT_RC_MALFORMED);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_DUP_PROPERTY), MQTT_RC_PROTOCOL_ERROR);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_BAD_PACKET_TYPE), MQTT_RC_MALFORMED);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_BAD_CLIENT_ID), MQTT_RC_CLIENT_ID_INVALID);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_NOSPACE), MQTT_RC_UNSPECIFIED);
    CU_ASSERT_EQUAL(mqtt_err_reason(MQTT_ERR_INVALID), MQTT_RC_UNSPECIFIED);
    CU_ASSERT_EQUAL(mqtt_err_reason(-1000), MQTT_RC_UNSPECIFIED);
    CU_ASSERT_EQUAL(mqtt_err_reason(5), MQTT_RC_SUCCESS);
}

static void strerror_names_every_error_distinctly(void)
{
    for (int e = 0; e >= MQTT_ERR_DUP_PROPERTY; e--) {
        const char *s = mqtt_strerror(e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        CU_ASSERT(strcmp(s, "unknown error") != 0);
        for (int f = e - 1; f >= MQTT_ERR_DUP_PROPERTY; f--)
            CU_ASSERT(strcmp(s, mqtt_strerror(f)) != 0);
    }
    CU_ASSERT_STRING_EQUAL(mqtt_strerror(-99), "unknown error");
    CU_ASSERT_STRING_EQUAL(mqtt_strerror(MQTT_ERR_TOO_LARGE), "packet too large");
}

/* The published FNV-1a 32-bit test vectors: the hash is the reference one. */
static void fnv1a_matches_reference_vectors(void)
{
    CU_ASSERT_EQUAL(mqtt_fnv1a("", 0), 0x811c9dc5u);
    CU_ASSERT_EQUAL(mqtt_fnv1a("a", 1), 0xe40c292cu);
    CU_ASSERT_EQUAL(mqtt_fnv1a("foobar", 6), 0xbf9cf968u);
    CU_ASSERT_EQUAL(mqtt_fnv1a("\xff", 1), (0x811c9dc5u ^ 0xffu) * 16777619u); /* bytes unsigned */
}

CU_TestInfo codec_prim_tests[] = {
    VARINT_CASES(CODEC_TEST_INFO) UTF8_CASES(CODEC_TEST_INFO){"varint_empty_input_is_incomplete",
                                                              varint_empty_input_is_incomplete},
    {"varint_encode_above_max_is_invalid", varint_encode_above_max_is_invalid},
    {"varint_every_boundary_roundtrips", varint_every_boundary_roundtrips},
    {"utf8_empty_string_is_valid", utf8_empty_string_is_valid},
    {"utf8_every_two_byte_code_point_is_valid", utf8_every_two_byte_code_point_is_valid},
    {"utf8_all_surrogates_are_invalid", utf8_all_surrogates_are_invalid},
    {"err_reason_maps_each_error", err_reason_maps_each_error},
    {"strerror_names_every_error_distinctly", strerror_names_every_error_distinctly},
    {"fnv1a_matches_reference_vectors", fnv1a_matches_reference_vectors},
    CU_TEST_INFO_NULL,
};
