/* Scenarios as a connection plan: who publishes, who subscribes, on which
 * topics, and on which worker each connection lives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "bench.h"

const char *bench_scen_name(enum bench_scen s)
{
    switch (s) {
    case SCEN_PAIRS:
        return "pairs";
    case SCEN_FANOUT:
        return "fanout";
    case SCEN_FANIN:
        return "fanin";
    case SCEN_CONNS:
        return "conns";
    case SCEN_BRIDGE:
        return "bridge";
    }
    return "?";
}

static int plan_publisher(struct bench *b, struct conn *c)
{
    const struct bench_opts *o = &b->o;
    size_t cap = 16 + strlen(c->topic) + o->size;
    c->tpl = malloc(cap);
    if (!c->tpl) return -1;
    c->tpl_len =
        mq_publish(c->tpl, cap, c->topic, o->qos, o->size, o->v5, &c->tpl_pid_off, &c->tpl_pay_off);
    c->next_pid = 1;
    return c->tpl_len ? 0 : -1;
}

int bench_plan(struct bench *b)
{
    const struct bench_opts *o = &b->o;
    int idle = 0;
    switch (o->scen) {
    case SCEN_PAIRS:
        b->nsubs = b->npubs = o->pairs;
        b->factor = 1;
        break;
    case SCEN_BRIDGE:
        /* The Kafka reader is the only subscriber: no MQTT subscribers, so
         * that the broker's work is the bridge's, not local delivery. */
        b->npubs = o->pairs;
        b->factor = 1;
        break;
    case SCEN_FANOUT:
        b->nsubs = o->subs;
        b->npubs = o->pubs;
        b->factor = (uint64_t)o->subs;
        break;
    case SCEN_FANIN:
        b->nsubs = 1;
        b->npubs = o->pubs;
        b->factor = 1;
        break;
    case SCEN_CONNS:
        idle = o->clients;
        b->factor = 0;
        break;
    }
    b->nconns = b->nsubs + b->npubs + idle;
    if (b->nconns <= 0) {
        fprintf(stderr, "sluice-bench: nothing to connect\n");
        return -1;
    }
    b->conns = calloc((size_t)b->nconns, sizeof(*b->conns));
    b->nw = o->threads < b->nconns ? o->threads : b->nconns;
    b->echo_rows = b->nw + (o->scen == SCEN_BRIDGE);
    b->echo = calloc((size_t)b->npubs * (size_t)b->echo_rows + 1, sizeof(*b->echo));
    b->w = calloc((size_t)b->nw, sizeof(*b->w));
    if (!b->conns || !b->w || !b->echo) return -1;
    int per = b->nconns / b->nw + 1;
    for (int i = 0; i < b->nw; i++) {
        struct worker *w = &b->w[i];
        w->id = i;
        w->b = b;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->conns = calloc((size_t)per, sizeof(*w->conns));
        w->pubs = calloc((size_t)per, sizeof(*w->pubs));
        if (w->ep < 0 || !w->conns || !w->pubs) {
            perror("sluice-bench: worker");
            return -1;
        }
    }
    for (int i = 0; i < b->nconns; i++) {
        struct conn *c = &b->conns[i];
        struct worker *w = &b->w[i % b->nw];
        c->idx = i;
        c->fd = -1;
        c->w = w;
        c->rng = 0x2545f491u * (uint32_t)(i + 1);
        c->max_inflight = o->inflight;
        w->conns[w->nconns++] = c;
        if (i < b->nsubs) {
            c->role = ROLE_SUB;
            if (o->scen == SCEN_FANOUT)
                snprintf(c->topic, sizeof(c->topic), "%sfan", o->prefix);
            else if (o->scen == SCEN_FANIN)
                snprintf(c->topic, sizeof(c->topic), "%sin/+", o->prefix);
            else
                snprintf(c->topic, sizeof(c->topic), "%sp/%d", o->prefix, i);
            /* Whose messages it receives: its pair's, or every publisher's. */
            c->src_first = o->scen == SCEN_PAIRS ? i : 0;
            c->nsrc = o->scen == SCEN_PAIRS ? 1 : b->npubs;
            c->rx = calloc((size_t)c->nsrc + 1, sizeof(*c->rx));
            if (!c->rx) return -1;
        } else if (i < b->nsubs + b->npubs) {
            int k = i - b->nsubs;
            c->role = ROLE_PUB;
            if (o->scen == SCEN_FANOUT)
                snprintf(c->topic, sizeof(c->topic), "%sfan", o->prefix);
            else if (o->scen == SCEN_FANIN)
                snprintf(c->topic, sizeof(c->topic), "%sin/%d", o->prefix, k);
            else
                snprintf(c->topic, sizeof(c->topic), "%sp/%d", o->prefix, k);
            c->pub_idx = k;
            if (plan_publisher(b, c) < 0) return -1;
            w->pubs[w->npubs++] = c;
        } else {
            c->role = ROLE_IDLE;
        }
    }
    return 0;
}
