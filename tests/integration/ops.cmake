# Operations black-box tests (issue 11: signals, offline tools, health),
# included from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is
# tests/.  Each file starts its own brokers on free loopback ports.
set(SLUICE_ITO_FILES
  signals readyz makedeps)
foreach(name IN LISTS SLUICE_ITO_FILES)
  add_test(NAME ito_${name}
           COMMAND /usr/bin/python3 -m unittest -v test_ops_${name}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(ito_${name} PROPERTIES TIMEOUT 120 LABELS "integration;ops"
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET sluice)
    set_property(TEST ito_${name} APPEND PROPERTY
                 ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
  endif()
endforeach()
