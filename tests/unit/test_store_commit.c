/*
 * test_store_commit.c - the write path of store/: group commit under many
 * submitting threads, sync modes, back-pressure, recovery after close, a
 * corrupt database and its repair, and a full disk (tmpfs, when mountable).
 */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "test_store.h"

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

/* ---- many submitters ---- */

struct submitter {
    store_t *st;
    int id;
    int batches;
    atomic_int *done_ok;
    atomic_int *done_err;
};

static void count_done(void *arg, int err)
{
    struct submitter *s = arg;
    atomic_fetch_add(err == STORE_OK ? s->done_ok : s->done_err, 1);
}

static void *submit_loop(void *arg)
{
    struct submitter *s = arg;
    char client[32], payload[200];
    snprintf(client, sizeof(client), "client-%d", s->id);
    memset(payload, 'p', sizeof(payload));
    for (int i = 0; i < s->batches; i++) {
        store_batch_t *b = store_batch_new();
        CU_ASSERT_EQUAL(store_batch_put_spool(b, (uint64_t)s->id << 32 | (uint64_t)(i + 1), payload,
                                              sizeof(payload)),
                        STORE_OK);
        store_sub_t sub = {ts_str(client), ts_str("t"), 1, (uint32_t)i};
        CU_ASSERT_EQUAL(store_batch_put_sub(b, &sub), STORE_OK);
        while (store_submit(s->st, b, count_done, s) == STORE_ERR_BUSY)
            sleep_ms(1); /* push back */
    }
    return NULL;
}

static int count_blobs(void *arg, const store_blob_t *b)
{
    (void)b;
    (*(int *)arg)++;
    return 0;
}

static void run_submitters(store_sync_t mode, int threads, int per_thread)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, mode);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    atomic_int ok = 0, bad = 0;
    pthread_t th[16];
    struct submitter sub[16];
    for (int i = 0; i < threads; i++) {
        sub[i] = (struct submitter){st, i, per_thread, &ok, &bad};
        pthread_create(&th[i], NULL, submit_loop, &sub[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    while (atomic_load(&ok) + atomic_load(&bad) < threads * per_thread)
        sleep_ms(1);
    CU_ASSERT_EQUAL(atomic_load(&ok), threads * per_thread);
    CU_ASSERT_EQUAL(atomic_load(&bad), 0);
    store_stats_t s;
    store_get_stats(st, &s);
    CU_ASSERT_EQUAL(s.batches, (uint64_t)(threads * per_thread));
    CU_ASSERT(s.commits <= s.batches);
    if (mode == STORE_SYNC_ALWAYS) CU_ASSERT(s.syncs >= s.commits);
    printf("\n    [%s] %d batches in %llu writes (%.1f batches/write), %llu syncs ",
           mode == STORE_SYNC_ALWAYS ? "always" : "batch", threads * per_thread,
           (unsigned long long)s.commits, (double)s.batches / (double)(s.commits ? s.commits : 1),
           (unsigned long long)s.syncs);
    store_close(st);
    st = ts_open(dir, mode);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int n = 0;
    CU_ASSERT_EQUAL(store_scan_spool(st, 0, 0, count_blobs, &n), STORE_OK);
    CU_ASSERT_EQUAL(n, threads * per_thread);
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

static void test_group_commit_many_threads_sync_always(void)
{
    run_submitters(STORE_SYNC_ALWAYS, 8, 500);
}

static void test_group_commit_many_threads_sync_batch(void)
{
    run_submitters(STORE_SYNC_BATCH, 8, 2000);
}

static void test_sync_batch_flushes_within_flush_ms(void)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_BATCH); /* flush_ms = 20 */
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    store_stats_t before, after;
    store_get_stats(st, &before);
    store_batch_t *b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_put_spool(b, 1, "x", 1), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    sleep_ms(150);
    store_get_stats(st, &after);
    CU_ASSERT(after.syncs > before.syncs); /* the timer synced it */
    sleep_ms(100);
    store_stats_t idle;
    store_get_stats(st, &idle);
    CU_ASSERT_EQUAL(idle.syncs, after.syncs); /* nothing new: no syncs */
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

/* ---- reads from other threads while the store thread writes ---- */

struct reader {
    store_t *st;
    atomic_bool *stop;
    int reads, bad;
};

static int check_qref(void *arg, const store_qref_t *q)
{
    struct reader *r = arg;
    store_msg_t m;
    void *mem;
    /* A queued reference is committed together with its body. */
    if (store_get_msg(r->st, q->msg_id, &m, &mem) == STORE_OK) {
        if (m.id != q->msg_id) r->bad++;
        store_free(mem);
    } else {
        r->bad++;
    }
    r->reads++;
    return 0;
}

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(r->stop))
        if (store_queue_scan(r->st, "reader", 6, (uint64_t)(r->reads * 7 % 2000), 50, check_qref,
                             r) < 0)
            r->bad++;
    return NULL;
}

