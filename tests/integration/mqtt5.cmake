# MQTT 5.0 black-box suites (issue 4).  Included from tests/CMakeLists.txt,
# so CMAKE_CURRENT_SOURCE_DIR is tests/.  One ctest test per file; only
# files that pass fully against sluice are listed (known gaps are marked
# @unittest.expectedFailure with a "sluice: ..." comment in the file).
set(SLUICE_IT5_FILES
  connect session flow publish subopts will shared props mixed)
foreach(name IN LISTS SLUICE_IT5_FILES)
  add_test(NAME it5_${name}
           COMMAND /usr/bin/python3 -m unittest -v test_mqtt5_${name}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(it5_${name} PROPERTIES TIMEOUT 120 LABELS "integration;mqtt5"
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET sluice)
    set_property(TEST it5_${name} APPEND PROPERTY
                 ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
  endif()
endforeach()
