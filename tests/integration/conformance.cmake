# MQTT behaviour the specification names, checked with raw packets (issue 11).
# Included from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/.
add_test(NAME itc_conformance
         COMMAND /usr/bin/python3 -m unittest -v test_conformance
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(itc_conformance PROPERTIES TIMEOUT 180 LABELS "integration;mqtt5"
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
if(TARGET sluice)
  set_property(TEST itc_conformance APPEND PROPERTY
               ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
endif()
