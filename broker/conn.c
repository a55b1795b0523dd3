/*
 * conn.c - one client connection: bytes in, packets out.
 *
 * Every transport (plain TCP in tcp.c, TLS and WebSocket in lws_conn.c)
 * ends in brk_conn_feed(): framing exists once, here. Output is appended to
 * one buffer per connection and handed to the transport (c->ops, conn.h)
 * when the socket is writable - one write per connection per loop pass,
 * however many packets are pending. This file knows no transport.
 *
 * Close marks, the transport reaps: brk_conn_close() only flags the
 * connection, stops reading and asks for a last write; the transport then
 * closes the socket and calls brk_conn_closed(). The struct itself is freed
 * when its last reference (the transport's, or an inbox item's) is
 * dropped. Only the owning worker calls these functions.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "brk.h"
#include "cluster.h"

#define OUT_INITIAL 1024
#define IDLE_MS 1000 /* no write for this long: the output buffer is given back */

static void peer_name(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    out[0] = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len);
}

brk_conn_t *brk_conn_new(brk_worker_t *w, struct lws *wsi, int fd, uint8_t transport,
                         const cfg_listener_t *l)
{
    brk_conn_t *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    c->w = w;
    c->wsi = wsi;
    c->fd = fd;
    c->transport = transport;
    c->ops = transport == BRK_TRANSPORT_RAW ? &brk_tcp_ops : &brk_lws_ops;
    c->listener = l;
    c->id = ++w->next_conn_id;
    c->last_rx_ms = brk_now_ms();
    c->accepted_s = brk_wall_s();
    peer_name(fd, c->peer, sizeof(c->peer));
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    brk_count(&w->st.conns, 1);
    if (l && w->listen_conns) brk_count(&w->listen_conns[l - w->listen_base], 1);
    return c;
}

void brk_conn_unref(brk_conn_t *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    free(c);
}

uint8_t *brk_conn_out_reserve(brk_conn_t *c, size_t n)
{
    const size_t H = c->ops->headroom;
    size_t used = c->out_len - c->out_off;
    if (c->out_off && c->out_len + n > c->out_cap) {
        memmove(c->out + H, c->out + H + c->out_off, used);
        c->out_off = 0;
        c->out_len = (uint32_t)used;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : OUT_INITIAL;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *nb = realloc(c->out, H + cap);
        if (!nb) return NULL;
        c->out = nb;
        c->out_cap = (uint32_t)cap;
    }
    return c->out + H + c->out_len;
}

void brk_conn_out_commit(brk_conn_t *c, size_t n)
{
    c->out_len += (uint32_t)n;
}

bool brk_conn_out_full(const brk_conn_t *c)
{
    return c->out_len - c->out_off >= c->w->b->cfg->mqtt.max_out_bytes;
}

void brk_conn_want_write(brk_conn_t *c)
{
    if (c->want_write || c->state >= BRK_CONN_GONE) return;
    c->ops->want_write(c);
}

/* Where a control packet keeps what the server may leave out: its Reason
 * String and User Properties. */
static mqtt_props_t *optional_props(mqtt_packet_t *p)
{
    switch (p->type) {
    case MQTT_CONNACK:
        return &p->u.connack.props;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return &p->u.ack.props;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        return &p->u.suback.props;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        return &p->u.reason.props;
    default:
        return NULL;
    }
}

/* A control packet that cannot fit the client's Maximum Packet Size is not
 * sent (MQTT-3.1.2-24) and the connection closes: a CONNACK without a word
 * (MQTT-3.2.2-19/-20 leave nothing else), a DISCONNECT is what closing sends
 * anyway, anything else with DISCONNECT 0x95 if even that fits. */
static int oversize(brk_conn_t *c, mqtt_type_t type, int n)
{
    brk_count(&c->w->st.dropped, 1);
    brk_log(c->w->b, BRK_LOG_DEBUG, "SLUICE-OUT-TOO-LARGE",
            "%s: packet type %d of %d bytes over the client's maximum %u", c->peer, (int)type, n,
            c->max_packet);
    if (type != MQTT_DISCONNECT)
        brk_conn_close(c, type == MQTT_CONNACK ? 0 : MQTT_RC_PACKET_TOO_LARGE);
    return MQTT_ERR_NOSPACE;
}

