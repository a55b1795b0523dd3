/*
 * auth_acl.c - access rules in Mosquitto's ACL syntax, from a file
 * (auth.acl_file) and inline JSON (auth.acl, already parsed by config/):
 *
 *   topic read $SYS/#          <- before any `user` line: anonymous clients
 *   user alice
 *   topic readwrite alice/#    <- alice only
 *   pattern write devices/%c/# <- every client; %c client id, %u user name
 *
 * Access is read, write, readwrite (the default) or deny; a deny rule that
 * matches wins over every grant. Once any rule is configured, what no rule
 * grants is refused, $SYS included ('#' does not match $-topics).
 * Subscribing needs some readable topic under the filter and no deny rule
 * covering it; each delivery is then checked on its own topic, so a
 * subscriber to `#` receives only what it may read. A pattern whose %u or
 * %c would hold '+', '#' or '/' (or %u for a client without user name) is
 * skipped, so an identity cannot widen its own rules.
 *
 * Rules are immutable after load; a view (one client's rules) is owned by
 * its identity. Never logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

typedef struct rule {
    char *filter;
    uint16_t len;
    uint8_t access; /* CFG_ACL_* */
} rule_t;

typedef struct group {
    char *user; /* NULL: the anonymous section */
    rule_t *v;
    size_t n, cap;
} group_t;

struct brk_acl_rules {
    group_t anon;
    group_t *users; /* sorted by user once loaded */
    size_t n_users, cap_users;
    group_t patterns;
};

struct brk_acl_view {
    const group_t *own; /* the user's section or the anonymous one; may be NULL */
    rule_t *pat;        /* patterns, filled in */
    size_t n_pat;
};

static int add_rule(group_t *g, const char *filter, uint8_t access)
{
    size_t len = strlen(filter);
    if (len > UINT16_MAX) return -1;
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 8;
        rule_t *nv = realloc(g->v, nc * sizeof(*nv));
        if (!nv) return -1;
        g->v = nv;
        g->cap = nc;
    }
    if (!(g->v[g->n].filter = strdup(filter))) return -1;
    g->v[g->n].len = (uint16_t)len;
    g->v[g->n++].access = access;
    return 0;
}

static group_t *user_group(brk_acl_rules_t *r, const char *user)
{
    for (size_t i = 0; i < r->n_users; i++) /* load time only */
        if (!strcmp(r->users[i].user, user)) return &r->users[i];
    if (r->n_users == r->cap_users) {
        size_t nc = r->cap_users ? r->cap_users * 2 : 8;
        group_t *nv = realloc(r->users, nc * sizeof(*nv));
        if (!nv) return NULL;
        r->users = nv;
        r->cap_users = nc;
    }
    group_t *g = &r->users[r->n_users];
    memset(g, 0, sizeof(*g));
    if (!(g->user = strdup(user))) return NULL;
    r->n_users++;
    return g;
}

static int access_of(const char *word)
{
    static const char *const names[] = {"deny", "read", "write", "readwrite"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(word, names[i])) return i;
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

/* One line of an ACL file; NULL or what was expected. */
static const char *parse_line(brk_acl_rules_t *r, group_t **cur, char *line, bool *nomem)
{
    char *rest = line, *word = strsep(&rest, " \t");
    rest = rest ? trim(rest) : NULL;
    if (!strcmp(word, "user")) {
        if (!rest || !*rest) return "expected `user NAME`";
        if (!(*cur = user_group(r, rest))) *nomem = true;
        return NULL;
    }
    bool pattern = !strcmp(word, "pattern");
    if (!pattern && strcmp(word, "topic"))
        return "expected `user NAME`, `topic [read|write|readwrite|deny] FILTER` or "
               "`pattern [read|write|readwrite|deny] FILTER`";
    if (!rest || !*rest) return "expected a topic filter after the access";
    int access = CFG_ACL_READWRITE;
    char *after = rest, *first = strsep(&after, " \t");
    if (after && access_of(first) >= 0) {
        access = access_of(first);
        rest = trim(after);
    } else if (after) {
        after[-1] = ' '; /* a filter with a space in it: give it back */
    } else if (access_of(first) >= 0) {
        return "expected a topic filter after the access";
    }
    if (!mqtt_filter_valid((const uint8_t *)rest, strlen(rest)))
        return "expected a valid MQTT topic filter";
    if (add_rule(pattern ? &r->patterns : *cur, rest, (uint8_t)access)) *nomem = true;
    return NULL;
}

static int load_file(brk_acl_rules_t *r, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read ACL file: %s", path, strerror(errno));
        return -1;
    }
    char buf[4096];
    size_t lineno = 0;
    group_t *cur = &r->anon;
    int rc = 0;
    while (!rc && fgets(buf, sizeof(buf), f)) {
        lineno++;
        char *line = trim(buf);
        if (!*line || line[0] == '#') continue;
        bool nomem = false;
        const char *why = parse_line(r, &cur, line, &nomem);
        if (why) snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
        if (nomem) snprintf(err, errlen, "%s:%zu: out of memory", path, lineno);
        rc = why || nomem ? -1 : 0;
    }
    fclose(f);
    return rc;
}

