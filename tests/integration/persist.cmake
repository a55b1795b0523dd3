# Persistence crash/restart tests (issue 5), included from tests/CMakeLists.txt.
# Each file starts its own brokers on free loopback ports with their own
# data dirs (and, for the full-disk test, its own tmpfs), so they are safe
# under ctest -j.  Run one by hand:
#   cd tests/integration && SLUICE_BIN=../../build/sluice \
#     /usr/bin/python3 -m unittest -v test_persist_crash
#
# Only files that pass against the current broker are registered here.
set(SLUICE_PERSIST_IT_FILES
  crash retained subs inflight qos2 expiry batch corrupt soak fsync fulldisk online limits will
  backlog)
foreach(name IN LISTS SLUICE_PERSIST_IT_FILES)
  add_test(NAME itp_${name}
           COMMAND /usr/bin/python3 -m unittest -v test_persist_${name}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(itp_${name} PROPERTIES TIMEOUT 300
                       LABELS "integration;persist"
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET sluice)
    set_property(TEST itp_${name} APPEND PROPERTY
                 ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
  endif()
endforeach()
