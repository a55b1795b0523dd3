/*
 * handle_connect.c - CONNECT: validate, attach or create the session (with
 * takeover of an existing connection on any worker), answer CONNACK, then
 * resume what the session held: in-flight messages again with DUP, then
 * the queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"
#include "brk.h"
#include "cluster.h"

static const char *refusal_text(uint8_t rc)
{
    switch (rc) {
    case MQTT_RC_CLIENT_ID_INVALID:
        return "client identifier not valid";
    case MQTT_RC_BAD_AUTH_METHOD:
        return "authentication method not supported";
    case MQTT_RC_NOT_AUTHORIZED:
        return "not authorized";
    case MQTT_RC_BAD_USER_OR_PASSWORD:
        return "bad user name or password";
    case MQTT_RC_SERVER_BUSY:
        return "server busy";
    case MQTT_RC_RETAIN_NOT_SUPPORTED:
        return "retain not supported";
    default:
        return "server unavailable";
    }
}

static int refuse(brk_conn_t *c, uint8_t v311_rc, uint8_t v5_rc)
{
    mqtt_packet_t p = {.type = MQTT_CONNACK,
                       .u.connack.reason = c->version == MQTT_V5 ? v5_rc : v311_rc};
    if (c->version == MQTT_V5) { /* always allowed on CONNACK (MQTT-3.1.2-29) */
        const char *t = refusal_text(v5_rc);
        p.u.connack.props.present |= MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
        p.u.connack.props.reason_string = (mqtt_str_t){(const uint8_t *)t, (uint32_t)strlen(t)};
    }
    brk_conn_send_packet(c, &p);
    brk_conn_close(c, 0);
    /* never the password; the client id is not trusted yet, so not quoted */
    brk_log(c->w->b, BRK_LOG_INFO, "SLUICE-CONNECT-REFUSED", "%s: CONNECT refused: %s (0x%02x)",
            c->peer, refusal_text(v5_rc), v5_rc);
    return -1;
}

static brk_msg_t *make_will(brk_conn_t *c, const mqtt_connect_t *p)
{
    uint32_t plen = c->version == MQTT_V5 ? mqtt_props_forward_size(&p->will_props) : 0;
    brk_msg_t *m = brk_msg_new(p->will_topic.p, (uint16_t)p->will_topic.len, p->will_payload.p,
                               p->will_payload.len, plen, p->will_qos, p->will_retain);
    if (!m) return NULL;
    if (plen) mqtt_props_forward_write(&p->will_props, (uint8_t *)m->props, plen);
    if (p->will_props.present & MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY)) {
        c->will_expiry = p->will_props.message_expiry; /* counts from publication */
        c->has_will_expiry = true;
    }
    if (p->will_props.present & MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY))
        c->will_delay = p->will_props.will_delay;
    return m;
}

/* Tell old's worker to close it (the item holds a reference). Without
 * memory for that it stays open until its client goes or a later CONNECT
 * with its id asks again; the failure is logged. */
static void post_kill(brk_conn_t *old)
{
    brk_inbox_item_t it = {.kind = BRK_INBOX_KILL, .u.c = old};
    if (brk_worker_post(old->w, it) < 0) brk_worker_post_failed(old->w, it);
}

/* Detach and close the connection attached to s at once: its session is
 * being discarded, so nothing it still says matters (s->lock held). */
static void discard_conn(brk_session_t *s)
{
    brk_conn_t *old = s->conn;
    s->conn = NULL;
    s->home = NULL;
    if (!old) return;
    atomic_fetch_add(&old->refs, 1);
    post_kill(old);
}

/*
 * Take over a session that continues (s->lock held). The old connection's
 * worker first reads what the old client already sent (its last PUBACK
 * must not be lost), closes it, then attaches the session to c and posts
 * a RESUME to c's worker; until then c has its CONNACK but no session
 * traffic. A takeover already pending loses to this newer one.
 */
static void take_over(brk_conn_t *c, brk_session_t *s)
{
    brk_conn_t *old = s->conn;
    if (s->pending) { /* its ref moves to the kill item */
        post_kill(s->pending);
        s->pending = NULL;
    }
    atomic_fetch_add(&c->refs, 1);
    s->pending = c;
    atomic_fetch_add(&old->refs, 1);
    post_kill(old);
}

/* mqtt.max_connections: every open connection counts, this one included
 * (each worker counts its own from accept to close). */
