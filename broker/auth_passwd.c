/*
 * auth_passwd.c - password files in mosquitto_passwd's format, read and
 * written: `user:$7$<iterations>$<salt b64>$<hash b64>` (PBKDF2-HMAC-SHA512,
 * what mosquitto 2.0 writes) and the older `user:$6$<salt b64>$<hash b64>`
 * (SHA-512 of password then salt). Hashing, base64 and the comparison are
 * OpenSSL's. Never logs: errors are returned as "FILE:LINE: ...".
 *
 * A loaded file is immutable and sorted by user name, so any thread may
 * look users up (bsearch) at the same time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "acl.h"

#define HASH_LEN 64 /* SHA-512 */
#define SALT_MAX 64
#define SALT_NEW 12     /* what mosquitto_passwd uses */
#define ITER_NEW 101    /* mosquitto 2.0's default */
#define ITER_INLINE 200 /* up to this is checked on the worker: ~0.1 ms measured */
#define LINE_MAX_LEN 4096

typedef struct entry {
    char *user;
    int kind; /* 6 or 7 */
    int iterations;
    uint8_t salt[SALT_MAX];
    int salt_len;
    uint8_t hash[HASH_LEN];
} entry_t;

struct brk_passwd {
    entry_t *v;
    size_t n;
};

/* Standard base64 through OpenSSL; returns the decoded length without
 * the padding, or -1. */
static int b64_decode(const char *s, size_t len, uint8_t *dst, size_t cap)
{
    if (len == 0 || len % 4 || len / 4 * 3 > cap) return -1;
    int n = EVP_DecodeBlock(dst, (const unsigned char *)s, (int)len);
    if (n < 0) return -1;
    if (s[len - 1] == '=') n--;
    if (s[len - 2] == '=') n--;
    return n;
}

/* "$7$101$salt$hash" or "$6$salt$hash" into e; NULL or what is wrong. */
static const char *parse_hash(char *h, entry_t *e)
{
    char *f[4];
    int nf = 0;
    if (h[0] != '$') return "expected $7$ITERATIONS$SALT$HASH or $6$SALT$HASH after the ':'";
    for (char *p = h + 1, *tok; nf < 4 && (tok = strsep(&p, "$"));)
        f[nf++] = tok;
    if (!strcmp(f[0], "7") && nf == 4) {
        char *end;
        errno = 0;
        long it = strtol(f[1], &end, 10);
        if (errno || *end || it < 1 || it > 100000000) return "bad $7$ iteration count";
        e->kind = 7;
        e->iterations = (int)it;
        f[1] = f[2];
        f[2] = f[3];
    } else if (!strcmp(f[0], "6") && nf == 3) {
        e->kind = 6;
    } else {
        return "expected $7$ITERATIONS$SALT$HASH or $6$SALT$HASH after the ':'";
    }
    e->salt_len = b64_decode(f[1], strlen(f[1]), e->salt, sizeof(e->salt));
    if (e->salt_len <= 0) return "salt is not base64";
    uint8_t hash[HASH_LEN + 3];
    if (b64_decode(f[2], strlen(f[2]), hash, sizeof(hash)) != HASH_LEN)
        return "hash is not a base64 SHA-512 digest (64 bytes)";
    memcpy(e->hash, hash, HASH_LEN);
    return NULL;
}

static int by_user(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->user, ((const entry_t *)b)->user);
}

void brk_passwd_free(brk_passwd_t *pw)
{
    if (!pw) return;
    for (size_t i = 0; i < pw->n; i++)
        free(pw->v[i].user);
    OPENSSL_cleanse(pw->v, pw->n * sizeof(*pw->v));
    free(pw->v);
    free(pw);
}

