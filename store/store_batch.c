/*
 * store_batch.c - typed operations appended to a write batch. A batch is
 * its operations in one buffer (store_int.h has the layout) plus what the
 * store thread needs besides the bytes: message reference deltas and client
 * range deletes, both applied when the batch is committed.
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

store_batch_t *store_batch_new(void)
{
    return calloc(1, sizeof(store_batch_t));
}

/* A spare's buffers keep their capacity: a recycled batch costs no
 * allocation, and the store thread frees nothing a worker allocated (each
 * cross-thread free took the worker's malloc arena lock). */
#define SPARE_MAX 8192
#define SPARE_BYTES 1024

store_batch_t *store_batch_get(store_t *st)
{
    pthread_mutex_lock(&st->spare_mu);
    store_batch_t *b = st->spares;
    if (b) {
        st->spares = b->next;
        st->nspares--;
    }
    pthread_mutex_unlock(&st->spare_mu);
    if (!b) return store_batch_new();
    b->next = NULL;
    return b;
}

bool store_batch_reset(store_batch_t *b)
{
    if (b->cap > SPARE_BYTES || b->capdeltas > 64) return false;
    for (size_t i = 0; i < b->nranges; i++)
        free(b->ranges[i].client);
    free(b->ranges);
    b->ranges = NULL;
    b->nranges = 0;
    b->len = 0;
    b->ops = 0;
    b->ndeltas = 0;
    b->done = NULL;
    b->arg = NULL;
    b->next = NULL;
    b->result = STORE_OK;
    return true;
}

void store_spares_put(store_t *st, store_batch_t *list)
{
    /* only this thread adds spares, so the room can only grow meanwhile:
     * the chain is cut and counted outside the lock, then linked in whole
     * (workers taking spares never wait for a walk of thousands) */
    pthread_mutex_lock(&st->spare_mu);
    uint32_t room = SPARE_MAX - st->nspares;
    pthread_mutex_unlock(&st->spare_mu);
    store_batch_t *tail = NULL, *rest = list;
    uint32_t n = 0;
    for (; rest && n < room; n++) {
        tail = rest;
        rest = rest->next;
    }
    if (tail) {
        pthread_mutex_lock(&st->spare_mu);
        tail->next = st->spares;
        st->spares = list;
        st->nspares += n;
        pthread_mutex_unlock(&st->spare_mu);
    }
    while (rest) {
        store_batch_t *next = rest->next;
        store_batch_free(rest);
        rest = next;
    }
}

void store_spares_free(store_t *st)
{
    store_batch_t *list = st->spares;
    st->spares = NULL;
    st->nspares = 0;
    while (list) {
        store_batch_t *next = list->next;
        store_batch_free(list);
        list = next;
    }
}

void store_batch_free(store_batch_t *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->nranges; i++)
        free(b->ranges[i].client);
    free(b->ranges);
    free(b->deltas);
    free(b->buf);
    free(b);
}

uint32_t store_batch_count(const store_batch_t *b)
{
    return b->ops;
}

store_batch_mark_t store_batch_mark(const store_batch_t *b)
{
    return (store_batch_mark_t){b->len, b->ndeltas, b->nranges, b->ops};
}

void store_batch_rewind(store_batch_t *b, store_batch_mark_t m)
{
    while (b->nranges > m.nranges)
        free(b->ranges[--b->nranges].client);
    b->len = m.len;
    b->ndeltas = m.ndeltas;
    b->ops = m.ops;
}

static int store_batch_add_delta(store_batch_t *b, uint64_t id, int32_t delta)
{
    if (b->ndeltas == b->capdeltas) {
        size_t cap = b->capdeltas ? b->capdeltas * 2 : 8;
        store_delta_t *d = realloc(b->deltas, cap * sizeof(*d));
        if (!d) return STORE_ERR_NOMEM;
        b->deltas = d;
        b->capdeltas = cap;
    }
    b->deltas[b->ndeltas].id = id;
    b->deltas[b->ndeltas].delta = delta;
    b->ndeltas++;
    return STORE_OK;
}

/* Append one put (v != NULL) or delete of k; frees k and v. */
static int batch_apply(store_batch_t *b, store_buf_t *k, store_buf_t *v)
{
    int rc = STORE_OK;
    size_t vlen = v ? v->len : 0, need = STORE_OP_HDR + k->len + vlen;
    if (k->oom || (v && v->oom) || k->len > UINT32_MAX || vlen > UINT32_MAX) {
        rc = STORE_ERR_NOMEM;
        goto out;
    }
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 512;
        while (cap < b->len + need)
            cap *= 2;
        uint8_t *p = realloc(b->buf, cap);
        if (!p) {
            rc = STORE_ERR_NOMEM;
            goto out;
        }
        b->buf = p;
        b->cap = cap;
    }
    uint8_t *o = b->buf + b->len;
    uint32_t kl = (uint32_t)k->len, vl = (uint32_t)vlen;
    o[0] = v == NULL;
    memcpy(o + 1, &kl, 4);
    memcpy(o + 5, &vl, 4);
    memcpy(o + STORE_OP_HDR, k->p, kl);
    if (vl) memcpy(o + STORE_OP_HDR + kl, v->p, vl);
    b->len += need;
    b->ops++;