static void test_reads_from_other_threads_during_writes(void)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_BATCH);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    atomic_bool stop = false;
    struct reader rd[2] = {{st, &stop, 0, 0}, {st, &stop, 0, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, read_loop, &rd[i]);
    for (uint64_t i = 1; i <= 2000; i++) {
        store_batch_t *b = store_batch_new();
        store_msg_t m = {i, ts_str("t"), ts_str("payload"), ts_str(""), 1, false, 0};
        store_qref_t q = {ts_str("reader"), i, i, 1};
        CU_ASSERT_EQUAL(store_batch_put_msg(b, &m), STORE_OK);
        CU_ASSERT_EQUAL(store_batch_put_queue(b, &q), STORE_OK);
        while (store_submit(st, b, NULL, NULL) == STORE_ERR_BUSY)
            sleep_ms(1);
    }
    CU_ASSERT_EQUAL(ts_commit(st, store_batch_new()), STORE_OK); /* all written */
    sleep_ms(50);
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(rd[i].bad, 0);
        CU_ASSERT(rd[i].reads > 0);
    }
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

/* ---- back-pressure ---- */

static void count_cb(void *arg, int err)
{
    if (err == STORE_OK) atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_full_queue_returns_busy_and_close_drains(void)
{
    char *dir = ts_mkdtemp();
    store_opts_t o;
    store_opts_default(&o);
    o.queue_max = 4;
    store_t *st = NULL;
    CU_ASSERT_EQUAL_FATAL(store_open(dir, &o, &st, NULL, 0), STORE_OK);
    /* Hold the store thread inside a done callback. */
    ts_gate_t g = TS_GATE_INIT;
    ts_gate_hold(st, &g);
    store_batch_t *b;
    atomic_int ok = 0;
    for (uint64_t i = 0; i < 4; i++) {
        b = store_batch_new();
        CU_ASSERT_EQUAL(store_batch_put_spool(b, 10 + i, "q", 1), STORE_OK);
        CU_ASSERT_EQUAL(store_submit(st, b, count_cb, &ok), STORE_OK);
    }
    b = store_batch_new();
    CU_ASSERT_EQUAL(store_batch_put_spool(b, 99, "z", 1), STORE_OK);
    CU_ASSERT_EQUAL(store_submit(st, b, count_cb, &ok), STORE_ERR_BUSY);
    store_batch_free(b); /* still ours */
    ts_gate_open(&g);
    store_close(st); /* commits the four queued batches first */
    CU_ASSERT_EQUAL(atomic_load(&ok), 4);
    st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int n = 0;
    store_scan_spool(st, 0, 0, count_blobs, &n);
    CU_ASSERT_EQUAL(n, 5);
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

/* ---- open, lock, corruption, repair ---- */

static void test_second_open_of_same_dir_is_locked(void)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_ALWAYS), *st2 = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    char err[512];
    CU_ASSERT_EQUAL(store_open(dir, NULL, &st2, err, sizeof(err)), STORE_ERR_LOCKED);
    CU_ASSERT_PTR_NULL(st2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, dir));
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

static void fill(const char *dir, int n)
{
    store_t *st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    store_batch_t *b = store_batch_new();
    for (int i = 0; i < n; i++) {
        char c[32];
        snprintf(c, sizeof(c), "c%d", i);
        store_session_t s = {.client_id = ts_str(c), .version = MQTT_V5};
        CU_ASSERT_EQUAL(store_batch_put_session(b, &s), STORE_OK);
    }
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    store_close(st);
}

