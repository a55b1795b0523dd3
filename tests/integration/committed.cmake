# The store's committed sequence (test_persist_committed.py): the counter the
# persistence tests wait on. Included with every tests/integration/*.cmake.
add_test(NAME itc_committed
         COMMAND /usr/bin/python3 -m unittest -v test_persist_committed
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(itc_committed PROPERTIES TIMEOUT 120
                     LABELS "integration;persist"
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
if(TARGET sluice)
  set_property(TEST itc_committed APPEND PROPERTY
               ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
endif()
