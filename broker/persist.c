/*
 * persist.c - the broker's side of local state: what is written to the
 * store when, and how it is read back at start.
 *
 * Only sessions that outlive their connection (expiry > 0) are persisted,
 * with their subscriptions, QoS 1/2 queue (q/), in-flight deliveries (o/)
 * and inbound QoS 2 ids (i/); retained messages always are. A message body
 * (m/) is written in the same batch as each reference to it, because the
 * store deletes bodies without references (store.h).
 */
#include <stdlib.h>
#include <string.h>

#include "brk.h"
#include "store.h"

#define STR(p, n) ((mqtt_str_t){(const uint8_t *)(p), (uint32_t)(n)})

bool brk_persist_on(const brk_session_t *s)
{
    return s->b->store && s->expiry > 0;
}

/* A write that did not reach the store: counted, and logged at most once
 * a second, however many fail. */
static void lost(brk_t *b, int rc)
{
    brk_count(&b->store_failed, 1);
    int64_t now = brk_now_ms(), last = atomic_load(&b->store_fail_log_ms);
    if (now - last >= 1000 && atomic_compare_exchange_strong(&b->store_fail_log_ms, &last, now))
        brk_log(b, BRK_LOG_ERROR, "SLUICE-STORE-SUBMIT", "store: %s (%llu writes lost so far)",
                store_strerror(rc), (unsigned long long)brk_read(&b->store_failed));
}

/* Submit sb, built with result rc (a put that failed leaves the batch
 * incomplete: it is not submitted at all). Either failure is a lost write.
 * True if submitted. */
static bool submit(brk_t *b, store_batch_t *sb, int rc)
{
    if (rc == STORE_OK) rc = store_submit(b->store, sb, NULL, NULL);
    if (rc == STORE_OK) return true;
    store_batch_free(sb);
    lost(b, rc);
    return false;
}

/* A batch to fill, or NULL after counting the write as lost (no memory). */
static store_batch_t *new_batch(brk_t *b)
{
    store_batch_t *sb = store_batch_get(b->store);
    if (!sb) submit(b, NULL, STORE_ERR_NOMEM);
    return sb;
}

/* The batch a locked write goes into: the session's pass batch while a
 * pass is open (*mark: where this write starts in it), else its own. */
static store_batch_t *locked_batch(brk_session_t *s, store_batch_mark_t *mark)
{
    if (!s->persist_pass) return new_batch(s->b);
    if (!s->pb) s->pb = new_batch(s->b);
    if (s->pb) *mark = store_batch_mark(s->pb);
    return s->pb;
}

/* A locked write built with result rc: its own batch is submitted; in the
 * pass batch it stays, or is taken out whole if it failed half-way. */
static void locked_submit(brk_session_t *s, store_batch_t *sb, store_batch_mark_t mark, int rc)
{
    if (sb != s->pb) {
        submit(s->b, sb, rc);
    } else if (rc != STORE_OK) {
        store_batch_rewind(sb, mark);
        lost(s->b, rc);
    }
}

void brk_persist_begin(brk_session_t *s)
{
    s->persist_pass = s->b->store != NULL;
}

void brk_persist_flush(brk_session_t *s)
{
    store_batch_t *sb = s->pb;
    s->pb = NULL;
    if (!sb) return;
    if (store_batch_count(sb))
        submit(s->b, sb, STORE_OK);
    else
        store_batch_free(sb);
}

void brk_persist_end(brk_session_t *s)
{
    brk_persist_flush(s);
    s->persist_pass = false;
}

/* Absolute unix seconds of a monotonic deadline. */
static int64_t wall_of(int64_t mono_ms)
{
    return mono_ms ? brk_wall_s() + (mono_ms - brk_now_ms() + 999) / 1000 : 0;
}

/* The body's store id, assigned once even when two workers race (a
 * retained message delivered on two SUBSCRIBEs at the same moment). */
