/*
 * test_broker_main.c - runner of the broker core unit tests
 * (test_broker_*.c, one file per core module, each adding its suite).
 */
#include <CUnit/Basic.h>

void add_acl_tests(void);
void add_expiry_tests(void);

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    add_acl_tests();
    add_expiry_tests();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