static bool over_max_connections(brk_t *b)
{
    uint32_t max = b->cfg->mqtt.max_connections;
    if (!max) return false;
    uint64_t n = 0;
    for (int i = 0; i < b->n_workers; i++)
        n += brk_read(&b->workers[i].st.conns);
    if (n <= max) return false;
    brk_limit_hit(b, BRK_LIMIT_CONNECTIONS);
    return true;
}

/* The client id, or one assigned (*assigned); refuses (returns -1 after
 * the CONNACK) when none is allowed. */
static int client_id(brk_conn_t *c, const mqtt_connect_t *p, char *buf, size_t cap, mqtt_str_t *id,
                     bool *assigned)
{
    brk_t *b = c->w->b;
    *id = p->client_id;
    *assigned = false;
    if (id->len) return 0;
    /* 3.1 requires an id; 3.1.1 allows none only with clean session
     * (MQTT-3.1.3-8); 5.0 assigns one (MQTT-3.1.3-6) */
    if (p->version == MQTT_V31 || (p->version == MQTT_V311 && !p->clean_start) ||
        !b->cfg->mqtt.allow_zero_length_clientid)
        return refuse(c, MQTT_CONNACK_ID_REJECTED, MQTT_RC_CLIENT_ID_INVALID);
    pthread_mutex_lock(&b->reg_lock);
    uint64_t n = ++b->next_assigned_id;
    pthread_mutex_unlock(&b->reg_lock);
    int len = snprintf(buf, cap, "auto-%016llx-%llu", (unsigned long long)b->start_ms,
                       (unsigned long long)n);
    *id = (mqtt_str_t){(const uint8_t *)buf, (uint32_t)len};
    *assigned = true;
    return 0;
}

/* Everything before the session: enhanced authentication, limits,
 * credentials and the will's right. 0 and *aid, BRK_PAUSE, or -1 (refused). */
static int admit(brk_conn_t *c, mqtt_connect_t *p, const mqtt_str_t *id, brk_acl_id_t **aid)
{
    brk_t *b = c->w->b;
    if (p->version == MQTT_V5 && (p->props.present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD))) {
        const brk_auth_method_t *m = brk_auth_find(&p->props.auth_method);
        /* a method that answers in one step is enough until one needs more */
        mqtt_str_t out = {0};
        if (!m || m->step(c, &p->props.auth_data, &out) != BRK_AUTH_OK)
            return refuse(c, MQTT_CONNACK_NOT_AUTHORIZED,
                          m ? MQTT_RC_NOT_AUTHORIZED : MQTT_RC_BAD_AUTH_METHOD);
    }
    if (p->will && p->will_retain && !b->cfg->mqtt.retain_available)
        return refuse(c, MQTT_CONNACK_UNAVAILABLE, MQTT_RC_RETAIN_NOT_SUPPORTED);
    if (over_max_connections(b)) return refuse(c, MQTT_CONNACK_UNAVAILABLE, MQTT_RC_QUOTA_EXCEEDED);
    /* the cluster's state is not loaded yet: serving now could miss its
     * retained messages and other nodes' subscriptions (docs/CLUSTER.md) */
    if (!brk_cluster_accepting(b))
        return refuse(c, MQTT_CONNACK_UNAVAILABLE, MQTT_RC_SERVER_UNAVAILABLE);
    int verdict = brk_acl_connect(c, p, id, aid);  /* credentials and will topic (acl.c) */
    if (verdict == BRK_ACL_WAIT) return BRK_PAUSE; /* a slow hash: this CONNECT again later */
    if (verdict == BRK_ACL_BAD_LOGIN)
        return refuse(c, MQTT_CONNACK_BAD_CREDENTIALS, MQTT_RC_BAD_USER_OR_PASSWORD);
    if (verdict == BRK_ACL_BUSY) return refuse(c, MQTT_CONNACK_UNAVAILABLE, MQTT_RC_SERVER_BUSY);
    if (verdict != BRK_ACL_ALLOW)
        return refuse(c, MQTT_CONNACK_NOT_AUTHORIZED, MQTT_RC_NOT_AUTHORIZED);
    return 0;
}

/* Keepalive, the client's MQTT 5 limits, the session expiry (clamped):
 * returns the expiry; *ka_capped when the keepalive was lowered. */
