"""Retained messages: store, replace, delete, retain flag on delivery."""

import unittest

import rawmqtt as R
from harness import BrokerTestCase


class RetainTest(BrokerTestCase):

    def marker_check(self, sub, pub, marker_topic):
        """Messages sub receives before a marker on marker_topic."""
        pub.publish(marker_topic, b"__marker__", qos=1, pid=999)
        got = []
        for _ in range(50):
            m = sub.recv_publish()
            if m.topic == marker_topic and m.payload == b"__marker__":
                return got
            got.append(m)
        self.fail("no marker")

    def test_retained_delivered_on_subscribe_with_retain_flag(self):
        t = self.uid("r")
        p = self.client(self.uid())
        p.publish(t, b"kept", qos=1, retain=True)
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        m = s.recv_publish()
        self.assertEqual((m.topic, m.payload, m.retain, m.qos),
                         (t, b"kept", True, 1))

    def test_live_delivery_has_retain_flag_0(self):
        t = self.uid("live")
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        p = self.client(self.uid())
        p.publish(t, b"now", qos=1, retain=True)
        m = s.recv_publish()
        self.assertEqual((m.payload, m.retain), (b"now", False))

    def test_retained_replaced_by_newer(self):
        t = self.uid("rep")
        p = self.client(self.uid())
        p.publish(t, b"old", qos=1, retain=True)
        p.publish(t, b"new", qos=1, retain=True, pid=2)
        s = self.client(self.uid())
        s.subscribe([(t, 1), (t + "/end", 1)])
        got = self.marker_check(s, p, t + "/end")
        self.assertEqual([(m.payload, m.retain) for m in got],
                         [(b"new", True)])

    def test_empty_retained_payload_deletes(self):
        t = self.uid("del")
        p = self.client(self.uid())
        p.publish(t, b"soon-gone", qos=1, retain=True)
        s0 = self.client(self.uid())
        s0.subscribe([(t, 0)])
        self.assertEqual(s0.recv_publish().payload, b"soon-gone")
        p.publish(t, b"", qos=1, retain=True, pid=2)
        s = self.client(self.uid())
        s.subscribe([(t, 1), (t + "/end", 1)])
        got = self.marker_check(s, p, t + "/end")
        self.assertEqual(got, [])

    def test_non_retained_publish_keeps_retained(self):
        t = self.uid("keep")
        p = self.client(self.uid())
        p.publish(t, b"retained", qos=1, retain=True)
        p.publish(t, b"transient", qos=1, retain=False, pid=2)
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        m = s.recv_publish()
        self.assertEqual((m.payload, m.retain), (b"retained", True))

    def test_wildcard_subscribe_gets_all_matching_retained(self):
        b = self.uid("wr")
        p = self.client(self.uid())
        topics = [b + "/a", b + "/b", b + "/c/d"]
        for i, t in enumerate(topics):
            p.publish(t, t.encode(), qos=1, retain=True, pid=i + 1)
        p.publish(b + "x/a", b"no", qos=1, retain=True, pid=9)
        s = self.client(self.uid())
        s.subscribe([(b + "/#", 1)])
        got = sorted((s.recv_publish().topic for _ in range(3)))
        self.assertEqual(got, sorted(topics))
        s2 = self.client(self.uid())
        s2.subscribe([(b + "/+", 1), (b + "/end", 1)])
        got = self.marker_check(s2, p, b + "/end")
        self.assertEqual(sorted(m.topic for m in got), [b + "/a", b + "/b"])
        self.assertTrue(all(m.retain for m in got))

    def test_retained_qos_downgraded_to_subscription(self):
        t = self.uid("rq")
        p = self.client(self.uid())
        p.publish(t, b"q2", qos=2, retain=True)
        s = self.client(self.uid())
        s.subscribe([(t, 0)])
        m = s.recv_publish()
        self.assertEqual((m.qos, m.retain), (0, True))
        s1 = self.client(self.uid())
        s1.subscribe([(t, 1)])
        m = s1.recv_publish()
        self.assertEqual((m.qos, m.retain), (1, True))

    def test_retained_dollar_topic_not_sent_to_hash(self):
        u = self.uid("rd")
        p = self.client(self.uid())
        p.publish("$" + u + "/x", b"hidden", qos=1, retain=True)
        p.publish(u + "/x", b"visible", qos=1, retain=True, pid=2)
        s = self.client(self.uid())
        s.subscribe([("#", 0)])
        got = self.marker_check(s, p, u + "/end")
        # other tests' retained messages come too; no $-topic may
        self.assertIn(u + "/x", [m.topic for m in got if m.retain])
        self.assertEqual([m.topic for m in got if m.topic.startswith("$")],
                         [])

    def test_retained_sent_again_on_resubscribe(self):
        t = self.uid("again")
        p = self.client(self.uid())
        p.publish(t, b"r", qos=1, retain=True)
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        self.assertTrue(s.recv_publish().retain)
        s.subscribe([(t, 1)], pid=2)
        m = s.recv_publish()
        self.assertEqual((m.payload, m.retain), (b"r", True))


if __name__ == "__main__":
    unittest.main()
