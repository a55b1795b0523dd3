/* test_broker_grow.c - doubling arrays and rings (broker/grow.c). */
#include <stdlib.h>

#include "grow.h"
#include "test_broker.h"

static void vec_grows_from_first_then_doubles_keeping_contents(void)
{
    uint16_t *v = NULL;
    uint32_t n = 0, cap = 0;
    for (uint16_t i = 0; i < 100; i++) {
        if (n == cap) {
            uint32_t was = cap;
            CU_ASSERT_EQUAL_FATAL(brk_grow_vec(&v, &cap, sizeof(*v), 8), 0);
            CU_ASSERT_EQUAL(cap, was ? was * 2 : 8);
        }
        v[n++] = i;
    }
    CU_ASSERT_EQUAL(cap, 128);
    for (uint16_t i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(v[i], i);
    free(v);
}

static void vec_capacity_overflow_fails_and_changes_nothing(void)
{
    uint16_t x = 7, *v = &x; /* not touched: the growth fails before realloc */
    uint32_t cap = 0x80000000u;
    CU_ASSERT_EQUAL(brk_grow_vec(&v, &cap, sizeof(*v), 8), -1);
    CU_ASSERT_PTR_EQUAL(v, &x);
    CU_ASSERT_EQUAL(cap, 0x80000000u);
}

/* A ring of 4 holding 4 elements from head 3 (wrapped) comes out in order
 * from 0 in a ring of 8; an empty one just gets its first block. */
static void ring_unwraps_into_doubled_block(void)
{
    uint32_t *r = NULL, cap = 0, head = 0;
    CU_ASSERT_EQUAL_FATAL(brk_grow_ring(&r, &cap, &head, 0, sizeof(*r), 4), 0);
    CU_ASSERT_EQUAL(cap, 4);
    for (uint32_t h = 0; h < 4; h++) {
        head = h;
        for (uint32_t i = 0; i < 4; i++)
            r[(head + i) % cap] = 10 + i;
        uint32_t c = cap;
        CU_ASSERT_EQUAL_FATAL(brk_grow_ring(&r, &c, &head, 4, sizeof(*r), 4), 0);
        CU_ASSERT(c == 8 && head == 0);
        for (uint32_t i = 0; i < 4; i++)
            CU_ASSERT_EQUAL(r[i], 10 + i);
        uint32_t *small = realloc(r, 4 * sizeof(*r)); /* back to 4 for the next head */
        CU_ASSERT_PTR_NOT_NULL_FATAL(small);
        r = small;
    }
    free(r);
}

static void ring_partly_full_keeps_only_its_elements(void)
{
    uint32_t *r = malloc(4 * sizeof(*r)), cap = 4, head = 2;
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    r[2] = 1;
    r[3] = 2;
    r[0] = 3;
    CU_ASSERT_EQUAL_FATAL(brk_grow_ring(&r, &cap, &head, 3, sizeof(*r), 4), 0);
    CU_ASSERT(r[0] == 1 && r[1] == 2 && r[2] == 3 && cap == 8 && head == 0);
    free(r);
}

void add_grow_tests(void)
{
    CU_pSuite s = CU_add_suite("broker_grow", NULL, NULL);
    CU_add_test(s, "vec_grows_from_first_then_doubles_keeping_contents",
                vec_grows_from_first_then_doubles_keeping_contents);
    CU_add_test(s, "vec_capacity_overflow_fails_and_changes_nothing",
                vec_capacity_overflow_fails_and_changes_nothing);
    CU_add_test(s, "ring_unwraps_into_doubled_block", ring_unwraps_into_doubled_block);
    CU_add_test(s, "ring_partly_full_keeps_only_its_elements",
                ring_partly_full_keeps_only_its_elements);
}
