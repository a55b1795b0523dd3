# The demo (issue 16): static files for the console, the device simulator
# and the analytics consumer, and the console in a real browser.  Included
# from tests/CMakeLists.txt, so CMAKE_CURRENT_SOURCE_DIR is tests/.
set(SLUICE_ITD_FILES static tools browser)
foreach(name IN LISTS SLUICE_ITD_FILES)
  add_test(NAME itd_${name}
           COMMAND /usr/bin/python3 -m unittest -v test_demo_${name}
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(itd_${name} PROPERTIES TIMEOUT 120 LABELS "integration;demo"
                       ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
  if(TARGET sluice)
    set_property(TEST itd_${name} APPEND PROPERTY
                 ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
  endif()
endforeach()
# The browser test needs chromium and tests/browser/node_modules (make test
# installs both: TEST_PKGS and the browser-deps step); missing, it fails.
set_property(TEST itd_browser APPEND PROPERTY
             ENVIRONMENT "SLUICE_SCREENSHOT_DIR=${CMAKE_BINARY_DIR}/screenshots")
