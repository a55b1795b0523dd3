# Admin black-box tests (issue 15: admin API, reload, shutdown, ctl),
# included from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is
# tests/.  Each file starts its own brokers on free loopback ports.
set(SLUICE_ITA2_FILES
  api reload shutdown kafka ctl install logs)
foreach(name IN LISTS SLUICE_ITA2_FILES)
  add_test(NAME ita2_${name}
           COMMAND /usr/bin/python3 -m unittest -v test_admin_${name}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(ita2_${name} PROPERTIES TIMEOUT 180 LABELS "integration;admin"
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET sluice)
    set_property(TEST ita2_${name} APPEND PROPERTY
                 ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
  endif()
endforeach()
