/* Loss and duplicate accounting: sequence bitmaps and the tally over the
 * measured window. A subscriber marks every (publisher, sequence) it
 * receives, a publisher every sequence acknowledged, so after the drain loss
 * is exact per message and per subscriber, whatever the broker's order. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

bool seqmap_test_set(struct seqmap *m, uint64_t seq)
{
    if (seq >= m->nbits) {
        uint64_t nb = m->nbits ? m->nbits : 4096;
        while (nb <= seq)
            nb *= 2;
        uint8_t *p = realloc(m->bits, (size_t)(nb / 8));
        if (!p) return false; /* counted as new: dups may be undercounted */
        memset(p + m->nbits / 8, 0, (size_t)((nb - m->nbits) / 8));
        m->bits = p;
        m->nbits = nb;
    }
    uint8_t bit = (uint8_t)(1u << (seq % 8));
    bool was = m->bits[seq / 8] & bit;
    m->bits[seq / 8] |= bit;
    return was;
}

bool seqmap_test(const struct seqmap *m, uint64_t seq)
{
    return seq < m->nbits && (m->bits[seq / 8] & (1u << (seq % 8)));
}

bool seqmap_plausible(const struct seqmap *m, uint64_t seq)
{
    return seq < 2 * m->nbits + SEQ_SLACK;
}

void seqmap_free(struct seqmap *m)
{
    free(m->bits);
    *m = (struct seqmap){0};
}

/* Marks (publisher, sequence) received by this subscriber: false for a
 * duplicate or a payload that is not this run's (counted). */
bool bench_rx_mark(struct conn *c, uint64_t tag)
{
    struct worker *w = c->w;
    uint64_t k = tag >> TAG_SEQ_BITS, seq = tag & TAG_SEQ_MASK;
    int j = (int)(k & 0xffffff) - c->src_first;
    if (k >= (uint64_t)w->b->npubs || j < 0 || j >= c->nsrc || !seqmap_plausible(&c->rx[j], seq)) {
        w->foreign++;
        return false;
    }
    if (seqmap_test_set(&c->rx[j], seq)) {
        w->dups++;
        return false;
    }
    return true;
}

/* The sequence a PUBACK/PUBCOMP acknowledges. Packet ids are handed out
 * with the sequence (pid = seq % 65535 + 1, 0 skipped), so the id names the
 * latest sequence sent with it; that is the right one unless a message
 * stayed unacknowledged for 65,535 later ones. -1: no such message sent. */
int64_t bench_ack_seq(const struct conn *c, uint16_t pid)
{
    if (pid == 0 || c->seq == 0) return -1;
    uint64_t last = c->seq - 1;
    uint64_t back = (last % 65535 + 65535 - (uint64_t)(pid - 1)) % 65535;
    return back > last ? -1 : (int64_t)(last - back);
}

/* Bits set in m over [lo, hi). */
static uint64_t seqmap_count(const struct seqmap *m, uint64_t lo, uint64_t hi)
{
    uint64_t n = 0;
    if (hi > m->nbits) hi = m->nbits;
    uint64_t s = lo;
    for (; s < hi && s % 8; s++)
        n += seqmap_test(m, s);
    for (; s + 8 <= hi; s += 8)
        n += (uint64_t)__builtin_popcount(m->bits[s / 8]);
    for (; s < hi; s++)
        n += seqmap_test(m, s);
    return n;
}

/* One receiver's (subscriber's or the Kafka reader's) view of one
 * publisher's window messages. */
static void tally_rx(struct bench_loss *l, const struct seqmap *rx, const struct conn *pub, int qos)
{
    for (uint64_t s = pub->win_lo; s < pub->win_hi; s++) {
        if (seqmap_test(rx, s))
            l->delivered++;
        else if (qos == 0 || seqmap_test(&pub->acked, s))
            l->lost++;
    }
}

void bench_loss_tally(struct bench *b, struct bench_loss *l)
{
    *l = (struct bench_loss){0};
    int qos = b->o.qos;
    for (int i = 0; i < b->nw; i++) {
        l->dups += b->w[i].dups;
        l->foreign += b->w[i].foreign;
        l->bad_acks += b->w[i].bad_acks;
    }
    struct conn *pubs = b->conns + b->nsubs; /* plan: subscribers first */
    for (int k = 0; k < b->npubs; k++) {
        const struct conn *p = &pubs[k];
        l->sent += p->win_hi - p->win_lo;
        if (qos) l->acked += seqmap_count(&p->acked, p->win_lo, p->win_hi);
    }
    l->expected = l->sent * b->factor;
    for (int i = 0; i < b->nsubs; i++) {
        const struct conn *c = &b->conns[i];
        for (int j = 0; j < c->nsrc; j++)
            tally_rx(l, &c->rx[j], &pubs[c->src_first + j], qos);
    }
    if (b->kafka) {
        const struct seqmap *seen = bench_kafka_seen(b->kafka);
        const struct bench_kafka_stats *ks = bench_kafka_stop(b->kafka);
        for (int k = 0; k < b->npubs; k++)
            tally_rx(l, &seen[k], &pubs[k], qos);
        l->dups += ks->dups;
        l->foreign += ks->foreign;
    }
}
