/*
 * bridge_dlq.c - the local dead-letter quarantine (d/<seq> in the store):
 * what Kafka refused for good when no bridge.dead_letter_topic is set.
 * Value: u8 version (1) | u32 librdkafka error code | record blob.
 * `sluice dlq list|replay` use the two functions below on a store the
 * running broker does not hold.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_int.h"

void bridge_dlq_encode(store_buf_t *b, int err, const uint8_t *blob, size_t len)
{
    store_buf_u8(b, 1);
    store_buf_u32(b, (uint32_t)err);
    store_buf_raw(b, blob, len);
}

int bridge_dlq_decode(const uint8_t *p, size_t len, int *err, const uint8_t **blob, size_t *blen)
{
    if (len < 5 || p[0] != 1) return -1;
    *err = (int)((uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4]);
    *blob = p + 5;
    *blen = len - 5;
    return 0;
}

static int list_cb(void *arg, const store_blob_t *b)
{
    FILE *out = arg;
    int err;
    const uint8_t *blob;
    size_t blen;
    blob_view_t v;
    if (bridge_dlq_decode(b->data.p, b->data.len, &err, &blob, &blen) ||
        bridge_blob_parse(blob, blen, &v)) {
        fprintf(out, "%llu\tundecodable record (%u bytes)\n", (unsigned long long)b->seq,
                b->data.len);
        return 0;
    }
    fprintf(out, "%llu\t%s\ttopic=%s\tkey=%.*s\tbytes=%u\ttimestamp=%lld\n",
            (unsigned long long)b->seq, rd_kafka_err2name((rd_kafka_resp_err_t)err), v.topic,
            (int)v.key_len, (const char *)v.key, v.value_len, (long long)v.ts);
    return 0;
}

int bridge_dlq_list(store_t *st, FILE *out)
{
    return store_scan_dead(st, 0, 0, list_cb, out) < 0 ? BRIDGE_ERR : 0;
}

typedef struct replay {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t *acked;
    size_t n_acked, n_sent, n_reports;
    bool done;
    int err;
    struct bridge fake; /* only rk used: bridge_produce() */
} replay_t;

typedef struct rp_rec {
    rec_t *r;
    replay_t *rp;
} rp_rec_t;

static void replay_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    replay_t *rp = opaque;
    rec_t *r = m->_private;
    rp->n_reports++;
    if (!m->err)
        rp->acked[rp->n_acked++] = r->seq;
    else
        rp->err = m->err;
    free(r);
}

static int collect_cb(void *arg, const store_blob_t *b)
{
    replay_t *rp = arg;
    int err;
    const uint8_t *blob;
    size_t blen;
    if (bridge_dlq_decode(b->data.p, b->data.len, &err, &blob, &blen)) return 0;
    rec_t *r = bridge_rec_new(blob, blen);
    if (!r) return STORE_ERR_NOMEM;
    r->seq = b->seq;
    r->kind = REC_DIRECT;
    int e = bridge_produce(&rp->fake, r, NULL);
    if (e) {
        free(r);
        rp->err = e;
        return 0;
    }
    rp->n_sent++;
    return 0;
}

static void replay_done(void *arg, int err)
{
    replay_t *rp = arg;
    pthread_mutex_lock(&rp->mu);
    rp->done = true;
    if (err) rp->err = err;
    pthread_cond_signal(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
}

int bridge_dlq_replay(const cfg_t *cfg, store_t *st, char *err, size_t errlen)
{
    replay_t rp = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    int ret = BRIDGE_ERR;
    uint64_t last = 0;
    if (store_last_dead_seq(st, &last)) {
        snprintf(err, errlen, "dlq: cannot read the store");
        return BRIDGE_ERR;
    }
    if (!cfg->kafka.bootstrap) {
        snprintf(err, errlen, "kafka.bootstrap: not set");
        return BRIDGE_ERR;
    }
    rd_kafka_conf_t *conf = bridge_producer_conf(cfg, err, errlen);
    if (!conf) return BRIDGE_ERR;
    rd_kafka_conf_set(conf, "message.timeout.ms", "30000", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, replay_dr);
    rd_kafka_conf_set_opaque(conf, &rp);
    char kerr[256];
    rp.fake.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!rp.fake.rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka: cannot create producer: %s", kerr);
        return BRIDGE_ERR;
    }
    rp.acked = calloc(last + 1, sizeof(*rp.acked));
    if (!rp.acked) goto out;
    if (store_scan_dead(st, 0, 0, collect_cb, &rp) < 0) {
        snprintf(err, errlen, "dlq: cannot read the quarantine");
        goto out;
    }
    rd_kafka_flush(rp.fake.rk, 35000);
    if (rp.n_acked) {
        store_batch_t *b = store_batch_new();
        for (size_t i = 0; b && i < rp.n_acked; i++)
            if (store_batch_del_dead(b, rp.acked[i]) != STORE_OK) { /* then none is deleted */
                store_batch_free(b);
                b = NULL;
            }
        if (!b || store_submit(st, b, replay_done, &rp) != STORE_OK) {
            store_batch_free(b);
            snprintf(err, errlen, "dlq: replayed %zu records but cannot delete them", rp.n_acked);
            goto out;
        }
        pthread_mutex_lock(&rp.mu);
        while (!rp.done)
            pthread_cond_wait(&rp.cv, &rp.mu);
        pthread_mutex_unlock(&rp.mu);
    }
    if (rp.n_acked < rp.n_sent || rp.err) {
        snprintf(err, errlen, "dlq: %zu of %zu records replayed; last error: %s", rp.n_acked,
                 rp.n_sent, rd_kafka_err2str((rd_kafka_resp_err_t)rp.err));
        if (rp.n_acked < rp.n_sent) goto out;
    }
    ret = (int)rp.n_acked;
out:
    rd_kafka_destroy(rp.fake.rk);
    free(rp.acked);
    return ret;
}
