/* sluice-bench: an MQTT load generator that is a peer of the broker, not part
 * of it. It has its own tiny MQTT 3.1.1/5.0 and WebSocket codec so that a
 * bug in the project's codec cannot hide in both ends of a measurement.
 *
 * Threads: the main thread parses options, builds the connection plan and
 * watches the phases; each worker thread owns an epoll instance and the
 * connections assigned to it for their whole life. Workers publish their
 * counters through relaxed atomics once per loop iteration; the main thread
 * only reads them. In the bridge scenario a Kafka reader thread
 * (bench_kafka.c) takes the subscribers' place. Everything is bounded in
 * time: setup, run, drain, close.
 */
#ifndef SLUICE_BENCH_H
#define SLUICE_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- histogram (bench_hist.c): log buckets, 64 linear sub-buckets per
 * power of two (~1.6% resolution), fixed size, no allocation per sample. */
#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (64u * HIST_SUB)

struct bench_hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[HIST_BUCKETS];
};

void bench_hist_record(struct bench_hist *h, uint64_t v);
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* Value at quantile q in [0,1]; 0 when empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

/* ---- sequence bitmaps (bench_loss.c): one bit per sequence number of one
 * publisher, grown on demand. Used for what a subscriber (or the Kafka
 * reader) received and for what a publisher had acknowledged, so that loss
 * and duplicates are counted per (publisher, sequence) and subscriber. Each
 * map has one writer thread; the main thread reads it after joining. */
struct seqmap {
    uint8_t *bits;
    uint64_t nbits;
};

/* A sequence this far beyond the map's end is not ours (a foreign payload)
 * and must not make the map grow to gigabytes. */
#define SEQ_SLACK (1ull << 24)

/* true when seq was set before; sets it. A failed grow counts as "new". */
bool seqmap_test_set(struct seqmap *m, uint64_t seq);
bool seqmap_test(const struct seqmap *m, uint64_t seq);
/* false when seq is too far beyond the map to be a real sequence number. */
bool seqmap_plausible(const struct seqmap *m, uint64_t seq);
void seqmap_free(struct seqmap *m);

/* ---- MQTT codec (bench_mqtt.c). Encoders write into (d, cap) and return
 * the length, or 0 when it does not fit. */
enum {
    MQ_CONNECT = 1,
    MQ_CONNACK = 2,
    MQ_PUBLISH = 3,
    MQ_PUBACK = 4,
    MQ_PUBREC = 5,
    MQ_PUBREL = 6,
    MQ_PUBCOMP = 7,
    MQ_SUBSCRIBE = 8,
    MQ_SUBACK = 9,
    MQ_PINGREQ = 12,
    MQ_PINGRESP = 13,
    MQ_DISCONNECT = 14,
};

struct mq_pkt {
    uint8_t type;
    uint8_t flags;
    uint8_t qos;
    uint8_t rc;             /* CONNACK/SUBACK/ack reason, DISCONNECT reason */
    uint16_t pid;           /* packet identifier, when the type has one */
    uint16_t recv_max;      /* CONNACK v5 Receive Maximum, 0 = not sent */
    const uint8_t *payload; /* PUBLISH only, points into the buffer */
    size_t plen;
};

size_t mq_connect(uint8_t *d, size_t cap, const char *cid, int keepalive, bool v5, bool persistent,
                  const char *user, const char *pass);
size_t mq_subscribe(uint8_t *d, size_t cap, uint16_t pid, const char *filter, int qos, bool v5);
/* PUBLISH with a zero payload of plen bytes; *pid_off / *pay_off tell where
 * the packet identifier (qos > 0) and the payload start, for patching. */
size_t mq_publish(uint8_t *d, size_t cap, const char *topic, int qos, size_t plen, bool v5,
                  size_t *pid_off, size_t *pay_off);
/* PUBACK/PUBREC/PUBREL/PUBCOMP: 4 bytes. */
size_t mq_ack(uint8_t *d, size_t cap, int type, uint16_t pid);
/* PINGREQ / DISCONNECT: 2 bytes. */
size_t mq_simple(uint8_t *d, size_t cap, int type);
/* > 0: bytes consumed, 0: incomplete, -1: malformed. */
long mq_parse(const uint8_t *b, size_t len, bool v5, struct mq_pkt *p);

/* ---- WebSocket client framing (bench_ws.c), RFC 6455. */
size_t ws_request(char *d, size_t cap, const char *host, int port, const char *path, uint32_t seed);
/* 1: "101" response complete (*used = header bytes), 0: incomplete, -1: refused. */
int ws_response(const uint8_t *b, size_t len, size_t *used);
/* Client frame header (masked, FIN, opcode op) for plen payload bytes;
 * returns header length (6..14). */
size_t ws_frame_header(uint8_t *d, int op, size_t plen, const uint8_t mask[4]);
void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4]);

