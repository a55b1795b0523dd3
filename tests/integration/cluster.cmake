# Cluster through Kafka black-box tests (test_cluster.py, helpers in
# cluster_util.py), included from tests/CMakeLists.txt.  One
# sluice-kafka-mock with the cluster's internal topics and three sluice
# nodes on free loopback ports with their own data dirs: safe under
# ctest -j.  Run by hand:
#   cd tests/integration && SLUICE_BIN=../../build/sluice \
#     SLUICE_KAFKA_MOCK=../../build/sluice-kafka-mock \
#     /usr/bin/python3 -m unittest -v test_cluster
if(TARGET sluice AND TARGET sluice-kafka-mock)
  add_test(NAME itcl_cluster
           COMMAND /usr/bin/python3 -m unittest -v test_cluster
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
  set_tests_properties(itcl_cluster PROPERTIES TIMEOUT 300
    LABELS "integration;kafka;cluster"
    ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_KAFKA_MOCK=$<TARGET_FILE:sluice-kafka-mock>;PYTHONDONTWRITEBYTECODE=1")
endif()