static int add_line(brk_passwd_t *pw, size_t *cap, char *line, const char **why)
{
    char *colon = strchr(line, ':');
    if (!colon || colon == line) {
        *why = "expected USER:HASH";
        return -1;
    }
    *colon = 0;
    if (*cap == pw->n) {
        size_t nc = *cap ? *cap * 2 : 16;
        entry_t *nv = realloc(pw->v, nc * sizeof(*nv));
        if (!nv) return -2;
        pw->v = nv;
        *cap = nc;
    }
    entry_t *e = &pw->v[pw->n];
    memset(e, 0, sizeof(*e));
    if ((*why = parse_hash(colon + 1, e))) return -1;
    if (!(e->user = strdup(line))) return -2;
    pw->n++;
    return 0;
}

int brk_passwd_load(const char *path, brk_passwd_t **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read password file: %s", path, strerror(errno));
        return -1;
    }
    brk_passwd_t *pw = calloc(1, sizeof(*pw));
    size_t cap = 0, lineno = 0;
    char line[LINE_MAX_LEN];
    int rc = pw ? 0 : -2;
    const char *why = NULL;
    while (!rc && fgets(line, sizeof(line), f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
            why = "line too long";
            rc = -1;
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (!n || line[0] == '#') continue; /* mosquitto skips empty lines too */
        rc = add_line(pw, &cap, line, &why);
    }
    fclose(f);
    if (!rc && pw->n) {
        qsort(pw->v, pw->n, sizeof(*pw->v), by_user);
        for (size_t i = 1; i < pw->n && !rc; i++)
            if (!strcmp(pw->v[i].user, pw->v[i - 1].user)) {
                snprintf(err, errlen, "%s: user \"%.64s\" appears twice", path, pw->v[i].user);
                rc = -3;
            }
    }
    if (rc == -1) snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
    if (rc == -2) snprintf(err, errlen, "%s: out of memory", path);
    if (rc) {
        brk_passwd_free(pw);
        return -1;
    }
    *out = pw;
    return 0;
}

static const entry_t *find(const brk_passwd_t *pw, const char *user)
{
    entry_t key = {.user = (char *)user};
    return pw ? bsearch(&key, pw->v, pw->n, sizeof(*pw->v), by_user) : NULL;
}

bool brk_passwd_slow(const brk_passwd_t *pw, const char *user)
{
    const entry_t *e = find(pw, user);
    return e && e->kind == 7 && e->iterations > ITER_INLINE;
}