static void group_free(group_t *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i].filter);
    free(g->v);
    free(g->user);
}

void brk_acl_rules_free(brk_acl_rules_t *r)
{
    if (!r) return;
    group_free(&r->anon);
    group_free(&r->patterns);
    for (size_t i = 0; i < r->n_users; i++)
        group_free(&r->users[i]);
    free(r->users);
    free(r);
}

static int by_user(const void *a, const void *b)
{
    return strcmp(((const group_t *)a)->user, ((const group_t *)b)->user);
}

int brk_acl_rules_load(const cfg_auth_t *a, brk_acl_rules_t **out, char *err, size_t errlen)
{
    brk_acl_rules_t *r = calloc(1, sizeof(*r));
    int rc = r ? 0 : -1;
    if (!r) snprintf(err, errlen, "out of memory");
    if (!rc && a->acl_file) rc = load_file(r, a->acl_file, err, errlen);
    for (size_t i = 0; !rc && i < a->n_acl; i++) {
        const cfg_acl_rule_t *x = &a->acl[i];
        group_t *g = x->pattern ? &r->patterns : x->user ? user_group(r, x->user) : &r->anon;
        if (!g || add_rule(g, x->filter, x->access)) {
            snprintf(err, errlen, "auth.acl[%zu]: out of memory", i);
            rc = -1;
        }
    }
    if (rc) {
        brk_acl_rules_free(r);
        return -1;
    }
    if (r->n_users) qsort(r->users, r->n_users, sizeof(*r->users), by_user);
    *out = r;
    return 0;
}

/* ---- one client's view ------------------------------------------------- */

static bool safe_value(const char *s)
{
    return s && !strpbrk(s, "+#/");
}

/* A pattern with %u / %c replaced; NULL when it does not apply. */
static char *fill(const rule_t *p, const char *user, const char *client_id)
{
    size_t n = 0;
    for (const char *s = p->filter; *s; s++) {
        if (s[0] == '%' && (s[1] == 'u' || s[1] == 'c')) {
            const char *v = s[1] == 'u' ? user : client_id;
            if (!safe_value(v)) return NULL;
            n += strlen(v);
            s++;
        } else {
            n++;
        }
    }
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (const char *s = p->filter; *s; s++) {
        if (s[0] == '%' && (s[1] == 'u' || s[1] == 'c')) {
            const char *v = s[1] == 'u' ? user : client_id;
            size_t l = strlen(v);
            memcpy(o, v, l);
            o += l;
            s++;
        } else {
            *o++ = *s;
        }
    }
    *o = 0;
    return out;
}

brk_acl_view_t *brk_acl_view_new(const brk_acl_rules_t *r, const char *user, const char *client_id)
{
    brk_acl_view_t *v = calloc(1, sizeof(*v));
    if (!v) return NULL;
    if (!user) {
        v->own = &r->anon;
    } else if (r->n_users) {
        group_t key = {.user = (char *)user};
        v->own = bsearch(&key, r->users, r->n_users, sizeof(*r->users), by_user);
    }
    if (r->patterns.n && !(v->pat = calloc(r->patterns.n, sizeof(*v->pat)))) {
        free(v);
        return NULL;
    }
    for (size_t i = 0; i < r->patterns.n; i++) {
        char *f = fill(&r->patterns.v[i], user, client_id);
        if (!f || strlen(f) > UINT16_MAX) {
            free(f);
            continue;
        }
        v->pat[v->n_pat++] = (rule_t){f, (uint16_t)strlen(f), r->patterns.v[i].access};
    }
    return v;
}

