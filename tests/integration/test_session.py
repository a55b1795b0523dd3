"""Clean vs persistent sessions, offline queueing, max_queued."""

import unittest

import rawmqtt as R
from harness import BrokerTestCase
from sentinel import nothing_before_sentinel


def drain(c, quiet=1.5, limit=10000):
    """All PUBLISHes (acked) until nothing arrives for `quiet` seconds."""
    got = []
    while len(got) < limit:
        if c.no_packet(quiet):
            return got
        p = c.recv_packet(1)
        if p.type == R.PUBLISH:
            c.ack(p)
            got.append(p)
    return got


class SessionTest(BrokerTestCase):

    def test_persistent_session_keeps_subscriptions(self):
        cid, t = self.uid("ps"), self.uid("pst")
        c = self.client(cid, clean=False)
        c.subscribe([(t, 1)])
        c.disconnect()
        c = self.raw()
        self.assertTrue(c.connect(cid, clean=False).session_present)
        p = self.client(self.uid())
        p.publish(t, b"still-subscribed", qos=1)
        self.assertEqual(c.recv_publish().payload, b"still-subscribed")
        c.disconnect()
        self.client(cid, clean=True).disconnect()

    def test_offline_qos1_and_qos2_messages_queued(self):
        cid, t = self.uid("q"), self.uid("qt")
        c = self.client(cid, clean=False)
        c.subscribe([(t, 2)])
        c.disconnect()
        p = self.client(self.uid())
        p.publish(t, b"one", qos=1, pid=1)
        p.publish(t, b"two", qos=2, pid=2)
        p.publish(t, b"three", qos=1, pid=3)
        c = self.raw()
        self.assertTrue(c.connect(cid, clean=False).session_present)
        got = [(m.payload, m.qos) for m in drain(c)]
        self.assertEqual(got, [(b"one", 1), (b"two", 2), (b"three", 1)])
        c.disconnect()
        self.client(cid, clean=True).disconnect()

    def test_clean_session_discards_state(self):
        cid, t = self.uid("cs"), self.uid("cst")
        c = self.client(cid, clean=False)
        c.subscribe([(t, 1)])
        c.disconnect()
        p = self.client(self.uid())
        p.publish(t, b"queued-then-dropped", qos=1)
        c = self.raw()
        self.assertFalse(c.connect(cid, clean=True).session_present)
        p.publish(t, b"not-subscribed", qos=1, pid=2)
        c.subscribe([(t + "/s", 1)])
        self.assertEqual(nothing_before_sentinel(self, c, t + "/s"), [],
                         "clean session got messages")
        c.disconnect()
        # and the old persistent session is gone for good
        c = self.raw()
        self.assertFalse(c.connect(cid, clean=False).session_present)
        p.publish(t, b"still-not", qos=1, pid=3)
        c.subscribe([(t + "/s", 1)])
        self.assertEqual(nothing_before_sentinel(self, c, t + "/s"), [])
        c.disconnect()
        self.client(cid, clean=True).disconnect()

    def test_clean_session_client_not_queued_while_away(self):
        cid, t = self.uid("cq"), self.uid("cqt")
        c = self.client(cid, clean=True)
        c.subscribe([(t, 1)])
        c.disconnect()
        p = self.client(self.uid())
        p.publish(t, b"x", qos=1)
        c = self.raw()
        self.assertFalse(c.connect(cid, clean=False).session_present)
        c.subscribe([(t + "/s", 1)])
        self.assertEqual(nothing_before_sentinel(self, c, t + "/s"), [])
        c.disconnect()
        self.client(cid, clean=True).disconnect()

    def test_unsubscribe_persists_in_session(self):
        cid, t = self.uid("us"), self.uid("ust")
        c = self.client(cid, clean=False)
        c.subscribe([(t, 1), (t + "/b", 1)])
        c.unsubscribe([t])
        c.disconnect()
        p = self.client(self.uid())
        p.publish(t, b"no", qos=1, pid=1)
        p.publish(t + "/b", b"yes", qos=1, pid=2)
        c = self.raw()
        self.assertTrue(c.connect(cid, clean=False).session_present)
        self.assertEqual([m.payload for m in drain(c)], [b"yes"])
        c.disconnect()
        self.client(cid, clean=True).disconnect()

    def test_offline_queue_larger_than_inflight_window_in_order(self):
        # default max_inflight 32: 100 queued need the window to refill
        cid, t = self.uid("big"), self.uid("bigt")
        c = self.client(cid, clean=False)
        c.subscribe([(t, 2)])
        c.disconnect()
        p = self.client(self.uid())
        for i in range(100):
            p.publish(t, b"%d" % i, qos=1 + i % 2, pid=i + 1)
        c = self.raw()
        self.assertTrue(c.connect(cid, clean=False).session_present)
        got = [int(m.payload) for m in drain(c)]
        self.assertEqual(got, list(range(100)))
        c.disconnect()
        self.client(cid, clean=True).disconnect()

    def test_reconnect_does_not_resend_retained(self):
        cid, t = self.uid("rr"), self.uid("rrt")
        p = self.client(self.uid())
        p.publish(t, b"ret", qos=1, retain=True)
        c = self.client(cid, clean=False)
        c.subscribe([(t, 1)])
        self.assertTrue(c.recv_publish().retain)
        c.disconnect()
        c = self.raw()
        self.assertTrue(c.connect(cid, clean=False).session_present)
        self.assertEqual(nothing_before_sentinel(self, c, t), [],
                         "retained sent without SUBSCRIBE")
        c.disconnect()
        self.client(cid, clean=True).disconnect()

    def test_unacked_message_dropped_when_reconnecting_clean(self):
        cid, t = self.uid("ud"), self.uid("udt")
        c = self.client(cid, clean=False)
        c.subscribe([(t, 1)])
        p = self.client(self.uid())
        p.publish(t, b"unacked", qos=1)
        c.recv_publish(ack=False)
        c.close()
        c = self.raw()
        self.assertFalse(c.connect(cid, clean=True).session_present)
        c.subscribe([(t + "/s", 1)])
        self.assertEqual(nothing_before_sentinel(self, c, t + "/s"), [])
        c.disconnect()


