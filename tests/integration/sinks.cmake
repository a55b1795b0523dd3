# Router sinks (issue 12 item 1): wills and injected records through the
# Kafka sink. Included from tests/CMakeLists.txt (every integration/*.cmake
# is); same shape as kafka.cmake: each file starts its own
# sluice-kafka-mock and brokers on free loopback ports.
set(SLUICE_SINKS_IT_FILES kafka_will)
if(TARGET sluice AND TARGET sluice-kafka-mock)
  foreach(name IN LISTS SLUICE_SINKS_IT_FILES)
    add_test(NAME itks_${name}
             COMMAND /usr/bin/python3 -m unittest -v test_${name}
             WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
    set_tests_properties(itks_${name} PROPERTIES TIMEOUT 300
      LABELS "integration;kafka"
      ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_KAFKA_MOCK=$<TARGET_FILE:sluice-kafka-mock>;PYTHONDONTWRITEBYTECODE=1")
  endforeach()
endif()