static void overwrite(const char *path)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    for (int i = 0; i < 512; i++)
        fputs("garbage!", f);
    fclose(f);
}

static void expect_corrupt_then_repair(const char *dir)
{
    store_t *st = NULL;
    char err[1024] = "";
    CU_ASSERT_EQUAL(store_open(dir, NULL, &st, err, sizeof(err)), STORE_ERR_CORRUPT);
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, dir));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "sluice --repair"));
    CU_ASSERT_EQUAL(store_repair(dir, err, sizeof(err)), STORE_OK);
    CU_ASSERT_EQUAL(store_open(dir, NULL, &st, err, sizeof(err)), STORE_OK);
    store_close(st);
}

static void test_garbage_current_file_is_corrupt_and_repair_opens(void)
{
    char *dir = ts_mkdtemp();
    fill(dir, 50);
    char path[512];
    snprintf(path, sizeof(path), "%s/CURRENT", dir);
    overwrite(path);
    expect_corrupt_then_repair(dir);
    ts_rmtree(dir);
    free(dir);
}

static void test_garbage_table_file_is_corrupt_and_repair_opens(void)
{
    char *dir = ts_mkdtemp();
    fill(dir, 50);
    fill(dir, 1); /* reopening flushes the first log into a table */
    char pat[512];
    snprintf(pat, sizeof(pat), "%s/*.ldb", dir);
    glob_t gl;
    CU_ASSERT_EQUAL_FATAL(glob(pat, 0, NULL, &gl), 0);
    for (size_t i = 0; i < gl.gl_pathc; i++)
        overwrite(gl.gl_pathv[i]);
    globfree(&gl);
    expect_corrupt_then_repair(dir);
    ts_rmtree(dir);
    free(dir);
}

static void test_open_of_unwritable_path_fails_with_message(void)
{
    store_t *st = NULL;
    char err[512] = "";
    int rc = store_open("/proc/sluice-no-such/db", NULL, &st, err, sizeof(err));
    CU_ASSERT(rc != STORE_OK);
    CU_ASSERT_PTR_NULL(st);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/proc/sluice-no-such/db"));
}

/* ---- recovery of everything after close ---- */

static int count_any(void *arg, const void *rec)
{
    (void)rec;
    (*(int *)arg)++;
    return 0;
}

