# Kafka bridge black-box tests (issue 6), included from tests/CMakeLists.txt.
# Each file starts its own sluice-kafka-mock (librdkafka mock cluster, a
# separate process so that sluice can be kill -9'd) and its own brokers on
# free loopback ports with their own data dirs, so they are safe under
# ctest -j.  Records are checked with kcat.  Run one by hand:
#   cd tests/integration && SLUICE_BIN=../../build/sluice \
#     SLUICE_KAFKA_MOCK=../../build/sluice-kafka-mock \
#     /usr/bin/python3 -m unittest -v test_kafka_rules
#
# Only files that pass against the current broker (or whose failures are
# marked expectedFailure with the sluice bug named) are registered here.
set(SLUICE_KAFKA_IT_FILES
  rules ack outage spool deadletter from loop dev)
if(TARGET sluice AND TARGET sluice-kafka-mock)
  foreach(name IN LISTS SLUICE_KAFKA_IT_FILES)
    add_test(NAME itk_${name}
             COMMAND /usr/bin/python3 -m unittest -v test_kafka_${name}
             WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
    set_tests_properties(itk_${name} PROPERTIES TIMEOUT 300
      LABELS "integration;kafka"
      ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_KAFKA_MOCK=$<TARGET_FILE:sluice-kafka-mock>;PYTHONDONTWRITEBYTECODE=1")
  endforeach()
endif()
