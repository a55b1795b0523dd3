/*
 * test_codec.h - helpers shared by the codec test suites (test_codec_*.c).
 * Each suite file exports one CU_TestInfo array; test_codec_main.c runs
 * them all.
 */
#ifndef SLUICE_TEST_CODEC_H
#define SLUICE_TEST_CODEC_H

#include "mqtt.h"

#include <CUnit/CUnit.h>
#include <string.h>

extern CU_TestInfo codec_prim_tests[];
extern CU_TestInfo codec_topic_tests[];
extern CU_TestInfo codec_decode_tests[];
extern CU_TestInfo codec_malformed_tests[];
extern CU_TestInfo codec_roundtrip_tests[];
extern CU_TestInfo codec_encode_tests[];
extern CU_TestInfo codec_publish_tests[];

/* A string literal as a view. */
#define S(lit) ((mqtt_str_t){(const uint8_t *)(lit), (uint32_t)(sizeof(lit) - 1)})

/* Decode bytes at protocol level `version`; expect `expected` and, on
 * failure, *pkt left untouched. Returns the decode result. */
int decode_case(const uint8_t *b, size_t n, uint8_t version, int expected, mqtt_packet_t *pkt);
/* Encode *in at `version`, check the size function agrees, that one byte
 * less is MQTT_ERR_NOSPACE, that every proper prefix is incomplete, and
 * decode the bytes into *out. Returns the encoded length (or < 0). */
int roundtrip(uint8_t version, const mqtt_packet_t *in, mqtt_packet_t *out, uint8_t *buf,
              size_t cap);
bool str_eq(mqtt_str_t a, mqtt_str_t b);
/* Field-by-field equality of two property sets (user props by iteration). */
void assert_props_eq(const mqtt_props_t *a, const mqtt_props_t *b);

/* Tests defined from a table: X(name, ...) entries become functions and
 * CU_TestInfo rows with the same name. */
#define CODEC_TEST_INFO(name, ...) {#name, name},

#endif