static void test_reopen_recovers_every_kind(void)
{
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_BATCH);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    for (int i = 0; i < 200; i++) {
        char c[32];
        snprintf(c, sizeof(c), "cl-%03d", i);
        store_batch_t *b = store_batch_new();
        store_session_t s = {.client_id = ts_str(c), .version = MQTT_V5, .expiry_interval = 60};
        store_sub_t sub = {ts_str(c), ts_str("a/+"), 1, 0};
        store_retained_t r = {ts_str(c), ts_str("v"), ts_str(""), ts_str(c), 1, 0};
        store_msg_t m = {(uint64_t)i + 1, ts_str("t"), ts_str("body"), ts_str(""), 1, 0, 0};
        store_qref_t q = {ts_str(c), 1, (uint64_t)i + 1, 1};
        store_inflight_t o = {ts_str(c), 1, (uint64_t)i + 1, 2, STORE_OUT_PUBLISH_SENT, 0};
        CU_ASSERT_EQUAL(store_batch_put_session(b, &s), STORE_OK);
        CU_ASSERT_EQUAL(store_batch_put_sub(b, &sub), STORE_OK);
        CU_ASSERT_EQUAL(store_batch_put_retained(b, &r), STORE_OK);
        CU_ASSERT_EQUAL(store_batch_put_msg(b, &m), STORE_OK);
        CU_ASSERT_EQUAL(store_batch_put_queue(b, &q), STORE_OK);
        CU_ASSERT_EQUAL(store_batch_put_inflight(b, &o), STORE_OK);
        CU_ASSERT_EQUAL(store_batch_put_inbound(b, c, strlen(c), 7), STORE_OK);
        CU_ASSERT_EQUAL(store_batch_put_spool(b, (uint64_t)i + 1, "k", 1), STORE_OK);
        CU_ASSERT_EQUAL(store_batch_put_dead(b, (uint64_t)i + 1, "d", 1), STORE_OK);
        CU_ASSERT_EQUAL(store_submit(st, b, NULL, NULL), STORE_OK);
    }
    store_close(st); /* drains and syncs */
    st = ts_open(dir, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    int n[8] = {0};
    store_scan_sessions(st, (store_session_cb)count_any, &n[0]);
    store_scan_subs(st, (store_sub_cb)count_any, &n[1]);
    store_scan_retained(st, (store_retained_cb)count_any, &n[2]);
    store_scan_inflight(st, (store_inflight_cb)count_any, &n[3]);
    store_scan_inbound_qos2(st, (store_inbound_cb)count_any, &n[4]);
    store_scan_spool(st, 0, 0, (store_blob_cb)count_any, &n[5]);
    store_scan_dead(st, 0, 0, (store_blob_cb)count_any, &n[6]);
    for (int i = 0; i < 7; i++)
        CU_ASSERT_EQUAL(n[i], 200);
    store_stats_t s;
    store_get_stats(st, &s);
    CU_ASSERT_EQUAL(s.live_messages, 200);
    uint64_t last = 0;
    store_last_msg_id(st, &last);
    CU_ASSERT_EQUAL(last, 200);
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

static void test_compaction_runs_after_many_deletes(void)
{
    char *dir = ts_mkdtemp();
    store_opts_t o;
    store_opts_default(&o);
    o.compact_after_deletes = 100;
    store_t *st = NULL;
    CU_ASSERT_EQUAL_FATAL(store_open(dir, &o, &st, NULL, 0), STORE_OK);
    store_batch_t *b = store_batch_new();
    for (uint64_t i = 1; i <= 300; i++)
        CU_ASSERT_EQUAL(store_batch_put_spool(b, i, "xxxxxxxx", 8), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    b = store_batch_new();
    for (uint64_t i = 1; i <= 300; i++)
        CU_ASSERT_EQUAL(store_batch_del_spool(b, i), STORE_OK);
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    b = store_batch_new(); /* compaction runs after the group that crossed */
    CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
    store_stats_t s;
    store_get_stats(st, &s);
    CU_ASSERT(s.compactions >= 1);
    int n = 0;
    store_scan_spool(st, 0, 0, count_blobs, &n);
    CU_ASSERT_EQUAL(n, 0);
    store_close(st);
    ts_rmtree(dir);
    free(dir);
}

/* ---- full disk ---- */

static void test_full_disk_degrades_then_recovers(void)
{
    char *dir = ts_mkdtemp();
    if (mount("tmpfs", dir, "tmpfs", 0, "size=2m") != 0) {
        printf("\n    SKIPPED: cannot mount a 2 MB tmpfs (needs root): full-disk case untested ");
        ts_rmtree(dir);
        free(dir);
        return;
    }
    /* Ballast to delete later, giving the space back. */
    char ballast[512], db[512];
    snprintf(ballast, sizeof(ballast), "%s/ballast", dir);
    snprintf(db, sizeof(db), "%s/db", dir);
    int fd = open(ballast, O_CREAT | O_WRONLY, 0600);
    static char chunk[64 * 1024];
    memset(chunk, 'b', sizeof(chunk));
    for (int i = 0; i < 8; i++)
        CU_ASSERT(write(fd, chunk, sizeof(chunk)) == (ssize_t)sizeof(chunk));
    close(fd);

    store_t *st = ts_open(db, STORE_SYNC_ALWAYS);
    CU_ASSERT_PTR_NOT_NULL(st);
    int rc = STORE_OK, i;
    for (i = 0; st && i < 400 && rc == STORE_OK; i++) {
        store_batch_t *b = store_batch_new();
        CU_ASSERT_EQUAL(store_batch_put_spool(b, (uint64_t)i + 1, chunk, 16 * 1024), STORE_OK);
        rc = ts_commit(st, b);
    }
    CU_ASSERT_EQUAL(rc, STORE_ERR_NOSPACE);
    if (st) {
        CU_ASSERT(store_is_degraded(st));
        unlink(ballast);
        sleep_ms(600); /* past the reopen throttle */
        store_batch_t *b = store_batch_new();
        CU_ASSERT_EQUAL(store_batch_put_spool(b, 100000, "ok", 2), STORE_OK);
        CU_ASSERT_EQUAL(ts_commit(st, b), STORE_OK);
        CU_ASSERT(!store_is_degraded(st));
        int n = 0;
        CU_ASSERT_EQUAL(store_scan_spool(st, 99999, 0, count_blobs, &n), STORE_OK);
        CU_ASSERT_EQUAL(n, 1);
        store_close(st);
    }
    umount2(dir, MNT_DETACH);
    ts_rmtree(dir);
    free(dir);
}

/* ---- the committed sequence ---- */

struct seq_probe {
    store_t *st;
    uint64_t number;    /* the batch's number: submitted right after its submit */
    uint64_t committed; /* seen in its done callback */
};

static void seq_done(void *arg, int err)
{
    struct seq_probe *p = arg;
    store_stats_t s;
    (void)err;
    store_get_stats(p->st, &s);
    p->committed = s.committed;
}

static void test_committed_sequence_passes_each_batch_before_its_callback(void)
{
    enum { N = 200 };
    char *dir = ts_mkdtemp();
    store_t *st = ts_open(dir, STORE_SYNC_BATCH);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    static struct seq_probe p[N];
    store_stats_t s;
    for (int i = 0; i < N; i++) {
        store_batch_t *b = store_batch_new();
        CU_ASSERT_EQUAL(store_batch_put_spool(b, (uint64_t)i + 1, "x", 1), STORE_OK);
        p[i] = (struct seq_probe){.st = st};
        CU_ASSERT_EQUAL_FATAL(store_submit(st, b, seq_done, &p[i]), STORE_OK);
        store_get_stats(st, &s); /* one submitter: nobody else took a number */
        p[i].number = s.submitted;
        CU_ASSERT(s.committed <= s.submitted);
    }
    CU_ASSERT_EQUAL(p[N - 1].number, N);
    store_close(st); /* commits everything queued */
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += p[i].number == (uint64_t)i + 1 && p[i].committed >= p[i].number;
    CU_ASSERT_EQUAL(ok, N);
    ts_rmtree(dir);
    free(dir);
}

void ts_register_commit_suite(void)
{
    CU_pSuite s = CU_add_suite("store_commit", NULL, NULL);
    CU_add_test(s, "group_commit_many_threads_sync_always",
                test_group_commit_many_threads_sync_always);
    CU_add_test(s, "group_commit_many_threads_sync_batch",
                test_group_commit_many_threads_sync_batch);
    CU_add_test(s, "sync_batch_flushes_within_flush_ms", test_sync_batch_flushes_within_flush_ms);
    CU_add_test(s, "reads_from_other_threads_during_writes",
                test_reads_from_other_threads_during_writes);
    CU_add_test(s, "full_queue_returns_busy_and_close_drains",
                test_full_queue_returns_busy_and_close_drains);
    CU_add_test(s, "second_open_of_same_dir_is_locked", test_second_open_of_same_dir_is_locked);
    CU_add_test(s, "garbage_current_file_is_corrupt_and_repair_opens",
                test_garbage_current_file_is_corrupt_and_repair_opens);
    CU_add_test(s, "garbage_table_file_is_corrupt_and_repair_opens",
                test_garbage_table_file_is_corrupt_and_repair_opens);
    CU_add_test(s, "open_of_unwritable_path_fails_with_message",
                test_open_of_unwritable_path_fails_with_message);
    CU_add_test(s, "reopen_recovers_every_kind", test_reopen_recovers_every_kind);
    CU_add_test(s, "compaction_runs_after_many_deletes", test_compaction_runs_after_many_deletes);
    CU_add_test(s, "full_disk_degrades_then_recovers", test_full_disk_degrades_then_recovers);
    CU_add_test(s, "committed_sequence_passes_each_batch_before_its_callback",
                test_committed_sequence_passes_each_batch_before_its_callback);
}
