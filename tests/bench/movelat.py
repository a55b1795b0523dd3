"""How long a persistent session takes to move between two cluster nodes
(CONNECT with clean start 0 on the other node -> CONNACK, session present)
and, for comparison, to reconnect to the node that holds it (the read
barrier on <prefix>.sessions only). Two nodes and a Kafka mock from
tests/integration/cluster_util.py; 30 of each; median and p90.
  SLUICE_BIN=$PWD/build/sluice SLUICE_KAFKA_MOCK=$PWD/build/sluice-kafka-mock \
    /usr/bin/python3 tests/bench/movelat.py"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import cluster_util as cu  # noqa: E402
import raw5  # noqa: E402

KEEP = [(raw5.SESSION_EXPIRY, 300)]
cl = cu.Cluster(2)
try:
    for n in cl.nodes:
        cl.wait_nodes(n, 2, 20)
    n1, n2 = cl[1], cl[2]
    c = raw5.Client5(n1.port); c.connect("lat", clean=True, props=KEEP); c.subscribe([("lat/#", 1)]); c.disconnect()
    moves, stays = [], []
    here = n1
    for i in range(30):
        other = n2 if here is n1 else n1
        t0 = time.monotonic()
        c = raw5.Client5(other.port, timeout=10)
        ack = c.connect("lat", clean=False, props=KEEP)
        moves.append((time.monotonic() - t0) * 1000)
        assert ack.session_present, i
        c.disconnect()
        here = other
        t0 = time.monotonic()
        c = raw5.Client5(here.port, timeout=10)
        ack = c.connect("lat", clean=False, props=KEEP)
        stays.append((time.monotonic() - t0) * 1000)
        assert ack.session_present
        c.disconnect()
    q = lambda v: (statistics.median(v), sorted(v)[int(len(v) * 0.9)])
    print("move to the other node: median %.1f ms, p90 %.1f ms" % q(moves))
    print("reconnect to the same node: median %.1f ms, p90 %.1f ms" % q(stays))
finally:
    cl.close()