out:
    store_buf_free(k);
    if (v) store_buf_free(v);
    return rc;
}

/* Reserve the delta slot first so that a failure leaves b unchanged. */
static int batch_apply_ref(store_batch_t *b, store_buf_t *k, store_buf_t *v, uint64_t id,
                           int32_t delta)
{
    if (store_batch_add_delta(b, id, delta) != STORE_OK) {
        store_buf_free(k);
        if (v) store_buf_free(v);
        return STORE_ERR_NOMEM;
    }
    int rc = batch_apply(b, k, v);
    if (rc != STORE_OK) b->ndeltas--;
    return rc;
}

static bool str_ok(mqtt_str_t s)
{
    return store_name_ok((const char *)s.p, s.len);
}

int store_batch_put_session(store_batch_t *b, const store_session_t *s)
{
    if (!str_ok(s->client_id)) return STORE_ERR_INVALID;
    store_buf_t k, v;
    store_buf_init(&k);
    store_buf_init(&v);
    store_key_name(&k, SK_SESSION, (const char *)s->client_id.p, s->client_id.len);
    store_enc_session(&v, s);
    return batch_apply(b, &k, &v);
}

int store_batch_del_session(store_batch_t *b, const char *client, size_t len)
{
    if (!store_name_ok(client, len)) return STORE_ERR_INVALID;
    store_buf_t k;
    store_buf_init(&k);
    store_key_name(&k, SK_SESSION, client, len);
    return batch_apply(b, &k, NULL);
}

static void key_sub(store_buf_t *k, const char *client, size_t clen, const char *filter,
                    size_t flen)
{
    store_key_client(k, SK_SUB, client, clen);
    store_buf_raw(k, filter, flen);
}

int store_batch_put_sub(store_batch_t *b, const store_sub_t *s)
{
    if (!str_ok(s->client_id) || !str_ok(s->filter)) return STORE_ERR_INVALID;
    store_buf_t k, v;
    store_buf_init(&k);
    store_buf_init(&v);
    key_sub(&k, (const char *)s->client_id.p, s->client_id.len, (const char *)s->filter.p,
            s->filter.len);
    store_enc_sub(&v, s);
    return batch_apply(b, &k, &v);
}

int store_batch_del_sub(store_batch_t *b, const char *client, size_t clen, const char *filter,
                        size_t flen)
{
    if (!store_name_ok(client, clen) || !store_name_ok(filter, flen)) return STORE_ERR_INVALID;
    store_buf_t k;
    store_buf_init(&k);
    key_sub(&k, client, clen, filter, flen);
    return batch_apply(b, &k, NULL);
}

int store_batch_put_retained(store_batch_t *b, const store_retained_t *r)
{
    if (!str_ok(r->topic)) return STORE_ERR_INVALID;
    store_buf_t k, v;
    store_buf_init(&k);
    store_buf_init(&v);
    store_key_name(&k, SK_RETAINED, (const char *)r->topic.p, r->topic.len);
    store_enc_retained(&v, r);
    return batch_apply(b, &k, &v);
}

int store_batch_del_retained(store_batch_t *b, const char *topic, size_t len)
{
    if (!store_name_ok(topic, len)) return STORE_ERR_INVALID;
    store_buf_t k;
    store_buf_init(&k);
    store_key_name(&k, SK_RETAINED, topic, len);
    return batch_apply(b, &k, NULL);
}

int store_batch_put_msg(store_batch_t *b, const store_msg_t *m)
{
    if (m->id == 0) return STORE_ERR_INVALID;
    store_buf_t k, v;
    store_buf_init(&k);
    store_buf_init(&v);
    store_key_num(&k, SK_MSG, m->id);
    store_enc_msg(&v, m);
    return batch_apply_ref(b, &k, &v, m->id, 0);
}

static void key_queue(store_buf_t *k, const char *client, size_t len, uint64_t seq)
{
    store_key_client(k, SK_QUEUE, client, len);
    store_buf_u64(k, seq);
}

int store_batch_put_queue(store_batch_t *b, const store_qref_t *q)
{
    if (!str_ok(q->client_id) || q->msg_id == 0 || q->seq == 0) return STORE_ERR_INVALID;
    store_buf_t k, v;
    store_buf_init(&k);
    store_buf_init(&v);
    key_queue(&k, (const char *)q->client_id.p, q->client_id.len, q->seq);
    store_enc_qref(&v, q);
    return batch_apply_ref(b, &k, &v, q->msg_id, 1);
}