class MaxQueuedTest(BrokerTestCase):
    broker_mqtt = {"max_queued": 10}

    def test_max_queued_bounds_offline_queue(self):
        cid, t = self.uid("mq"), self.uid("mqt")
        c = self.client(cid, clean=False)
        c.subscribe([(t, 1)])
        c.disconnect()
        p = self.client(self.uid())
        for i in range(20):
            p.publish(t, b"%d" % i, qos=1, pid=i + 1)
        c = self.raw()
        self.assertTrue(c.connect(cid, clean=False).session_present)
        got = [int(m.payload) for m in drain(c)]
        self.assertGreaterEqual(len(got), 1, "nothing was queued")
        self.assertLessEqual(len(got), 10, "got %r" % got)
        self.assertEqual(got, sorted(got), "queued messages out of order")
        c.disconnect()
        self.client(cid, clean=True).disconnect()


class RestartTest(BrokerTestCase):
    """The broker keeps state in data_dir (LevelDB) across a restart."""

    broker_persistence = {"sync": "batch", "flush_ms": 50}

    def test_sigterm_exits_cleanly_with_clients_connected(self):
        clients = [self.client(self.uid()) for _ in range(5)]
        clients[0].subscribe([(self.uid("x"), 1)])
        rc = self.broker.restart()
        self.assertIn(rc, (0, -15), "exit code on SIGTERM")
        for c in clients:
            self.assertTrue(c.is_closed(5))
        self.assertServes()

    def test_restart_keeps_retained_sessions_and_queues(self):
        self.skipForMosquitto("test config runs it with persistence false")
        cid, t = self.uid("rs"), self.uid("rst")
        c = self.client(cid, clean=False)
        c.subscribe([(t + "/q", 1)])
        c.disconnect()
        p = self.client(self.uid())
        p.publish(t + "/r", b"retained-across-restart", qos=1, retain=True)
        p.publish(t + "/q", b"queued-across-restart", qos=1, pid=2)
        p.disconnect()
        self.broker.restart()
        lost = []
        s = self.client(self.uid())
        s.subscribe([(t + "/r", 1)])
        try:
            m = s.recv_publish(3)
            if (m.payload, m.retain) != (b"retained-across-restart", True):
                lost.append("retained message (got %r)" % m)
        except R.Timeout:
            lost.append("retained message")
        c = self.raw()
        if not c.connect(cid, clean=False).session_present:
            lost.append("persistent session (CONNACK session present 0)")
        try:
            m = c.recv_publish(3)
            if m.payload != b"queued-across-restart":
                lost.append("queued QoS 1 message (got %r)" % m)
        except R.Timeout:
            lost.append("queued QoS 1 message")
        p = self.client(self.uid())
        p.publish(t + "/q", b"live-after-restart", qos=1)
        try:
            c.recv_publish(3)
        except R.Timeout:
            lost.append("subscription")
        if lost:
            self.fail("lost across restart: " + "; ".join(lost))
        c.disconnect()
        self.client(cid, clean=True).disconnect()


if __name__ == "__main__":
    unittest.main()