static uint64_t msg_id(brk_t *b, brk_msg_t *m)
{
    uint64_t id = atomic_load(&m->store_id);
    if (id) return id;
    uint64_t fresh = atomic_fetch_add(&b->next_msg_id, 1);
    return atomic_compare_exchange_strong(&m->store_id, &id, fresh) ? fresh : id;
}

static int put_body(store_batch_t *sb, brk_msg_t *m, uint64_t id)
{
    store_msg_t r = {.id = id,
                     .topic = STR(m->topic, m->topic_len),
                     .payload = STR(m->payload, m->payload_len),
                     .props = STR(m->props, m->props_len),
                     .qos = m->qos,
                     .retain = m->retain,
                     .expiry_time = wall_of(m->expire_at_ms)};
    return store_batch_put_msg(sb, &r);
}

/* brk_persist_session with both locks held. */
static void session_put(brk_session_t *s, const brk_msg_t *will, uint32_t will_delay,
                        bool connected)
{
    store_batch_t *sb = new_batch(s->b);
    if (!sb) return;
    store_session_t r = {.client_id = STR(s->client_id, s->id_len),
                         .version = s->version,
                         .expiry_interval = s->expiry,
                         .disconnect_time = connected ? 0 : brk_wall_s()};
    if (will) {
        r.has_will = true;
        r.will_qos = will->qos;
        r.will_retain = will->retain;
        r.will_delay = will_delay;
        r.will_topic = STR(will->topic, will->topic_len);
        r.will_payload = STR(will->payload, will->payload_len);
        r.will_props = STR(will->props, will->props_len);
    }
    int rc = store_batch_put_session(sb, &r);
    s->persisted = true;
    submit(s->b, sb, rc);
}

/* Takes the registry lock, then s->lock (callers hold neither): the s/
 * record is put, and `persisted` set, either before brk_session_end (under
 * the registry lock) deletes the client's records or not at all, so an
 * ended session is never written back. (ThreadSanitizer: `persisted` was
 * written here unlocked while a clean-start CONNECT on another worker read it
 * in brk_session_end.) */
void brk_persist_session(brk_session_t *s, const brk_msg_t *will, uint32_t will_delay,
                         bool connected)
{
    brk_t *b = s->b;
    if (!b->store) return;
    pthread_mutex_lock(&b->reg_lock);
    pthread_mutex_lock(&s->lock);
    if (s->registered && brk_persist_on(s)) session_put(s, will, will_delay, connected);
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_unlock(&b->reg_lock);
}

void brk_persist_session_end(brk_session_t *s)
{
    if (!s->b->store) return;
    store_batch_t *sb = new_batch(s->b);
    if (!sb) return;
    submit(s->b, sb, store_delete_client_state(sb, s->client_id, s->id_len, STORE_CLIENT_ALL));
}

void brk_persist_sub(brk_session_t *s, const char *filter, uint16_t len, uint8_t options,
                     uint32_t sub_id, bool add)
{
    if (!brk_persist_on(s)) return;
    store_batch_t *sb = new_batch(s->b);
    if (!sb) return;
    int rc;
    if (add) {
        store_sub_t r = {STR(s->client_id, s->id_len), STR(filter, len), options, sub_id};
        rc = store_batch_put_sub(sb, &r);
    } else {
        rc = store_batch_del_sub(sb, s->client_id, s->id_len, filter, len);
    }
    submit(s->b, sb, rc);
}

void brk_persist_retained(brk_t *b, const brk_msg_t *m)
{
    /* $SYS is rebuilt by every run, not restored */
    if (!b->store || (m->topic_len >= 4 && !memcmp(m->topic, "$SYS", 4))) return;
    store_batch_t *sb = new_batch(b);
    if (!sb) return;
    int rc;
    if (m->payload_len) {
        store_retained_t r = {.topic = STR(m->topic, m->topic_len),
                              .payload = STR(m->payload, m->payload_len),
                              .props = STR(m->props, m->props_len),
                              .qos = m->qos,
                              .expiry_time = wall_of(m->expire_at_ms)};
        rc = store_batch_put_retained(sb, &r);
    } else {
        rc = store_batch_del_retained(sb, m->topic, m->topic_len);
    }
    submit(b, sb, rc);
}