/* A control packet that could not be queued (no memory, or a packet our
 * encoder refuses): the client would wait for it forever, so the
 * connection ends instead; counted and logged here, for every caller. */
static int send_failed(brk_conn_t *c, mqtt_type_t type, int err)
{
    brk_count(&c->w->st.bad_packets, 1);
    brk_log(c->w->b, BRK_LOG_WARN, "SLUICE-SEND-FAIL", "%s: packet type %d not sent: %s", c->peer,
            (int)type, mqtt_strerror(err));
    if (type != MQTT_DISCONNECT) brk_conn_close(c, MQTT_RC_UNSPECIFIED);
    return err;
}

int brk_conn_send_packet(brk_conn_t *c, const mqtt_packet_t *pkt)
{
    uint8_t version = c->version ? c->version : MQTT_V311;
    int n = mqtt_encode_size(version, pkt);
    if (n < 0) return send_failed(c, pkt->type, n);
    mqtt_packet_t lean;
    if (c->max_packet && (uint32_t)n > c->max_packet) {
        /* first without Reason String and User Properties */
        lean = *pkt;
        mqtt_props_t *pr = optional_props(&lean);
        if (pr) {
            pr->present &=
                ~(MQTT_PROP_BIT(MQTT_PROP_REASON_STRING) | MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY));
            pr->user = (mqtt_str_t){0};
            pr->user_count = 0;
            pr->user_interleaved = false;
            pkt = &lean;
            n = mqtt_encode_size(version, pkt);
            if (n < 0) return send_failed(c, pkt->type, n);
        }
        if ((uint32_t)n > c->max_packet) return oversize(c, pkt->type, n);
    }
    uint8_t *dst = brk_conn_out_reserve(c, (size_t)n);
    if (!dst) return send_failed(c, pkt->type, MQTT_ERR_NOSPACE);
    n = mqtt_encode(dst, (size_t)n, version, pkt);
    if (n < 0) return send_failed(c, pkt->type, n);
    brk_conn_out_commit(c, (size_t)n);
    brk_conn_want_write(c);
    return n;
}

void brk_conn_close(brk_conn_t *c, uint8_t reason)
{
    if (c->state >= BRK_CONN_CLOSING) return;
    c->state = BRK_CONN_CLOSING;
    c->close_reason = reason;
    if (reason && c->connected && c->version == MQTT_V5) {
        mqtt_packet_t p = {.type = MQTT_DISCONNECT, .u.reason = {.reason = reason}};
        brk_conn_send_packet(c, &p);
    }
    c->ops->rx_flow(c, false);
    /* if the peer never lets us write, it is reaped anyway */
    c->ops->close_after_flush(c);
}

static void release_out(brk_conn_t *c)
{
    free(c->out);
    c->out = NULL;
    c->out_cap = c->out_off = 0;
}

int brk_conn_write(brk_conn_t *c)
{
    c->want_write = false;
    uint32_t pending = c->out_len - c->out_off;
    if (pending) {
        long n = c->ops->write(c, c->out + c->ops->headroom + c->out_off, pending);
        if (n < 0) return -1;
        c->out_off += (uint32_t)n;
        brk_count(&c->w->st.bytes_out, (uint64_t)n);
        int64_t now = brk_now_ms();
        if (c->out_off == c->out_len) {
            c->out_off = c->out_len = 0;
            /* a connection that writes now and then (a CONNACK, a PINGRESP)
             * does not keep a buffer between writes; a busy one does */
            if (now - c->last_tx_ms > IDLE_MS) release_out(c);
        }
        c->last_tx_ms = now;
    }
    if (c->out_len) {
        brk_conn_want_write(c);
        return 0;
    }
    if (c->state >= BRK_CONN_CLOSING) return -1;
    /* room again: pull what the session held back while the buffer was full */
    if (c->session && c->connected) brk_session_drain(c->session, c->w);
    return 0;
}