struct ws_frame {
    int op;
    bool fin;
    uint8_t *payload;
    size_t len;
};
/* One server frame; unmasks in place if the server masked it.
 * > 0 consumed, 0 incomplete, -1 malformed. */
long ws_parse(uint8_t *b, size_t len, struct ws_frame *f);

/* ---- options and plan (bench_main.c / bench_scen.c) */
enum bench_scen { SCEN_PAIRS, SCEN_FANOUT, SCEN_FANIN, SCEN_CONNS, SCEN_BRIDGE };

struct bench_opts {
    enum bench_scen scen;
    const char *host;
    int port;
    const char *sub_host;  /* subscribers' broker (another cluster node); default host */
    int sub_port;          /* default port */
    const char *ready_cmd; /* run after setup, before the warmup; must exit 0 */
    int threads;
    int qos;
    size_t size;
    double rate; /* total msgs/s offered, 0 = as fast as the window allows */
    double duration, warmup, drain, setup_timeout;
    bool ws, v5;
    bool tls;        /* TLS under MQTT or WebSocket (bench_tls.c) */
    bool persistent; /* clean session 0 (3.1.1) / session expiry max (5.0) */
    const char *ws_path;
    int pairs, subs, pubs, clients;
    int inflight;
    int window; /* deliveries not yet seen, all publishers (>= 1 message each);
                 * 0 = no global window: only each publisher's --inflight */
    int keepalive;
    int connect_window; /* per worker: connections in setup at once */
    const char *prefix;
    uint32_t host_ip;             /* network order */
    uint32_t sub_host_ip;         /* network order */
    uint32_t src_first, src_last; /* host order, 0 = no bind() */
    size_t rbuf;
    bool quiet;
    const char *kafka;       /* bridge: bootstrap servers of the cluster to read back */
    const char *kafka_topic; /* bridge: the Kafka topic the to_kafka rule writes */
    const char *user, *pass; /* CONNECT user name / password; NULL = none */
};

struct buf {
    uint8_t *p;
    size_t off, len, cap; /* live bytes are p[off, len) */
};

enum conn_role { ROLE_PUB, ROLE_SUB, ROLE_IDLE };
enum conn_state { CS_NEW, CS_TCP, CS_TLS, CS_WS, CS_CONNACK, CS_SUBACK, CS_READY, CS_CLOSED };

struct worker;

struct conn {
    int fd;
    void *ssl; /* SSL * with --tls (bench_tls.c), else NULL */
    int idx;
    enum conn_role role;
    enum conn_state st;
    bool epout;   /* EPOLLOUT registered */
    bool blocked; /* unwritten bytes wait for EPOLLOUT */
    struct worker *w;
    struct buf in, ws, out, stage; /* ws/stage used on WebSocket only */
    char topic[96];
    uint8_t *tpl; /* prebuilt PUBLISH, patched per message */
    size_t tpl_len, tpl_pid_off, tpl_pay_off;
    int pub_idx;
    uint64_t echo_seen, win_base, win_progress; /* QoS 0 end-to-end window */
    uint16_t next_pid;
    int inflight, max_inflight;
    uint64_t seq;
    uint64_t last_tx;
    uint32_t rng;
    /* publisher: the sequences it sent in the measured window are
     * [win_lo, win_hi); acked has a bit per sequence acknowledged (PUBACK /
     * PUBCOMP). Written by the worker, read by main after the join. */
    bool win_started;
    uint64_t win_lo, win_hi;
    struct seqmap acked;
    /* subscriber: what it received from publishers src_first .. +nsrc-1 */
    struct seqmap *rx;
    int src_first, nsrc;
};

/* The second payload word: publisher index and sequence number. */
#define TAG_SEQ_BITS 40
#define TAG_SEQ_MASK ((1ull << TAG_SEQ_BITS) - 1)

struct bench;
struct bench_kafka;

struct worker {
    int id;
    int ep;
    struct bench *b;
    pthread_t th;
    struct conn **conns;
    int nconns, next_connect, pending;
    struct conn **pubs;
    int npubs, pump_next; /* pump_next: whose turn it is (round robin) */
    /* owned by the worker thread */
    uint64_t sent_all, sent_win, recv_all, recv_win, recv_match, acked_win, errors;
    uint64_t dups, foreign; /* deliveries seen before / not of this run */
    uint64_t bad_acks;      /* PUBACK/PUBCOMP for nothing outstanding */
    uint64_t setup_first, setup_last;
    int ready;
    int seen_phase;
    uint64_t t0, warm_end, meas_end; /* copied from bench when PH_RUN is seen */
    struct bench_hist hist;
    /* snapshots for the main thread */
    _Atomic uint64_t a_sent_win, a_recv_all, a_recv_match, a_inflight, a_outq;
    _Atomic int a_ready, a_failed, a_done;
};

