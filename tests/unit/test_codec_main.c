/* test_codec_main.c - runs every codec suite; exits non-zero on failure. */
#include "test_codec.h"

#include <CUnit/Basic.h>
#include <stdio.h>

int decode_case(const uint8_t *b, size_t n, uint8_t version, int expected, mqtt_packet_t *pkt)
{
    mqtt_limits_t lim = {.version = version, .max_packet_size = 0};
    mqtt_packet_t sentinel;
    memset(pkt, 0xA5, sizeof *pkt);
    memset(&sentinel, 0xA5, sizeof sentinel);
    int rc = mqtt_decode(b, n, &lim, pkt);
    CU_ASSERT_EQUAL(rc, expected);
    if (rc <= 0)
        CU_ASSERT(memcmp(pkt, &sentinel, sizeof sentinel) == 0); /* written only on success */
    return rc;
}

int roundtrip(uint8_t version, const mqtt_packet_t *in, mqtt_packet_t *out, uint8_t *buf,
              size_t cap)
{
    int size = mqtt_encode_size(version, in);
    CU_ASSERT(size > 0);
    if (size <= 0 || (size_t)size > cap) return size;
    int n = mqtt_encode(buf, cap, version, in);
    CU_ASSERT_EQUAL(n, size);
    CU_ASSERT_EQUAL(mqtt_encode(buf, (size_t)size - 1, version, in), MQTT_ERR_NOSPACE);
    n = mqtt_encode(buf, (size_t)size, version, in);
    CU_ASSERT_EQUAL(n, size);
    mqtt_limits_t lim = {.version = in->type == MQTT_CONNECT ? 0 : version};
    for (int i = 0; i < n; i++)
        if (mqtt_decode(buf, (size_t)i, &lim, out) != MQTT_ERR_INCOMPLETE) {
            CU_FAIL("a proper prefix of an encoded packet is not incomplete");
            break;
        }
    memset(out, 0x5A, sizeof *out);
    int rc = mqtt_decode(buf, (size_t)n, &lim, out);
    CU_ASSERT_EQUAL(rc, n);
    if (rc == n) {
        CU_ASSERT_EQUAL(out->type, in->type);
    }
    return rc == n ? n : (rc < 0 ? rc : -100);
}

bool str_eq(mqtt_str_t a, mqtt_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

void assert_props_eq(const mqtt_props_t *a, const mqtt_props_t *b)
{
    CU_ASSERT_EQUAL(a->present, b->present);
    CU_ASSERT_EQUAL(a->payload_format, b->payload_format);
    CU_ASSERT_EQUAL(a->request_problem_info, b->request_problem_info);
    CU_ASSERT_EQUAL(a->request_response_info, b->request_response_info);
    CU_ASSERT_EQUAL(a->maximum_qos, b->maximum_qos);
    CU_ASSERT_EQUAL(a->retain_available, b->retain_available);
    CU_ASSERT_EQUAL(a->wildcard_sub_available, b->wildcard_sub_available);
    CU_ASSERT_EQUAL(a->sub_id_available, b->sub_id_available);
    CU_ASSERT_EQUAL(a->shared_sub_available, b->shared_sub_available);
    CU_ASSERT_EQUAL(a->server_keep_alive, b->server_keep_alive);
    CU_ASSERT_EQUAL(a->receive_maximum, b->receive_maximum);
    CU_ASSERT_EQUAL(a->topic_alias_maximum, b->topic_alias_maximum);
    CU_ASSERT_EQUAL(a->topic_alias, b->topic_alias);
    CU_ASSERT_EQUAL(a->message_expiry, b->message_expiry);
    CU_ASSERT_EQUAL(a->session_expiry, b->session_expiry);
    CU_ASSERT_EQUAL(a->will_delay, b->will_delay);
    CU_ASSERT_EQUAL(a->maximum_packet_size, b->maximum_packet_size);
    CU_ASSERT_EQUAL(a->sub_id_count, b->sub_id_count);
    for (int i = 0; i < a->sub_id_count && i < MQTT_MAX_SUB_IDS; i++)
        CU_ASSERT_EQUAL(a->sub_ids[i], b->sub_ids[i]);
    CU_ASSERT(str_eq(a->content_type, b->content_type));
    CU_ASSERT(str_eq(a->response_topic, b->response_topic));
    CU_ASSERT(str_eq(a->correlation_data, b->correlation_data));
    CU_ASSERT(str_eq(a->assigned_client_id, b->assigned_client_id));
    CU_ASSERT(str_eq(a->auth_method, b->auth_method));
    CU_ASSERT(str_eq(a->auth_data, b->auth_data));
    CU_ASSERT(str_eq(a->response_info, b->response_info));
    CU_ASSERT(str_eq(a->server_reference, b->server_reference));
    CU_ASSERT(str_eq(a->reason_string, b->reason_string));
    CU_ASSERT_EQUAL(a->user_count, b->user_count);
    uint32_t oa = 0, ob = 0;
    mqtt_str_t ka, va, kb, vb;
    bool na, nb;
    do {
        na = mqtt_user_prop_next(&a->user, &oa, &ka, &va);
        nb = mqtt_user_prop_next(&b->user, &ob, &kb, &vb);
        CU_ASSERT_EQUAL(na, nb);
        if (na && nb) {
            CU_ASSERT(str_eq(ka, kb));
            CU_ASSERT(str_eq(va, vb));
        }
    } while (na && nb);
}

int main(void)
{
    CU_SuiteInfo suites[] = {
        {.pName = "primitives", .pTests = codec_prim_tests},
        {.pName = "topics", .pTests = codec_topic_tests},
        {.pName = "decode", .pTests = codec_decode_tests},
        {.pName = "malformed", .pTests = codec_malformed_tests},
        {.pName = "roundtrip", .pTests = codec_roundtrip_tests},
        {.pName = "encode", .pTests = codec_encode_tests},
        {.pName = "publish", .pTests = codec_publish_tests},
        CU_SUITE_INFO_NULL,
    };
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "test_codec: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_NORMAL);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