/* The pseudo-client of a fan-out pin: 0xFF never occurs in UTF-8, so no
 * MQTT client id can collide with it. */
#define PIN_CLIENT                                                                                 \
    "\xff"                                                                                         \
    "fanout"
#define PIN_LEN 7

void brk_persist_pin(brk_t *b, brk_msg_t *m)
{
    if (!b->store || !m->qos) return;
    store_batch_t *sb = new_batch(b);
    if (!sb) return;
    uint64_t id = msg_id(b, m);
    int rc = put_body(sb, m, id);
    store_qref_t q = {STR(PIN_CLIENT, PIN_LEN), id, id, m->qos};
    if (rc == STORE_OK) rc = store_batch_put_queue(sb, &q);
    /* not pinned: each session's batch carries its own copy of the body */
    m->body_pinned = submit(b, sb, rc);
}

void brk_persist_unpin(brk_t *b, brk_msg_t *m)
{
    if (!m->body_pinned) return;
    m->body_pinned = false;
    store_batch_t *sb = new_batch(b);
    if (!sb) return;
    uint64_t id = atomic_load(&m->store_id);
    submit(b, sb, store_batch_del_queue(sb, PIN_CLIENT, PIN_LEN, id, id));
}

void brk_persist_enqueue(brk_session_t *s, brk_delivery_t *d)
{
    if (!brk_persist_on(s) || !d->qos) return;
    store_batch_mark_t mark = {0};
    store_batch_t *sb = locked_batch(s, &mark);
    if (!sb) return;
    uint64_t id = msg_id(s->b, d->msg);
    d->seq = ++s->q_seq;
    int rc = d->msg->body_pinned ? STORE_OK : put_body(sb, d->msg, id);
    store_qref_t q = {STR(s->client_id, s->id_len), d->seq, id, d->qos};
    if (rc == STORE_OK) rc = store_batch_put_queue(sb, &q);
    locked_submit(s, sb, mark, rc);
}

void brk_persist_send(brk_session_t *s, brk_inflight_t *e)
{
    if (!e->d.seq || !s->b->store) return;
    store_batch_mark_t mark = {0};
    store_batch_t *sb = locked_batch(s, &mark);
    if (!sb) return;
    e->msg_id = e->d.msg->store_id;
    store_inflight_t o = {.client_id = STR(s->client_id, s->id_len),
                          .packet_id = e->pid,
                          .msg_id = e->msg_id,
                          .qos = e->d.qos,
                          .state = STORE_OUT_PUBLISH_SENT};
    /* the in-flight reference is taken before the queue's is dropped */
    int rc = store_batch_put_inflight(sb, &o);
    if (rc == STORE_OK)
        rc = store_batch_del_queue(sb, s->client_id, s->id_len, e->d.seq, e->msg_id);
    locked_submit(s, sb, mark, rc);
}

void brk_persist_pubrec(brk_session_t *s, const brk_inflight_t *e)
{
    if (!e->msg_id || !s->b->store) return;
    store_batch_mark_t mark = {0};
    store_batch_t *sb = locked_batch(s, &mark);
    if (!sb) return;
    store_inflight_t o = {.client_id = STR(s->client_id, s->id_len),
                          .packet_id = e->pid,
                          .msg_id = e->msg_id,
                          .qos = 2,
                          .state = STORE_OUT_PUBREL_SENT};
    locked_submit(s, sb, mark, store_batch_update_inflight(sb, &o));
}

void brk_persist_done(brk_session_t *s, const brk_inflight_t *e)
{
    if (!e->msg_id || !s->b->store) return;
    store_batch_mark_t mark = {0};
    store_batch_t *sb = locked_batch(s, &mark);
    if (!sb) return;
    locked_submit(s, sb, mark,
                  store_batch_del_inflight(sb, s->client_id, s->id_len, e->pid, e->msg_id));
}

