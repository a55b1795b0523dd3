"""The store's committed sequence (docs/ARCHITECTURE.md, "Persistence"):
sluice_store_submitted_total / sluice_store_committed_total on /metrics
and $SYS/broker/store/{submitted,committed}, the sync point the other
persistence tests wait on instead of sleeping."""

import os
import time
import unittest

import rawmqtt
from persist_util import PersistCase


class CommittedSequence(PersistCase, unittest.TestCase):

    def test_subscribe_is_submitted_before_suback_and_then_committed(self):
        b = self.broker(sync="always")
        b.start()
        sub0, com0 = b.store_seq()
        self.assertLessEqual(com0, sub0)
        cid = "seq-%d" % os.getpid()
        topic = "seq/%d" % os.getpid()
        s = b.client(cid, clean=False)
        self.assertEqual(s.subscribe([(topic, 1)]), [1])
        sub1, _ = b.store_seq()
        self.assertGreater(sub1, sub0, "SUBACK came before its write was "
                           "submitted")
        self.assertGreaterEqual(b.settle(), sub1)
        b.disconnect_settled(s)
        # what the counter said is committed survives a kill -9
        b.kill9()
        b.start()
        s = self.track(b.client(cid, clean=False, present=1))
        p = self.track(b.client("seq-pub-%d" % os.getpid()))
        p.publish(topic, b"after", qos=1)
        self.assertEqual(s.recv_publish().payload, b"after")

    def test_sys_tree_carries_the_sequence(self):
        b = self.broker(sync="batch", mqtt={"sys_interval": 1})
        b.start()
        c = self.track(b.client("seq-sys-%d" % os.getpid()))
        c.subscribe([("$SYS/broker/store/+", 0)])
        got = {}
        deadline = time.monotonic() + 10  # two $SYS periods and margin
        while len(got) < 2 and time.monotonic() < deadline:
            try:
                m = c.recv_publish(max(0.1, deadline - time.monotonic()))
            except rawmqtt.Timeout:
                break
            got[m.topic] = int(m.payload)
        self.assertEqual(sorted(got), ["$SYS/broker/store/committed",
                                       "$SYS/broker/store/submitted"])
        self.assertLessEqual(got["$SYS/broker/store/committed"],
                             got["$SYS/broker/store/submitted"])

    def test_no_store_no_counters(self):
        b = self.broker(sync="none")
        b.start()
        m = b.metrics()
        self.assertIn("sluice_clients_connected", m)
        self.assertNotIn("sluice_store_committed_total", m)


if __name__ == "__main__":
    unittest.main()