static bool derive(int kind, int iterations, const uint8_t *salt, int salt_len, const uint8_t *pass,
                   size_t len, uint8_t out[HASH_LEN])
{
    if (kind == 7)
        return PKCS5_PBKDF2_HMAC((const char *)pass, (int)len, salt, salt_len, iterations,
                                 EVP_sha512(), HASH_LEN, out) == 1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha512(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, pass, len) == 1 &&
              EVP_DigestUpdate(ctx, salt, (size_t)salt_len) == 1 &&
              EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

bool brk_passwd_verify(const brk_passwd_t *pw, const char *user, const uint8_t *pass, size_t len)
{
    const entry_t *e = find(pw, user);
    if (!e) return false;
    uint8_t h[HASH_LEN];
    bool ok = derive(e->kind, e->iterations, e->salt, e->salt_len, pass, len, h) &&
              CRYPTO_memcmp(h, e->hash, HASH_LEN) == 0;
    OPENSSL_cleanse(h, sizeof(h));
    return ok;
}

/* ---- sluice passwd ----------------------------------------------------- */

/* "user:$7$101$salt$hash\n" for a new random salt. */
static int make_line(const char *user, const char *pass, char *dst, size_t cap)
{
    uint8_t salt[SALT_NEW], h[HASH_LEN];
    char s64[4 * SALT_NEW / 3 + 4], h64[4 * ((HASH_LEN + 2) / 3) + 1];
    if (RAND_bytes(salt, sizeof(salt)) != 1 ||
        !derive(7, ITER_NEW, salt, SALT_NEW, (const uint8_t *)pass, strlen(pass), h))
        return -1;
    EVP_EncodeBlock((unsigned char *)s64, salt, SALT_NEW);
    EVP_EncodeBlock((unsigned char *)h64, h, HASH_LEN);
    int n = snprintf(dst, cap, "%s:$7$%d$%s$%s\n", user, ITER_NEW, s64, h64);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* Read a password from the terminal without echo (or a line from a pipe). */
static int read_password(const char *prompt, char *dst, size_t cap)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *r = fgets(dst, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!r) return -1;
    dst[strcspn(dst, "\r\n")] = 0;
    return 0;
}

/* Copy `path` to `path.tmp` without user's line, add `line` (NULL: delete),
 * rename over. Returns 0, or 1 when deleting a user that is not there. */
static int rewrite(const char *path, const char *user, const char *line, bool create)
{
    char tmp[4096], buf[LINE_MAX_LEN];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *in = create ? NULL : fopen(path, "r");
    if (!create && !in) {
        fprintf(stderr, "sluice passwd: %s: %s (use -c to create it)\n", path, strerror(errno));
        return 2;
    }
    /* hashes are secrets too: a new file is the owner's only, a rewritten
     * one keeps its mode */
    struct stat st;
    mode_t mode = in && fstat(fileno(in), &st) == 0 ? (st.st_mode & 07777) : 0600;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (fd >= 0 && !out) close(fd);
    if (out) fchmod(fd, mode); /* whatever the umask */
    if (!out) {
        fprintf(stderr, "sluice passwd: %s: %s\n", tmp, strerror(errno));
        if (in) fclose(in);
        return 2;
    }
    size_t ul = strlen(user);
    bool found = false;
    while (in && fgets(buf, sizeof(buf), in)) {
        if (!strncmp(buf, user, ul) && buf[ul] == ':') {
            found = true;
            if (line) fputs(line, out); /* keep the user's place in the file */
            continue;
        }
        fputs(buf, out);
    }
    if (in) fclose(in);
    if (line && !found) fputs(line, out);
    if (fclose(out) != 0 || (!line && !found)) {
        if (!line && !found) fprintf(stderr, "sluice passwd: user %s not found\n", user);
        unlink(tmp);
        return 1;
    }
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "sluice passwd: %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return 2;
    }
    return 0;
}

int brk_passwd_command(int argc, char **argv)
{
    bool create = false, batch = false, del = false;
    int i = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-c"))
            create = true;
        else if (!strcmp(argv[i], "-b"))
            batch = true;
        else if (!strcmp(argv[i], "-D"))
            del = true;
        else
            break;
    }
    int want = batch ? 3 : 2;
    if (argc - i != want || (del && (create || batch))) {
        fprintf(stderr, "usage: sluice passwd [-c] FILE USER      (asks for the password)\n"
                        "       sluice passwd [-c] -b FILE USER PASSWORD\n"
                        "       sluice passwd -D FILE USER\n");
        return 2;
    }
    const char *path = argv[i], *user = argv[i + 1];
    if (!*user || strchr(user, ':')) {
        fprintf(stderr, "sluice passwd: a user name is not empty and holds no ':'\n");
        return 2;
    }
    if (del) return rewrite(path, user, NULL, false);
    char pass[1024], again[1024], line[LINE_MAX_LEN];
    if (batch) {
        snprintf(pass, sizeof(pass), "%s", argv[i + 2]);
    } else if (read_password("Password: ", pass, sizeof(pass)) ||
               read_password("Reenter password: ", again, sizeof(again)) || strcmp(pass, again)) {
        fprintf(stderr, "sluice passwd: passwords do not match\n");
        return 1;
    }
    int rc = make_line(user, pass, line, sizeof(line)) ? 1 : rewrite(path, user, line, create);
    OPENSSL_cleanse(pass, sizeof(pass));
    OPENSSL_cleanse(again, sizeof(again));
    return rc;
}
