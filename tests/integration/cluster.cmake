# Cluster through Kafka black-box tests (test_cluster.py, helpers in
# cluster_util.py), included from tests/CMakeLists.txt.  One
# sluice-kafka-mock with the cluster's internal topics and three sluice
# nodes on free loopback ports with their own data dirs: safe under
# ctest -j.  Run by hand:
#   cd tests/integration && SLUICE_BIN=../../build/sluice \
#     SLUICE_KAFKA_MOCK=../../build/sluice-kafka-mock \
#     /usr/bin/python3 -m unittest -v test_cluster
# itcl_cluster: test_cluster.py; itcl_nodes: test_cluster_nodes.py
# (takeover, wills, shared groups, restart, bad records, examples/cluster.sh);
# itcl_move: test_cluster_move.py (sessions that move between nodes);
# itcl_revive: test_cluster_revive.py (sessions of a killed node revived
# elsewhere from their checkpoints; checkpoint_ms 0 keeps the old way).
if(TARGET sluice AND TARGET sluice-kafka-mock)
  foreach(pair IN ITEMS "cluster:test_cluster" "nodes:test_cluster_nodes" "move:test_cluster_move"
                 "revive:test_cluster_revive")
    string(REPLACE ":" ";" parts "${pair}")
    list(GET parts 0 name)
    list(GET parts 1 module)
    add_test(NAME itcl_${name}
             COMMAND /usr/bin/python3 -m unittest -v ${module}
             WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/integration)
    set_tests_properties(itcl_${name} PROPERTIES TIMEOUT 300
      LABELS "integration;kafka;cluster"
      ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_KAFKA_MOCK=$<TARGET_FILE:sluice-kafka-mock>;PYTHONDONTWRITEBYTECODE=1")
  endforeach()
endif()
