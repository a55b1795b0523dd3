/*
 * c11_threads.c - C11 thread creation through the pthread calls
 * ThreadSanitizer intercepts, for the SLUICE_TSAN build only (CMakeLists.txt
 * links it into every executable that may load librdkafka).
 *
 * librdkafka starts and joins its threads with C11 thrd_create/thrd_join.
 * glibc implements them with internal calls to its pthread functions that
 * TSan's interceptors never see (neither gcc 12's libtsan nor clang 14's
 * runtime intercepts the C11 names). Those threads then run without TSan
 * state, and the first intercepted call in one (getaddrinfo -> realloc)
 * crashes; joins look like thread leaks. Definitions in the executable come
 * first in symbol lookup, so librdkafka calls these instead; thrd_t is
 * pthread_t underneath, and a thread's int result travels as its pointer
 * result, as in glibc. librdkafka's own locking stays invisible to TSan
 * (tests/tsan.supp, entry 3, ignores the libc calls it makes itself).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

static int res(int rc) /* pthread error -> thrd_* */
{
    switch (rc) {
    case 0:
        return thrd_success;
    case ETIMEDOUT:
        return thrd_timedout;
    case EBUSY:
        return thrd_busy;
    case ENOMEM:
    case EAGAIN:
        return thrd_nomem;
    default:
        return thrd_error;
    }
}

typedef struct start {
    thrd_start_t fn;
    void *arg;
} start_t;

static void *trampoline(void *p)
{
    start_t s = *(start_t *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    start_t *s = malloc(sizeof(*s));
    if (!s) return thrd_nomem;
    *s = (start_t){fn, arg};
    int rc = pthread_create((pthread_t *)thr, NULL, trampoline, s);
    if (rc) free(s);
    return res(rc);
}

int thrd_join(thrd_t thr, int *out)
{
    void *r;
    int rc = pthread_join((pthread_t)thr, &r);
    if (!rc && out) *out = (int)(intptr_t)r;
    return res(rc);
}

int thrd_detach(thrd_t thr)
{
    return res(pthread_detach((pthread_t)thr));
}