void brk_acl_view_free(brk_acl_view_t *v)
{
    if (!v) return;
    for (size_t i = 0; i < v->n_pat; i++)
        free(v->pat[i].filter);
    free(v->pat);
    free(v);
}

/* Length of the level of f starting at i. */
static uint16_t level_end(const char *f, uint16_t len, uint16_t i)
{
    while (i < len && f[i] != '/')
        i++;
    return i;
}

/*
 * Two filters (or a filter and a topic) walked level by level. overlap:
 * some topic matches both. Covers (rule covers f): every topic f matches,
 * the rule matches too. A first-level wildcard never reaches $-topics.
 */
static bool filters_relate(const char *a, uint16_t al, const char *b, uint16_t bl, bool covers)
{
    bool adollar = al && a[0] == '$', bdollar = bl && b[0] == '$';
    if ((adollar && bl && (b[0] == '+' || b[0] == '#')) ||
        (bdollar && al && (a[0] == '+' || a[0] == '#')))
        return false;
    uint16_t i = 0, j = 0;
    for (;;) {
        uint16_t ie = level_end(a, al, i), je = level_end(b, bl, j);
        bool ahash = ie - i == 1 && a[i] == '#', bhash = je - j == 1 && b[j] == '#';
        bool aplus = ie - i == 1 && a[i] == '+', bplus = je - j == 1 && b[j] == '+';
        if (ahash) return true; /* a (the rule) takes everything from here */
        if (bhash) return !covers;
        if (covers ? !(aplus || (!bplus && ie - i == je - j && !memcmp(a + i, b + j, ie - i)))
                   : !(aplus || bplus || (ie - i == je - j && !memcmp(a + i, b + j, ie - i))))
            return false;
        bool aend = ie >= al, bend = je >= bl;
        if (aend || bend) {
            /* "x/#" also matches "x" itself */
            if (aend && bend) return true;
            if (bend) return al - ie == 2 && a[ie + 1] == '#';
            return !covers && bl - je == 2 && b[je + 1] == '#';
        }
        i = ie + 1;
        j = je + 1;
    }
}

static int verdict(const rule_t *v, size_t n, const char *topic, uint16_t len, uint8_t want,
                   bool sub)
{
    int r = 0; /* 0 nothing said, 1 granted, -1 denied */
    for (size_t i = 0; i < n; i++) {
        const rule_t *x = &v[i];
        if (x->access == CFG_ACL_DENY) {
            bool hit = sub ? filters_relate(x->filter, x->len, topic, len, true)
                           : mqtt_topic_match((const uint8_t *)x->filter, x->len,
                                              (const uint8_t *)topic, len);
            if (hit) return -1;
        } else if (r == 0 && (x->access & want)) {
            bool hit = sub ? filters_relate(x->filter, x->len, topic, len, false)
                           : mqtt_topic_match((const uint8_t *)x->filter, x->len,
                                              (const uint8_t *)topic, len);
            if (hit) r = 1;
        }
    }
    return r;
}

bool brk_acl_view_allows(const brk_acl_view_t *v, const char *topic, uint16_t len,
                         brk_acl_access_t access)
{
    bool sub = access == BRK_ACL_SUBSCRIBE;
    uint8_t want =
        access == BRK_ACL_PUBLISH || access == BRK_ACL_WILL ? CFG_ACL_WRITE : CFG_ACL_READ;
    int a = v->own ? verdict(v->own->v, v->own->n, topic, len, want, sub) : 0;
    if (a < 0) return false;
    int b = verdict(v->pat, v->n_pat, topic, len, want, sub);
    return b >= 0 && (a > 0 || b > 0);
}
