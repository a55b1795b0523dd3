/*
 * test_broker_main.c - the CUnit runner of the broker's unit tests
 * (tests/unit/test_broker*.c link brokercore). Each test file exports one
 * registration function, declared here.
 */
#include <CUnit/Basic.h>

void tbc_register(void); /* test_broker_call.c */

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    tbc_register();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
