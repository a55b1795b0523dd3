# Flow control of QoS 1/2 (mqtt.queue_full), included from tests/CMakeLists.txt.
set(SLUICE_ITF_FILES
  flow)
foreach(name IN LISTS SLUICE_ITF_FILES)
  add_test(NAME itf_${name}
           COMMAND /usr/bin/python3 -m unittest -v test_${name}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(itf_${name} PROPERTIES TIMEOUT 120 LABELS "integration;flow"
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET sluice)
    set_property(TEST itf_${name} APPEND PROPERTY
                 ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
  endif()
endforeach()