void brk_persist_drop(brk_session_t *s, const brk_delivery_t *d)
{
    if (!d->seq || !s->b->store) return;
    store_batch_mark_t mark = {0};
    store_batch_t *sb = locked_batch(s, &mark);
    if (!sb) return;
    locked_submit(s, sb, mark,
                  store_batch_del_queue(sb, s->client_id, s->id_len, d->seq, d->msg->store_id));
}

void brk_persist_in2(brk_session_t *s, uint16_t pid, bool add)
{
    if (!brk_persist_on(s)) return;
    store_batch_t *sb = new_batch(s->b);
    if (!sb) return;
    int rc = add ? store_batch_put_inbound(sb, s->client_id, s->id_len, pid)
                 : store_batch_del_inbound(sb, s->client_id, s->id_len, pid);
    submit(s->b, sb, rc);
}

void brk_persist_probe(brk_t *b)
{
    /* the store clears its degraded flag on the first write that
     * succeeds; without one (only QoS 1/2 publishes arrive, all refused)
     * it would never notice the space came back. A delete of a key that
     * cannot exist is a real write with no effect. */
    if (!b->store || !store_is_degraded(b->store)) return;
    store_batch_t *sb = new_batch(b);
    if (!sb) return;
    submit(b, sb, store_batch_del_retained(sb, "$SYS/sluice/disk-probe", 22));
}

bool brk_persist_barrier(brk_t *b, void (*done)(void *arg, int err), void *arg)
{
    if (!b->store) return false;
    store_batch_t *sb = store_batch_get(b->store);
    if (!sb) return false;
    if (store_submit(b->store, sb, done, arg) != STORE_OK) {
        store_batch_free(sb);
        return false;
    }
    return true;
}

static void wait_done(void *arg, int err)
{
    brk_waiter_t *wt = arg;
    pthread_mutex_lock(&wt->lock);
    wt->err = err;
    wt->done = true;
    pthread_cond_signal(&wt->cond);
    pthread_mutex_unlock(&wt->lock);
}

int brk_persist_wait(brk_t *b)
{
    if (!b->store) return 0;
    brk_waiter_t wt = {.done = false};
    pthread_mutex_init(&wt.lock, NULL);
    pthread_cond_init(&wt.cond, NULL);
    int rc = 0; /* a barrier the store refused: nothing to wait for */
    if (brk_persist_barrier(b, wait_done, &wt)) {
        pthread_mutex_lock(&wt.lock);
        while (!wt.done)
            pthread_cond_wait(&wt.cond, &wt.lock);
        pthread_mutex_unlock(&wt.lock);
        rc = wt.err ? -1 : 0;
    }
    pthread_mutex_destroy(&wt.lock);
    pthread_cond_destroy(&wt.cond);
    return rc;
}

int brk_persist_open(brk_t *b, char *err, size_t errlen)
{
    const cfg_t *cfg = b->cfg;
    if (cfg->persistence.sync == CFG_SYNC_NONE) return 0;
    store_opts_t o;
    store_opts_default(&o);
    o.sync = cfg->persistence.sync == CFG_SYNC_ALWAYS ? STORE_SYNC_ALWAYS : STORE_SYNC_BATCH;
    o.flush_ms = cfg->persistence.flush_ms;
    o.queue_max = 1u << 20; /* bounded by memory; BUSY would mean losing a write */
    store_t *st = NULL;
    int rc = store_open(cfg->data_dir, &o, &st, err, errlen);
    if (rc != STORE_OK) return -1;
    b->store = st;
    b->sync_always = cfg->persistence.sync == CFG_SYNC_ALWAYS;
    uint64_t last = 0;
    store_last_msg_id(st, &last);
    atomic_store(&b->next_msg_id, last + 1);
    return brk_persist_recover(b, err, errlen);
}

void brk_persist_close(brk_t *b)
{
    store_close(b->store);
    b->store = NULL;
}
