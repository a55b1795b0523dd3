/* fuzz_store.c - the store's value decoders on arbitrary keys and values. A
 * damaged database must read as "bad record" (recovery skips it), never as a
 * read outside the key or value, and a decoded record must survive its own
 * encoder. Input: u8 kind | u8 key length | key | value; key and value are
 * copied into buffers of their exact size so that ASan sees any overread. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

#define IN(s, b, n) ((s).len == 0 || ((s).p >= (b) && (s).p + (s).len <= (b) + (n)))
#define SAME(a, b) ((a).len == (b).len && (!(a).len || !memcmp((a).p, (b).p, (a).len)))
#define ROUND(T, enc, dec, ...)                                                                    \
    do {                                                                                           \
        T a, c;                                                                                    \
        if (!dec(k, kl, v, vl, &a)) break;                                                         \
        enc(&e, &a);                                                                               \
        assert(!e.oom && dec(k, kl, e.p, e.len, &c));                                              \
        assert(__VA_ARGS__);                                                                       \
    } while (0)

static void decode(uint8_t kind, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    store_buf_t e;
    store_buf_init(&e);
    store_inbound_t in;
    store_blob_t bl;
    switch (kind % 8) {
    case 0:
        ROUND(store_session_t, store_enc_session, store_dec_session,
              IN(a.client_id, k, kl) && IN(a.will_topic, v, vl) && IN(a.will_payload, v, vl) &&
                  IN(a.will_props, v, vl) && SAME(a.will_topic, c.will_topic) &&
                  SAME(a.will_props, c.will_props) && a.will_delay == c.will_delay);
        break;
    case 1:
        ROUND(store_sub_t, store_enc_sub, store_dec_sub,
              IN(a.client_id, k, kl) && IN(a.filter, k, kl) && a.sub_id == c.sub_id);
        break;
    case 2:
        ROUND(store_retained_t, store_enc_retained, store_dec_retained,
              IN(a.payload, v, vl) && IN(a.props, v, vl) && IN(a.origin_client, v, vl) &&
                  SAME(a.payload, c.payload) && a.expiry_time == c.expiry_time);
        break;
    case 3:
        ROUND(store_msg_t, store_enc_msg, store_dec_msg,
              IN(a.topic, v, vl) && IN(a.payload, v, vl) && IN(a.props, v, vl) &&
                  SAME(a.topic, c.topic) && SAME(a.props, c.props) && a.id == c.id);
        break;
    case 4:
        ROUND(store_qref_t, store_enc_qref, store_dec_qref,
              IN(a.client_id, k, kl) && a.seq == c.seq && a.msg_id == c.msg_id);
        break;
    case 5:
        ROUND(store_inflight_t, store_enc_inflight, store_dec_inflight,
              IN(a.client_id, k, kl) && a.packet_id == c.packet_id && a.state == c.state);
        break;
    case 6:
        if (store_dec_inbound(k, kl, &in)) assert(IN(in.client_id, k, kl));
        break;
    default:
        if (store_dec_blob(k, kl, v, vl, &bl)) assert(IN(bl.data, v, vl));
    }
    store_buf_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size - 2 < data[1]) return 0;
    size_t kl = data[1], vl = size - 2 - kl;
    uint8_t *k = malloc(kl + 1), *v = malloc(vl + 1); /* +1: malloc(0) may be NULL */
    memcpy(k, data + 2, kl);
    memcpy(v, data + 2 + kl, vl);
    decode(data[0], k, kl, v, vl);
    free(k);
    free(v);
    return 0;
}
