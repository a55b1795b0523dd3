"""sync "batch" and "none" (issue 5): in batch mode a clean stop (SIGTERM)
loses nothing - sessions, subscriptions, queued messages, retained messages
and inbound QoS 2 state are all there after the restart - and state older
than flush_ms survives kill -9.  "none" keeps nothing across a restart."""

import os
import unittest

import rawmqtt
from persist_util import PersistCase, PipelinedPublisher, Receiver


class BatchMode(PersistCase, unittest.TestCase):

    def build_state(self, b, tag, n=500):
        self.topic = "batch/%s/%d" % (tag, os.getpid())
        self.sub_id = "batch-sub-%s-%d" % (tag, os.getpid())
        self.pub_id = "batch-pub-%s-%d" % (tag, os.getpid())
        s = b.client(self.sub_id, clean=False)
        self.assertEqual(s.subscribe([(self.topic, 1), (self.topic + "/r", 1)]),
                         [1, 1])
        b.disconnect(s)
        p = self.track(b.client(self.pub_id, clean=False))
        self.payloads = [b"batch-%05d" % i for i in range(n)]
        pp = PipelinedPublisher(p, self.topic, self.payloads, qos=1).run()
        self.assertEqual(len(pp.acked), n)
        p.publish(self.topic + "/ret", b"kept", qos=1, retain=True, pid=900)
        # an inbound QoS 2 id awaiting PUBREL in the publisher's session
        p.send(rawmqtt.publish(self.topic + "/r", b"q2", qos=2, pid=901))
        p.wait_for(rawmqtt.PUBREC, pid=901)
        b.disconnect(p)  # its session's close record is submitted by now

    def check_state(self, b):
        p = self.track(b.client(self.pub_id, clean=False, present=1))
        p.send(rawmqtt.pubrel(901))
        p.wait_for(rawmqtt.PUBCOMP, pid=901)
        s = self.track(b.client(self.sub_id, clean=False, present=1))
        want = set(self.payloads) | {b"q2"}
        rv = Receiver(s).until_sentinel(b.sentinel(self.topic), timeout=30)
        got = rv.payloads()
        self.assertEqual(sorted(set(got)), sorted(want),
                         "missing: %r" % sorted(want - set(got))[:5])
        self.assertEqual(got.count(b"q2"), 1)
        r = self.track(b.client("batch-probe-%d" % os.getpid()))
        r.subscribe([(self.topic + "/ret", 1)])
        m = r.recv_publish()
        self.assertEqual((m.payload, m.retain), (b"kept", True))

    def test_sigterm_keeps_everything(self):
        b = self.broker(sync="batch", flush_ms=100)
        b.start()
        self.build_state(b, "term")
        # stop right away, inside the flush window
        rc = b.stop()
        self.assertEqual(rc, 0, "exit code on SIGTERM:\n%s" % b.log_tail())
        b.start()
        self.check_state(b)

    def test_kill9_after_flush_window_keeps_everything(self):
        b = self.broker(sync="batch", flush_ms=100)
        b.start()
        self.build_state(b, "kill")
        # every write is in LevelDB (committed), which is what a kill -9
        # cannot take back; the flush window adds the fsync, for power loss
        b.settle()
        b.kill9()
        b.start()
        self.check_state(b)

    def test_none_keeps_nothing(self):
        b = self.broker(sync="none")
        b.start()
        cid = "none-%d" % os.getpid()
        s = b.client(cid, clean=False)
        s.subscribe([("none/%d" % os.getpid(), 1)])
        b.disconnect(s)
        self.assertEqual(b.stop(), 0)
        b.start()
        self.track(b.client(cid, clean=False, present=0))


if __name__ == "__main__":
    unittest.main()