int store_batch_del_queue(store_batch_t *b, const char *client, size_t len, uint64_t seq,
                          uint64_t msg_id)
{
    if (!store_name_ok(client, len) || msg_id == 0) return STORE_ERR_INVALID;
    store_buf_t k;
    store_buf_init(&k);
    key_queue(&k, client, len, seq);
    return batch_apply_ref(b, &k, NULL, msg_id, -1);
}

static void key_pid(store_buf_t *k, char kind, const char *client, size_t len, uint16_t pid)
{
    store_key_client(k, kind, client, len);
    store_buf_u16(k, pid);
}

static int put_inflight(store_batch_t *b, const store_inflight_t *o, int32_t delta)
{
    if (!str_ok(o->client_id) || o->msg_id == 0) return STORE_ERR_INVALID;
    store_buf_t k, v;
    store_buf_init(&k);
    store_buf_init(&v);
    key_pid(&k, SK_OUT, (const char *)o->client_id.p, o->client_id.len, o->packet_id);
    store_enc_inflight(&v, o);
    if (delta == 0) return batch_apply(b, &k, &v);
    return batch_apply_ref(b, &k, &v, o->msg_id, delta);
}

int store_batch_put_inflight(store_batch_t *b, const store_inflight_t *o)
{
    return put_inflight(b, o, 1);
}

int store_batch_update_inflight(store_batch_t *b, const store_inflight_t *o)
{
    return put_inflight(b, o, 0);
}

int store_batch_del_inflight(store_batch_t *b, const char *client, size_t len, uint16_t packet_id,
                             uint64_t msg_id)
{
    if (!store_name_ok(client, len) || msg_id == 0) return STORE_ERR_INVALID;
    store_buf_t k;
    store_buf_init(&k);
    key_pid(&k, SK_OUT, client, len, packet_id);
    return batch_apply_ref(b, &k, NULL, msg_id, -1);
}

int store_batch_put_inbound(store_batch_t *b, const char *client, size_t len, uint16_t packet_id)
{
    if (!store_name_ok(client, len)) return STORE_ERR_INVALID;
    store_buf_t k, v;
    store_buf_init(&k);
    store_buf_init(&v);
    key_pid(&k, SK_IN, client, len, packet_id);
    return batch_apply(b, &k, &v);
}

int store_batch_del_inbound(store_batch_t *b, const char *client, size_t len, uint16_t packet_id)
{
    if (!store_name_ok(client, len)) return STORE_ERR_INVALID;
    store_buf_t k;
    store_buf_init(&k);
    key_pid(&k, SK_IN, client, len, packet_id);
    return batch_apply(b, &k, NULL);
}

static int put_blob(store_batch_t *b, char kind, uint64_t seq, const void *data, size_t len)
{
    if (seq == 0 || (!data && len) || len > UINT32_MAX) return STORE_ERR_INVALID;
    store_buf_t k, v;
    store_buf_init(&k);
    store_buf_init(&v);
    store_key_num(&k, kind, seq);
    store_buf_raw(&v, data, len);
    return batch_apply(b, &k, &v);
}

static int del_blob(store_batch_t *b, char kind, uint64_t seq)
{
    store_buf_t k;
    store_buf_init(&k);
    store_key_num(&k, kind, seq);
    return batch_apply(b, &k, NULL);
}

int store_batch_put_spool(store_batch_t *b, uint64_t seq, const void *data, size_t len)
{
    return put_blob(b, SK_SPOOL, seq, data, len);
}

int store_batch_del_spool(store_batch_t *b, uint64_t seq)
{
    return del_blob(b, SK_SPOOL, seq);
}

int store_batch_put_dead(store_batch_t *b, uint64_t seq, const void *data, size_t len)
{
    return put_blob(b, SK_DEAD, seq, data, len);
}

int store_batch_del_dead(store_batch_t *b, uint64_t seq)
{
    return del_blob(b, SK_DEAD, seq);
}

int store_delete_client_state(store_batch_t *b, const char *client, size_t len, unsigned what)
{
    if (!store_name_ok(client, len) || (what & ~(unsigned)STORE_CLIENT_ALL) || what == 0)
        return STORE_ERR_INVALID;
    store_rangedel_t *r = realloc(b->ranges, (b->nranges + 1) * sizeof(*r));
    if (!r) return STORE_ERR_NOMEM;
    b->ranges = r;
    char *copy = malloc(len);
    if (!copy) return STORE_ERR_NOMEM;
    memcpy(copy, client, len);
    r = &b->ranges[b->nranges++];
    r->at = b->len;
    r->client = copy;
    r->len = len;
    r->what = what;
    b->ops++;
    return STORE_OK;
}