enum bench_phase { PH_SETUP, PH_RUN, PH_DRAIN, PH_QUIT };

struct bench {
    struct bench_opts o;
    struct worker *w;
    int nw;
    struct conn *conns;
    int nconns, npubs, nsubs;
    uint64_t factor; /* deliveries expected per message sent */
    _Atomic int phase;
    /* written before phase becomes PH_RUN */
    uint64_t t0, warm_end, meas_end;
    double pub_rate_ns; /* messages per ns per publisher */
    /* [row][publisher]: deliveries of that publisher's messages seen by the
     * subscribers of worker `row`, or, in row nw, by the Kafka reader (the
     * end-to-end window); echo_rows = nw, or nw + 1 with a Kafka reader. */
    _Atomic uint64_t *echo;
    int echo_rows;
    struct bench_kafka *kafka; /* bridge only */
};

uint64_t bench_now(void);
/* bench_conn.c, worker thread: a connection's output. bench_conn_obuf is
 * where MQTT bytes go (the wire, or the WebSocket stage); reserve fails the
 * connection (NULL) past the buffer limit; flush sends what is pending and
 * waits for EPOLLOUT on a short write (-1: closed). */
size_t bench_buf_used(const struct buf *b);
struct buf *bench_conn_obuf(struct conn *c);
uint8_t *bench_conn_reserve(struct conn *c, size_t n);
int bench_conn_flush(struct conn *c, uint64_t now);
/* bench_pub.c, worker thread: one slice of the publishers' work; true when
 * it should be called again without waiting for events. */
bool bench_pub_slice(struct worker *w, uint64_t now);
/* bench_tls.c: --tls. init once before the workers; start after the TCP
 * connect; handshake 1 done / 0 again (*want_write) / -1 failed. The io
 * calls behave like send()/recv() (MSG_NOSIGNAL) with or without TLS. */
int bench_tls_init(void);
int bench_tls_start(struct conn *c);
int bench_tls_handshake(struct conn *c, bool *want_write);
void bench_tls_free(struct conn *c);
ssize_t bench_io_send(struct conn *c, const void *p, size_t n);
ssize_t bench_io_recv(struct conn *c, void *p, size_t n);
int bench_plan(struct bench *b);    /* bench_scen.c: conns + topics */
void *bench_worker_main(void *arg); /* bench_conn.c: the epoll loop */
const char *bench_scen_name(enum bench_scen s);

/* Loss accounting over the measured window, after every thread is joined
 * (bench_loss.c). expected = sent x deliveries per message; lost counts, for
 * QoS > 0, only acknowledged messages (what the broker promised to deliver)
 * and, for QoS 0, every message sent. */
struct bench_loss {
    uint64_t sent, acked, expected, delivered, lost, dups, foreign, bad_acks;
};
void bench_loss_tally(struct bench *b, struct bench_loss *l);
/* Worker thread, subscriber c: marks the payload's (publisher, sequence)
 * received; false for a duplicate or a payload not of this run (counted). */
bool bench_rx_mark(struct conn *c, uint64_t tag);
/* Worker thread, publisher c: the sequence a PUBACK/PUBCOMP with this
 * packet id acknowledges, -1 when no such message was sent. */
int64_t bench_ack_seq(const struct conn *c, uint16_t pid);

/* ---- Kafka reader (bench_kafka.c): the bridge scenario's consumer on its
 * own thread, reading o.kafka_topic from o.kafka. start/stop/free run on
 * the main thread; counts may be read at any time. */
struct bench_kafka_stats {
    struct bench_hist hist; /* publish -> read, records sent in the window */
    uint64_t recv_all;      /* records read, every one */
    uint64_t recv_win;      /* distinct records read during the window */
    uint64_t recv_match;    /* distinct records sent in the window, read */
    uint64_t dups;          /* (publisher, sequence) read more than once */
    uint64_t foreign;       /* value too short or publisher unknown: not ours */
    uint64_t errors;        /* consumer errors and error events */
    int partitions;
    char last_error[160];
};

/* Creates the consumer, finds (or creates) the topic and assigns every
 * partition at its current end, within 10 s. NULL and a message on failure. */
struct bench_kafka *bench_kafka_start(struct bench *b, char *err, size_t errlen);
void bench_kafka_counts(struct bench_kafka *k, uint64_t *recv_all, uint64_t *recv_match);
/* The records read, one map per publisher; valid after stop, until free. */
const struct seqmap *bench_kafka_seen(const struct bench_kafka *k);
/* Stops the reader thread (idempotent); the stats stay valid until free. */
const struct bench_kafka_stats *bench_kafka_stop(struct bench_kafka *k);
void bench_kafka_free(struct bench_kafka *k);

#endif
