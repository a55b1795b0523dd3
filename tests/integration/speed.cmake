# Issue 17 (speed): outbound topic aliases, black-box with raw MQTT 5
# clients. Included from tests/CMakeLists.txt (CMAKE_CURRENT_SOURCE_DIR is
# tests/); the shape of mqtt5.cmake, prefix its_.
set(SLUICE_ITS_FILES alias_out)
foreach(name IN LISTS SLUICE_ITS_FILES)
  add_test(NAME its_${name}
           COMMAND /usr/bin/python3 -m unittest -v test_${name}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(its_${name} PROPERTIES TIMEOUT 120 LABELS "integration;mqtt5"
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET sluice)
    set_property(TEST its_${name} APPEND PROPERTY
                 ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
  endif()
endforeach()
