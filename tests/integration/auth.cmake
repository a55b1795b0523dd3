# Authentication and ACL black-box suite (issue 13).  Included from
# tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/.
add_test(NAME ita_auth
         COMMAND /usr/bin/python3 -m unittest -v test_auth
         WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
set_tests_properties(ita_auth PROPERTIES TIMEOUT 180 LABELS "integration;auth"
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
if(TARGET sluice)
  set_property(TEST ita_auth APPEND PROPERTY ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
endif()