static uint32_t negotiate(brk_conn_t *c, const mqtt_connect_t *p, bool *ka_capped)
{
    const cfg_t *cfg = c->w->b->cfg;
    c->keepalive = p->keepalive;
    *ka_capped = false;
    if (cfg->mqtt.keepalive_max && p->version == MQTT_V5 &&
        (c->keepalive == 0 || c->keepalive > cfg->mqtt.keepalive_max)) {
        c->keepalive = cfg->mqtt.keepalive_max;
        *ka_capped = true;
    }
    uint32_t expiry;
    if (p->version == MQTT_V5) {
        const mqtt_props_t *pr = &p->props;
        expiry = (pr->present & MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY)) ? pr->session_expiry : 0;
        if (pr->present & MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM))
            c->receive_max = pr->receive_maximum;
        c->request_problem_info = !(pr->present & MQTT_PROP_BIT(MQTT_PROP_REQUEST_PROBLEM_INFO)) ||
                                  pr->request_problem_info;
        c->alias_max_in = cfg->mqtt.topic_alias_maximum;
        if (pr->present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM))
            c->alias_max_out = pr->topic_alias_maximum < BRK_ALIAS_OUT_MAX ? pr->topic_alias_maximum
                                                                           : BRK_ALIAS_OUT_MAX;
    } else {
        expiry = p->clean_start ? 0 : UINT32_MAX;
    }
    return expiry > cfg->mqtt.max_session_expiry ? cfg->mqtt.max_session_expiry : expiry;
}

static void take_username(brk_conn_t *c, const mqtt_connect_t *p, const brk_acl_id_t *aid)
{
    if (brk_acl_id_user(aid)) { /* authenticated: a JWT claim or a certificate may name it */
        c->username = strdup(brk_acl_id_user(aid));
    } else if (p->has_username) {
        c->username = malloc(p->username.len + 1);
        if (c->username) {
            memcpy(c->username, p->username.p, p->username.len);
            c->username[p->username.len] = 0;
        }
    }
}

typedef struct attach {
    bool present, waiting, took;
} attach_t;

/* Find or create the session of id and attach c (or queue it behind a live
 * connection being taken over); NULL without memory. Takes aid. */
static brk_session_t *attach(brk_conn_t *c, const mqtt_connect_t *p, const mqtt_str_t *id,
                             brk_acl_id_t *aid, uint32_t expiry, attach_t *at)
{
    brk_t *b = c->w->b;
    *at = (attach_t){0};
    pthread_mutex_lock(&b->reg_lock);
    brk_session_t *s = brk_reg_find(b, (const char *)id->p, (uint16_t)id->len);
    if (s) {
        pthread_mutex_lock(&s->lock);
        /* a session that ends with its connection (expiry 0) does not
         * continue, whatever this CONNECT asks (MQTT-3.1.2-4, -3.1.2-5) */
        bool discard = p->clean_start || s->expiry == 0;
        at->took = s->conn != NULL; /* a live connection had it: taken over (log) */
        if (discard) {
            discard_conn(s);
        } else {
            if (s->conn) {
                take_over(c, s);
                at->waiting = true;
            }
            /* back within the will delay: that will is never sent (MQTT-3.1.3-9) */
            brk_msg_unref(&s->will);
        }
        pthread_mutex_unlock(&s->lock);
        if (discard) {
            brk_session_end(b, s); /* drops the registry's reference */
            s = NULL;
        } else {
            at->present = true;
        }
    }
    if (!s && (s = brk_session_new(b, (const char *)id->p, (uint16_t)id->len)))
        brk_reg_insert(b, s);
    if (!s) {
        pthread_mutex_unlock(&b->reg_lock);
        brk_acl_id_free(aid);
        return NULL;
    }
    pthread_mutex_lock(&s->lock);
    brk_acl_id_free(s->acl);
    s->acl = aid;
    if (!at->waiting) {
        s->conn = c;
        s->home = c->w;
    }
    s->version = p->version;
    s->expiry = expiry;
    pthread_mutex_unlock(&s->lock);
    c->session = brk_session_ref(s);
    pthread_mutex_unlock(&b->reg_lock);
    return s;
}