static void protocol_error(brk_conn_t *c, int err)
{
    brk_count(&c->w->st.bad_packets, 1);
    brk_log(c->w->b, BRK_LOG_DEBUG, "SLUICE-BAD-PACKET", "%s: %s", c->peer, mqtt_strerror(err));
    if (!c->connected && err == MQTT_ERR_BAD_PROTOCOL) {
        /* unknown protocol level: CONNACK 0x01 in the 3.1.1 format
         * (MQTT-3.1.2-2), which every version's client can read */
        mqtt_packet_t p = {.type = MQTT_CONNACK, .u.connack = {.reason = MQTT_CONNACK_BAD_VERSION}};
        c->version = MQTT_V311;
        brk_conn_send_packet(c, &p);
    }
    brk_conn_close(c, mqtt_err_reason(err));
}

static int dispatch(brk_conn_t *c, mqtt_packet_t *p)
{
    if (!c->connected) {
        if (p->type != MQTT_CONNECT) { /* MQTT-3.1.0-1 */
            protocol_error(c, MQTT_ERR_PROTOCOL);
            return -1;
        }
        return brk_handle_connect(c, &p->u.connect);
    }
    switch (p->type) {
    case MQTT_PUBLISH:
        return brk_handle_publish(c, &p->u.publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return brk_handle_ack(c, p->type, &p->u.ack);
    case MQTT_SUBSCRIBE:
        return brk_handle_subscribe(c, &p->u.sub);
    case MQTT_UNSUBSCRIBE:
        return brk_handle_unsubscribe(c, &p->u.sub);
    case MQTT_PINGREQ: {
        mqtt_packet_t r = {.type = MQTT_PINGRESP};
        brk_conn_send_packet(c, &r);
        return 0;
    }
    case MQTT_DISCONNECT:
        return brk_handle_disconnect(c, &p->u.reason);
    case MQTT_AUTH:
        return brk_handle_auth(c, &p->u.reason);
    default: /* CONNECT twice (MQTT-3.1.0-2) or a server-only packet */
        protocol_error(c, MQTT_ERR_PROTOCOL);
        return -1;
    }
}

/* As many of its acks wait for subscribers' queues (flow.c) as it may have
 * PUBLISHes unacknowledged: the 3.1.1 counterpart of Receive Maximum, and
 * what bounds the queues of a full subscriber. */
static bool acks_held(const brk_conn_t *c)
{
    return c->flow_waits >= c->w->b->cfg->mqtt.receive_maximum;
}

/* Decode and handle every whole packet in p; returns bytes consumed. */
static long process(brk_conn_t *c, const uint8_t *p, size_t n)
{
    mqtt_limits_t lim = {.version = c->version,
                         .max_packet_size = c->w->b->cfg->mqtt.max_packet_size};
    size_t off = 0;
    while (off < n && c->state < BRK_CONN_CLOSING && !c->paused) {
        if (c->out_len - c->out_off > 2 * c->w->b->cfg->mqtt.max_out_bytes) {
            /* the client sends but does not read its acks: stop reading it
             * until its output drains (the tick retries) */
            c->paused = true;
            c->ops->rx_flow(c, false);
            break;
        }
        if (acks_held(c)) { /* read on when one goes (brk_conn_retry) */
            c->paused = true;
            c->ops->rx_flow(c, false);
            break;
        }
        mqtt_packet_t pkt;
        int rc = mqtt_decode(p + off, n - off, &lim, &pkt);
        if (rc == MQTT_ERR_INCOMPLETE) break;
        if (rc < 0) {
            protocol_error(c, rc);
            return -1;
        }
        int d = dispatch(c, &pkt);
        if (d < 0) return -1;
        if (d == BRK_PAUSE) { /* keep this packet for the retry */
            c->paused = true;
            c->ops->rx_flow(c, false);
            break;
        }
        off += (size_t)rc;
        lim.version = c->version;
    }
    return (long)off;
}

/* Handle what c->in holds; returns -1 if the connection must close. */
static int process_held(brk_conn_t *c)
{
    long used = process(c, c->in, c->in_len);
    if (used < 0) return c->state >= BRK_CONN_CLOSING ? 0 : -1;
    memmove(c->in, c->in + used, c->in_len - (size_t)used);
    c->in_len -= (uint32_t)used;
    if (!c->in_len && c->in_cap > 65536) { /* a big packet passed: give memory back */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    return 0;
}

int brk_conn_feed(brk_conn_t *c, const uint8_t *p, size_t n)
{
    if (c->state >= BRK_CONN_CLOSING || !n) return 0;
    c->last_rx_ms = brk_now_ms();
    brk_count(&c->w->st.bytes_in, n);
    if (c->in_len == 0) {
        long used = process(c, p, n);
        if (used < 0) return c->state >= BRK_CONN_CLOSING ? 0 : -1;
        p += used;
        n -= (size_t)used;
        if (!n || c->state >= BRK_CONN_CLOSING) return 0;
    }
    if (c->in_len + n > c->in_cap) {
        size_t cap = c->in_cap ? c->in_cap : 1024;
        while (cap < c->in_len + n)
            cap *= 2;
        uint8_t *nb = realloc(c->in, cap);
        if (!nb) return -1;
        c->in = nb;
        c->in_cap = (uint32_t)cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += (uint32_t)n;
    return process_held(c);
}

/* The session continues on a new connection (a takeover), as opposed to
 * having been discarded (clean start): only then does what the old client
 * still sent belong to it. */
static bool session_continues(brk_conn_t *c)
{
    brk_session_t *s = c->session;
    if (!s) return false;
    pthread_mutex_lock(&s->lock);
    bool cont = s->conn == c && !s->ended;
    pthread_mutex_unlock(&s->lock);
    return cont;
}

void brk_conn_kill(brk_conn_t *c)
{
    if (c->state == BRK_CONN_OPEN && c->transport == BRK_TRANSPORT_RAW && session_continues(c)) {
        /* honour what the client sent before it was taken over */
        uint8_t buf[16384];
        for (int i = 0; i < 16 && c->state < BRK_CONN_CLOSING; i++) {
            ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n <= 0) break;
            if (brk_conn_feed(c, buf, (size_t)n) < 0) break;
        }
    }
    if (c->state < BRK_CONN_GONE) brk_conn_close(c, MQTT_RC_SESSION_TAKEN_OVER);
    brk_session_t *s = c->session;
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    if (s->conn == c && s->pending) brk_session_handover(s);
    pthread_mutex_unlock(&s->lock);
}

void brk_conn_retry(brk_conn_t *c)
{
    if (!c->paused || c->state >= BRK_CONN_CLOSING) return;
    if (c->out_len - c->out_off > 2 * c->w->b->cfg->mqtt.max_out_bytes) return;
    if (acks_held(c)) return;
    c->paused = false;
    c->ops->rx_flow(c, true);
    if (c->in_len && process_held(c) < 0) brk_conn_close(c, 0);
}

void brk_conn_trim(brk_conn_t *c, int64_t now)
{
    /* an idle connection should cost its struct, not a buffer */
    if (c->out && c->out_len == 0 && now - c->last_tx_ms > IDLE_MS) release_out(c);
    if (c->in && c->in_len == 0 && !c->paused) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

static void free_aliases(brk_conn_t *c)
{
    for (uint32_t i = 0; i < c->aliases_out_n; i++)
        free((void *)c->aliases_out[i].p);
    free(c->aliases_out);
    c->aliases_out = NULL;
    c->aliases_out_n = 0;
    if (!c->aliases_in) return;
    for (uint32_t i = 0; i <= c->alias_max_in; i++)
        free((void *)c->aliases_in[i].p);
    free(c->aliases_in);
    c->aliases_in = NULL;
}

/* The connection's session, its connection gone: handed over, offline
 * (its will parked or published), or ended. */
static void session_detach(brk_conn_t *c, brk_session_t *s)
{
    brk_t *b = c->w->b;
    pthread_mutex_lock(&s->lock);
    bool attached = s->conn == c;
    /* read under the lock: a CONNECT on another worker may take the
     * session and set its own expiry as soon as we let go */
    uint32_t expiry = s->expiry;
    bool continued = false; /* taken over by a CONNECT that keeps the session */
    if (attached && s->pending) {
        brk_session_handover(s); /* a takeover was waiting for us */
        attached = false;
        continued = true;
    } else if (!attached && s->conn && s->registered) {
        continued = true; /* handed over already (brk_conn_kill) */
    } else if (attached) {
        s->conn = NULL;
        s->home = NULL;
        s->offline_since_ms = brk_now_ms();
        /* offline now: its queue is stored or ends with it, so the
         * publishers it held may go (flow.c) */
        brk_flow_release(s, 0, true);
    }
    brk_conn_t *dropped = NULL;
    if (s->pending == c) { /* we were the one waiting: give up */
        s->pending = NULL;
        dropped = c;
    }
    pthread_mutex_unlock(&s->lock);
    if (dropped) brk_conn_unref(dropped);
    bool will = c->will && !c->disconnected_cleanly;
    /* a delayed will of a session that continues on a new connection is
     * never sent (MQTT-3.1.3-9); without delay it goes at once */
    if (will && continued && c->will_delay) will = false;
    if (will && attached && c->will_delay && expiry) {
        /* MQTT 5 will delay: held by the session, published when the
         * delay or the session ends, whichever first (MQTT-3.1.3-9);
         * a connection that took the session meanwhile cancels it */
        uint32_t d = c->will_delay < expiry ? c->will_delay : expiry;
        pthread_mutex_lock(&s->lock);
        if (!s->conn && !s->pending) {
            brk_msg_unref(&s->will);
            s->will = brk_msg_ref(c->will);
            s->will_at_ms = brk_now_ms() + (int64_t)d * 1000;
            s->will_expiry = c->will_expiry;
            s->has_will_expiry = c->has_will_expiry;
            s->will_token = c->cluster_token; /* the cluster holds it too (cluster.h) */
        }
        pthread_mutex_unlock(&s->lock);
        will = false;
    }
    if (attached && expiry == 0) {
        /* ends with us, unless a new connection took it meanwhile */
        pthread_mutex_lock(&b->reg_lock);
        pthread_mutex_lock(&s->lock);
        bool taken = s->conn || s->pending;
        pthread_mutex_unlock(&s->lock);
        if (!taken) brk_session_end(b, s);
        pthread_mutex_unlock(&b->reg_lock);
    } else if (attached) {
        brk_persist_session(s, NULL, 0, false); /* remember when it went away */
        brk_expiry_schedule(b, s);
    }
    if (will)
        brk_will_publish(b, c->w, c->will, c->will_expiry, c->has_will_expiry, s->client_id,
                         c->username);
}

void brk_conn_closed(brk_conn_t *c)
{
    brk_worker_t *w = c->w;
    c->wsi = NULL;
    c->state = BRK_CONN_GONE;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->n_conns--;
    brk_count(&w->st.conns, (uint64_t)-1);
    if (c->listener && w->listen_conns)
        brk_count(&w->listen_conns[c->listener - w->listen_base], (uint64_t)-1);

    brk_session_t *s = c->session;
    if (s && c->connected)
        brk_log(w->b, BRK_LOG_INFO, "SLUICE-DISCONNECT", "%s: client '%s' gone: %s (reason 0x%02x)",
                c->peer, s->client_id,
                c->got_disconnect ? "DISCONNECT"
                : c->close_reason ? "closed by the broker"
                                  : "closed without DISCONNECT (connection lost or protocol end)",
                c->close_reason);
    if (s) {
        if (c->connected) brk_cluster_disconnected(w->b, c, s->client_id);
        session_detach(c, s);
        c->session = NULL;
        brk_session_unref(s);
    }
    brk_msg_unref(&c->will);
    free_aliases(c);
    free(c->acks);
    c->acks = NULL;
    c->ack_len = 0;
    free(c->username);
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    brk_conn_unref(c);
}
