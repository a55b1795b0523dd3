# HTTP hook, JWT and certificate identity black-box suites (issue 13 items
# 3-5).  Included from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is
# tests/.
foreach(name IN ITEMS auth_http auth_jwt auth_cert auth_kafka auth_reload)
  add_test(NAME itj_${name}
           COMMAND /usr/bin/python3 -m unittest -v test_${name}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(itj_${name} PROPERTIES TIMEOUT 180 LABELS "integration;auth"
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET sluice)
    set_property(TEST itj_${name} APPEND PROPERTY
                 ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
  endif()
endforeach()
