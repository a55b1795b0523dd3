/* test_codec_topic.c - topic names, filters, $share and matching
 * (MQTT 5 sections 4.7 and 4.8.2). */
#include "test_codec.h"

#define B(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

static void topic_case(const char *t, size_t n, bool expected)
{
    CU_ASSERT_EQUAL(mqtt_topic_valid((const uint8_t *)t, n), expected);
}

static void filter_case(const char *f, size_t n, bool expected)
{
    CU_ASSERT_EQUAL(mqtt_filter_valid((const uint8_t *)f, n), expected);
}

/* Both validity checks must agree with the matcher's precondition. */
static void match_case(const char *f, const char *t, bool expected)
{
    CU_ASSERT_TRUE(mqtt_filter_valid((const uint8_t *)f, strlen(f)));
    CU_ASSERT_TRUE(mqtt_topic_valid((const uint8_t *)t, strlen(t)));
    CU_ASSERT_EQUAL(mqtt_topic_match((const uint8_t *)f, strlen(f), (const uint8_t *)t, strlen(t)),
                    expected);
}

/* X(name, string literal, valid?) */
#define TOPIC_CASES(X)                                                                             \
    X(topic_simple_levels_are_valid, "sport/tennis/player1", true)                                 \
    X(topic_single_slash_is_valid, "/", true)                                                      \
    X(topic_empty_levels_are_valid, "a//b/", true)                                                 \
    X(topic_with_space_is_valid, "sport tennis", true)                                             \
    X(topic_dollar_sys_is_valid, "$SYS/broker/uptime", true)                                       \
    X(topic_utf8_is_valid, "caf\xc3\xa9/\xe2\x82\xac", true)                                       \
    X(topic_empty_is_invalid_mqtt_4_7_3_1, "", false)                                              \
    X(topic_with_plus_is_invalid_mqtt_3_3_2_2, "sport/+/x", false)                                 \
    X(topic_with_hash_is_invalid_mqtt_3_3_2_2, "sport/#", false)                                   \
    X(topic_with_hash_inside_long_ascii_is_invalid, "abcdefghijklmnop#q", false)                   \
    X(topic_with_plus_inside_long_ascii_is_invalid, "abcdefghijklmnopqrstuv+", false)              \
    X(topic_with_nul_is_invalid_mqtt_4_7_3_2, "abc\0def", false)                                   \
    X(topic_with_bad_utf8_is_invalid, "abc\xc0\xaf", false)

#define DEFINE_TOPIC(name, lit, valid)                                                             \
    static void name(void)                                                                         \
    {                                                                                              \
        topic_case(lit, sizeof(lit) - 1, valid);                                                   \
    }
TOPIC_CASES(DEFINE_TOPIC)

#define FILTER_CASES(X)                                                                            \
    X(filter_plain_is_valid, "sport/tennis", true)                                                 \
    X(filter_hash_alone_is_valid, "#", true)                                                       \
    X(filter_plus_alone_is_valid, "+", true)                                                       \
    X(filter_trailing_hash_is_valid, "sport/tennis/#", true)                                       \
    X(filter_plus_levels_are_valid, "+/tennis/+", true)                                            \
    X(filter_plus_then_hash_is_valid, "+/#", true)                                                 \
    X(filter_empty_levels_plus_is_valid, "/+/", true)                                              \
    X(filter_share_is_valid, "$share/group/sport/#", true)                                         \
    X(filter_share_with_plus_is_valid, "$share/g/+", true)                                         \
    X(filter_share_prefix_lookalike_is_plain, "$sharex/+", true)                                   \
    X(filter_dollar_share_alone_is_plain, "$share", true)                                          \
    X(filter_empty_is_invalid_mqtt_4_7_3_1, "", false)                                             \
    X(filter_hash_not_last_is_invalid_mqtt_4_7_1_2, "sport/#/x", false)                            \
    X(filter_hash_glued_is_invalid, "sport#", false)                                               \
    X(filter_hash_before_slash_is_invalid, "#/", false)                                            \
    X(filter_plus_glued_left_is_invalid_mqtt_4_7_1_3, "sport+", false)                             \
    X(filter_plus_glued_right_is_invalid, "+sport/x", false)                                       \
    X(filter_double_plus_is_invalid, "a/++", false)                                                \
    X(filter_with_nul_is_invalid, "a\0b", false)                                                   \
    X(filter_with_surrogate_is_invalid, "a/\xed\xa0\x80", false)                                   \
    X(filter_share_empty_group_is_invalid_mqtt_4_8_2_1, "$share//a", false)                        \
    X(filter_share_without_filter_is_invalid, "$share/group", false)                               \
    X(filter_share_with_empty_filter_is_invalid, "$share/group/", false)                           \
    X(filter_share_group_with_plus_is_invalid_mqtt_4_8_2_2, "$share/g+/a", false)                  \
    X(filter_share_group_with_hash_is_invalid, "$share/#/a", false)                                \
    X(filter_share_bad_rest_is_invalid, "$share/g/a#", false)

