# Hardening (issue 11): defects found by outside testing and the limits a
# client cannot exceed.  Included from tests/CMakeLists.txt, so
# CMAKE_CURRENT_SOURCE_DIR is tests/.
set(SLUICE_ITH_FILES hardening)
foreach(name IN LISTS SLUICE_ITH_FILES)
  add_test(NAME ith_${name}
           COMMAND /usr/bin/python3 -m unittest -v test_${name}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(ith_${name} PROPERTIES TIMEOUT 300 LABELS "integration;hardening"
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET sluice)
    set_property(TEST ith_${name} APPEND PROPERTY
                 ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
  endif()
endforeach()
