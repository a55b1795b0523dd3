# Kafka bridge black-box tests of issue 11 (items 7 and 9: headers MQTT
# cannot carry, Kafka state logged and reflected in /readyz), included from
# tests/CMakeLists.txt. Same shape as kafka.cmake: each file starts its own
# sluice-kafka-mock and brokers on free loopback ports.
set(SLUICE_KAFKA_HEALTH_FILES
  headers health)
if(TARGET sluice AND TARGET sluice-kafka-mock)
  foreach(name IN LISTS SLUICE_KAFKA_HEALTH_FILES)
    add_test(NAME itkh_${name}
             COMMAND /usr/bin/python3 -m unittest -v test_kafka_${name}
             WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
    set_tests_properties(itkh_${name} PROPERTIES TIMEOUT 300
      LABELS "integration;kafka"
      ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_KAFKA_MOCK=$<TARGET_FILE:sluice-kafka-mock>;PYTHONDONTWRITEBYTECODE=1")
  endforeach()
endif()