#define DEFINE_FILTER(name, lit, valid)                                                            \
    static void name(void)                                                                         \
    {                                                                                              \
        filter_case(lit, sizeof(lit) - 1, valid);                                                  \
    }
FILTER_CASES(DEFINE_FILTER)

/* X(name, filter, topic, matches?) - examples of MQTT 5 section 4.7. */
#define MATCH_CASES(X)                                                                             \
    X(match_exact_topic, "sport/tennis", "sport/tennis", true)                                     \
    X(match_exact_differs_in_last_char, "sport/tennis", "sport/tennix", false)                     \
    X(match_filter_longer_than_topic, "sport/tennis/x", "sport/tennis", false)                     \
    X(match_topic_longer_than_filter, "sport", "sport/tennis", false)                              \
    X(match_hash_matches_all_levels, "sport/tennis/player1/#",                                     \
      "sport/tennis/player1/ranking/wimbledon", true)                                              \
    X(match_hash_matches_parent_level, "sport/#", "sport", true)                                   \
    X(match_hash_matches_parent_with_many_levels, "sport/tennis/#", "sport/tennis", true)          \
    X(match_hash_matches_empty_last_level, "sport/#", "sport/", true)                              \
    X(match_hash_not_prefix_of_longer_word, "sport/#", "sports", false)                            \
    X(match_lone_hash_matches_everything, "#", "a/b/c", true)                                      \
    X(match_plus_matches_one_level, "sport/tennis/+", "sport/tennis/player1", true)                \
    X(match_plus_not_two_levels, "sport/tennis/+", "sport/tennis/player1/ranking", false)          \
    X(match_plus_not_parent, "sport/+", "sport", false)                                            \
    X(match_plus_matches_empty_level, "sport/+", "sport/", true)                                   \
    X(match_lone_plus_not_leading_slash, "+", "/finance", false)                                   \
    X(match_plus_plus_leading_slash, "+/+", "/finance", true)                                      \
    X(match_slash_plus_leading_slash, "/+", "/finance", true)                                      \
    X(match_plus_then_hash, "+/tennis/#", "sport/tennis/x/y", true)                                \
    X(match_inner_plus, "a/+/c", "a/b/c", true)                                                    \
    X(match_inner_plus_wrong_tail, "a/+/c", "a/b/d", false)                                        \
    X(match_hash_no_match_dollar_mqtt_4_7_2_1, "#", "$SYS/uptime", false)                          \
    X(match_plus_no_match_dollar, "+/monitor/Clients", "$SYS/monitor/Clients", false)              \
    X(match_explicit_dollar_sys_hash, "$SYS/#", "$SYS/monitor/Clients", true)                      \
    X(match_dollar_then_plus, "$SYS/monitor/+", "$SYS/monitor/Clients", true)                      \
    X(match_is_case_sensitive, "Sport", "sport", false)                                            \
    X(match_utf8_levels, "caf\xc3\xa9/+", "caf\xc3\xa9/x", true)

#define DEFINE_MATCH(name, f, t, expected)                                                         \
    static void name(void)                                                                         \
    {                                                                                              \
        match_case(f, t, expected);                                                                \
    }
MATCH_CASES(DEFINE_MATCH)

static void share_split_fills_group_and_rest(void)
{
    mqtt_str_t g = {0}, r = {0};
    CU_ASSERT_TRUE(mqtt_share_split(B("$share/grp/a/+"), &g, &r));
    CU_ASSERT(str_eq(g, S("grp")));
    CU_ASSERT(str_eq(r, S("a/+")));
}

static void share_split_rejects_plain_filters(void)
{
    mqtt_str_t g = {0}, r = {0};
    CU_ASSERT_FALSE(mqtt_share_split(B("a/b"), &g, &r));
    CU_ASSERT_FALSE(mqtt_share_split(B("$share"), &g, &r));
    CU_ASSERT_FALSE(mqtt_share_split(B("$share/grouponly"), &g, &r));
    CU_ASSERT_FALSE(mqtt_share_split(B("$SHARE/g/a"), &g, &r));
    CU_ASSERT_PTR_NULL(g.p);
}

static void topic_over_65535_bytes_is_invalid(void)
{
    static uint8_t big[65536];
    memset(big, 'a', sizeof big);
    CU_ASSERT_TRUE(mqtt_topic_valid(big, 65535));
    CU_ASSERT_FALSE(mqtt_topic_valid(big, 65536));
    CU_ASSERT_TRUE(mqtt_filter_valid(big, 65535));
    CU_ASSERT_FALSE(mqtt_filter_valid(big, 65536));
}

CU_TestInfo codec_topic_tests[] = {
    TOPIC_CASES(CODEC_TEST_INFO) FILTER_CASES(CODEC_TEST_INFO) MATCH_CASES(CODEC_TEST_INFO){
        "share_split_fills_group_and_rest", share_split_fills_group_and_rest},
    {"share_split_rejects_plain_filters", share_split_rejects_plain_filters},
    {"topic_over_65535_bytes_is_invalid", topic_over_65535_bytes_is_invalid},
    CU_TEST_INFO_NULL,
};
