/*
 * test_broker_pool.c - the per-worker block pools (pool.c). Sanitizer
 * builds define BRK_POOL_OFF and allocate with malloc; there only the
 * "any thread may free" half of the contract is checked.
 */
#include <pthread.h>
#include <string.h>

#include "test_broker.h"

static void *free_on_thread(void *arg)
{
    void **blocks = arg;
    for (int i = 0; blocks[i]; i++)
        brk_pool_free(blocks[i]);
    return NULL;
}

static void free_elsewhere(void **blocks)
{
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, free_on_thread, blocks), 0);
    pthread_join(t, NULL);
}

static void test_block_freed_on_another_thread_returns_to_its_owner(void)
{
    brk_pool_t pool;
    memset(&pool, 0, sizeof(pool));
    brk_pool_bind(&pool);
    void *blocks[4] = {0};
    for (int i = 0; i < 3; i++) {
        blocks[i] = brk_pool_alloc(100);
        CU_ASSERT_PTR_NOT_NULL_FATAL(blocks[i]);
        memset(blocks[i], 0xab, 100);
    }
    free_elsewhere(blocks);
#ifndef BRK_POOL_OFF
    /* the owner's own list is empty: its next allocations take the blocks
     * the other thread gave back, not new memory */
    int reused = 0;
    void *again[3];
    for (int i = 0; i < 3; i++) {
        again[i] = brk_pool_alloc(100);
        for (int k = 0; k < 3; k++)
            reused += again[i] == blocks[k];
    }
    CU_ASSERT_EQUAL(reused, 3);
    for (int i = 0; i < 3; i++)
        brk_pool_free(again[i]);
#endif
    brk_pool_bind(NULL);
    brk_pool_destroy(&pool);
}

static void test_block_freed_by_its_owner_is_reused_first(void)
{
    brk_pool_t pool;
    memset(&pool, 0, sizeof(pool));
    brk_pool_bind(&pool);
    void *a = brk_pool_alloc(300);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    brk_pool_free(a);
    void *b = brk_pool_alloc(300);
#ifndef BRK_POOL_OFF
    CU_ASSERT_PTR_EQUAL(a, b);
#endif
    void *other = brk_pool_alloc(1500); /* another size class */
    CU_ASSERT_PTR_NOT_NULL(other);
    CU_ASSERT_PTR_NOT_EQUAL(other, b);
    brk_pool_free(b);
    brk_pool_free(other);
    brk_pool_bind(NULL);
    brk_pool_destroy(&pool);
}

static void test_large_blocks_and_poolless_threads_use_malloc(void)
{
    brk_pool_t pool;
    memset(&pool, 0, sizeof(pool));
    brk_pool_bind(&pool);
    void *big[2] = {brk_pool_alloc(64 * 1024), NULL};
    CU_ASSERT_PTR_NOT_NULL_FATAL(big[0]);
    memset(big[0], 1, 64 * 1024);
    free_elsewhere(big); /* goes to free(), not onto a list */
    brk_pool_bind(NULL);
    void *plain[2] = {brk_pool_alloc(100), NULL}; /* no pool bound */
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain[0]);
    free_elsewhere(plain);
    for (int c = 0; c < BRK_POOL_CLASSES; c++) {
        CU_ASSERT_PTR_NULL(pool.local[c]);
        CU_ASSERT_PTR_NULL(atomic_load(&pool.remote[c]));
    }
    brk_pool_destroy(&pool);
}

/* Messages are the pool's main customer: the last unref of a message made
 * on a worker may happen on any thread. */
static void *unref_on_thread(void *arg)
{
    brk_msg_t *m = arg;
    brk_msg_unref(&m);
    return NULL;
}

static void test_message_released_on_another_thread_goes_back_to_its_worker(void)
{
    brk_pool_t pool;
    memset(&pool, 0, sizeof(pool));
    brk_pool_bind(&pool);
    brk_msg_t *m = fx_msg("t", "payload", 1);
    void *addr = m;
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, unref_on_thread, m), 0);
    pthread_join(t, NULL);
#ifndef BRK_POOL_OFF
    brk_msg_t *n = fx_msg("t", "payload", 1);
    CU_ASSERT_PTR_EQUAL(n, addr);
    brk_msg_unref(&n);
#else
    (void)addr;
#endif
    brk_pool_bind(NULL);
    brk_pool_destroy(&pool);
}

void add_pool_tests(void)
{
    CU_pSuite s = CU_add_suite("broker_pool", NULL, NULL);
    CU_add_test(s, "block_freed_on_another_thread_returns_to_its_owner",
                test_block_freed_on_another_thread_returns_to_its_owner);
    CU_add_test(s, "block_freed_by_its_owner_is_reused_first",
                test_block_freed_by_its_owner_is_reused_first);
    CU_add_test(s, "large_blocks_and_poolless_threads_use_malloc",
                test_large_blocks_and_poolless_threads_use_malloc);
    CU_add_test(s, "message_released_on_another_thread_goes_back_to_its_worker",
                test_message_released_on_another_thread_goes_back_to_its_worker);
}
