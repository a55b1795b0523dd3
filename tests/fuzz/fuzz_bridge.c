/* fuzz_bridge.c - what the bridge decodes from stored or received bytes:
 * a dead-letter value (bridge_dlq_decode), a record blob read back from the spool
 * or the quarantine (bridge_blob_parse, then every header as the producer walks
 * them) and an MQTT payload it sniffs for JSON (bridge_json_valid; what it calls
 * JSON is embedded raw in the envelope, so cJSON must accept it too). */
#include <assert.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"

static void blob(const uint8_t *p, size_t n)
{
    blob_view_t v;
    if (bridge_blob_parse(p, n, &v)) return;
    const uint8_t *t = (const uint8_t *)v.topic, *end = p + n;
    assert(t > p && t + v.topic_len < end && !t[v.topic_len]);
    assert(v.key + v.key_len <= end && v.value + v.value_len == end);
    uint32_t off = 0;
    uint16_t i = 0;
    blob_hdr_t h;
    while (bridge_blob_next_hdr(&v, &off, &i, &h)) /* headers end before the value's length */
        assert((const uint8_t *)h.name >= v.hdrs && h.val + h.vlen <= v.value - 4);
    assert(i == v.n_hdrs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size + 1); /* exact size (+1 for malloc(0)): ASan sees overreads */
    memcpy(p, data, size);
    int err;
    const uint8_t *b;
    size_t bl;
    if (!bridge_dlq_decode(p, size, &err, &b, &bl)) {
        assert(b >= p && b + bl == p + size);
        blob(b, bl);
    }
    blob(p, size);
    if (bridge_json_valid(p, size)) {
        const char *end = NULL;
        cJSON *j = cJSON_ParseWithLengthOpts((const char *)p, size, &end, 0);
        assert(j && end);
        cJSON_Delete(j);
    }
    free(p);
    return 0;
}