/* The CONNACK's MQTT 5 properties: our limits and what we changed. */
static void connack_props(brk_conn_t *c, const mqtt_connect_t *p, mqtt_props_t *pr,
                          const mqtt_str_t *id, bool assigned, bool ka_capped, uint32_t expiry)
{
    const cfg_t *cfg = c->w->b->cfg;
    pr->present |= MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM) |
                   MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE) |
                   MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM);
    pr->receive_maximum = cfg->mqtt.receive_maximum;
    pr->maximum_packet_size = cfg->mqtt.max_packet_size;
    pr->topic_alias_maximum = cfg->mqtt.topic_alias_maximum;
    if (!cfg->mqtt.retain_available) {
        pr->present |= MQTT_PROP_BIT(MQTT_PROP_RETAIN_AVAILABLE);
        pr->retain_available = 0;
    }
    if (assigned) {
        pr->present |= MQTT_PROP_BIT(MQTT_PROP_ASSIGNED_CLIENT_ID);
        pr->assigned_client_id = *id;
    }
    if (ka_capped) {
        pr->present |= MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEP_ALIVE);
        pr->server_keep_alive = c->keepalive;
    }
    if (expiry != ((p->props.present & MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY))
                       ? p->props.session_expiry
                       : 0)) {
        pr->present |= MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
        pr->session_expiry = expiry;
    }
    if (p->props.request_response_info && cfg->mqtt.response_information) {
        pr->present |= MQTT_PROP_BIT(MQTT_PROP_RESPONSE_INFO);
        pr->response_info = (mqtt_str_t){(const uint8_t *)cfg->mqtt.response_information,
                                         (uint32_t)strlen(cfg->mqtt.response_information)};
    }
    if (c->alias_max_in) {
        c->aliases_in = calloc((size_t)c->alias_max_in + 1, sizeof(*c->aliases_in));
        if (!c->aliases_in) c->alias_max_in = 0;
    }
}

int brk_handle_connect(brk_conn_t *c, mqtt_connect_t *p)
{
    brk_t *b = c->w->b;
    c->version = p->version;
    /* the client's limit holds for every packet we send, a refusal included */
    if (p->version == MQTT_V5 && (p->props.present & MQTT_PROP_BIT(MQTT_PROP_MAXIMUM_PACKET_SIZE)))
        c->max_packet = p->props.maximum_packet_size;
    char idbuf[32];
    mqtt_str_t id;
    bool assigned, ka_capped;
    brk_acl_id_t *aid = NULL;
    if (client_id(c, p, idbuf, sizeof(idbuf), &id, &assigned)) return -1;
    int rc = admit(c, p, &id, &aid);
    if (rc) return rc;
    /* its session may be on another node: fetched first (docs/CLUSTER.md) */
    if (!p->clean_start && (rc = brk_cluster_claim(b, c, (const char *)id.p, id.len))) {
        brk_acl_id_free(aid);
        return rc;
    }
    uint32_t expiry = negotiate(c, p, &ka_capped);
    take_username(c, p, aid);
    if (p->will && !(c->will = make_will(c, p))) {
        brk_acl_id_free(aid);
        brk_conn_close(c, MQTT_RC_UNSPECIFIED);
        return -1;
    }
    attach_t at;
    brk_session_t *s = attach(c, p, &id, aid, expiry, &at);
    if (!s) return refuse(c, MQTT_CONNACK_UNAVAILABLE, MQTT_RC_SERVER_UNAVAILABLE);
    brk_persist_session(s, c->will, c->will_delay, true);

    c->connected = true;
    /* 3.1 has no Session Present flag: byte 1 is reserved (0) */
    mqtt_packet_t ack = {
        .type = MQTT_CONNACK,
        .u.connack = {.session_present = at.present && p->version != MQTT_V31, .reason = 0}};
    if (p->version == MQTT_V5)
        connack_props(c, p, &ack.u.connack.props, &id, assigned, ka_capped, expiry);
    /* a CONNACK over the client's Maximum Packet Size closed the connection:
     * nothing of the session may follow it */
    if (brk_conn_send_packet(c, &ack) < 0 && c->state >= BRK_CONN_CLOSING) return -1;
    if (!at.waiting) brk_session_resume(s, c);
    brk_cluster_connected(b, c, s->client_id);
    brk_log(b, BRK_LOG_INFO, at.took ? "SLUICE-TAKEOVER" : "SLUICE-CONNECT",
            "%s: client '%s' user '%s' MQTT %s keepalive %u clean_start %d%s", c->peer,
            s->client_id, c->username ? c->username : "",
            p->version == MQTT_V5 ? "5"
            : p->version == 4     ? "3.1.1"
                                  : "3.1",
            c->keepalive, p->clean_start, at.took ? " (took over from a live connection)" : "");
    return 0;
}
