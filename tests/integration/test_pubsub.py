"""SUBSCRIBE/SUBACK, UNSUBSCRIBE/UNSUBACK, wildcards, $-topics, overlapping
subscriptions, QoS downgrade, fan-out."""

import unittest

import rawmqtt as R
from harness import BrokerTestCase, is_mosquitto


class PubSubTest(BrokerTestCase):

    def roundtrip_marker(self, pub, sub, topic):
        """Publish a marker to topic (which sub matches) and read sub's
        messages up to it; returns the topics received before the marker.
        Gives negative checks an end without sleeping."""
        pub.publish(topic, b"__marker__", qos=1)
        seen = []
        for _ in range(100):
            m = sub.recv_publish(5)
            if m.payload == b"__marker__" and m.topic == topic:
                return seen
            seen.append(m.topic)
        self.fail("marker never arrived")

    def test_qos0_roundtrip_exact_payload(self):
        t = self.uid("ps")
        s = self.client(self.uid())
        self.assertEqual(s.subscribe([(t, 0)]), [0])
        p = self.client(self.uid())
        payload = bytes(range(256)) * 4
        p.publish(t, payload)
        m = s.recv_publish()
        self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                         (t, payload, 0, False))

    def test_suback_grants_requested_qos_per_filter(self):
        base = self.uid("ga")
        s = self.client(self.uid())
        granted = s.subscribe([(base + "/q0", 0), (base + "/q1", 1),
                               (base + "/q2", 2)], pid=77)
        self.assertEqual(granted, [0, 1, 2])

    def test_suback_failure_0x80_for_invalid_filters(self):
        self.skipForMosquitto("closes the connection on an invalid filter "
                              "instead of SUBACK 0x80")
        base = self.uid("inv")
        s = self.client(self.uid())
        granted = s.subscribe([(base + "/ok", 1), ("a/#/b", 1), ("a+", 0),
                               (base + "/#x", 0), (base + "/+/ok", 2)], pid=9)
        self.assertEqual(granted, [1, 0x80, 0x80, 0x80, 2])
        # valid filters of the same SUBSCRIBE work
        p = self.client(self.uid())
        p.publish(base + "/ok", b"1", qos=1)
        self.assertEqual(s.recv_publish().topic, base + "/ok")

    def test_unsubscribe_stops_delivery(self):
        t = self.uid("un")
        s = self.client(self.uid())
        s.subscribe([(t, 1), (t + "/other", 1)])
        p = self.client(self.uid())
        p.publish(t, b"before", qos=1)
        self.assertEqual(s.recv_publish().payload, b"before")
        ack = s.unsubscribe([t], pid=4242)
        self.assertEqual((ack.first_byte, ack.pid, len(ack.body)),
                         (0xB0, 4242, 2))
        p.publish(t, b"after", qos=1)
        self.assertEqual(self.roundtrip_marker(p, s, t + "/other"), [])

    def test_unsubscribe_unknown_filter_still_acked(self):
        s = self.client(self.uid())
        ack = s.unsubscribe([self.uid("never")], pid=5)
        self.assertEqual(ack.pid, 5)

    def test_plus_wildcard(self):
        b = self.uid("plus")
        s = self.client(self.uid())
        s.subscribe([(b + "/+/x", 0), (b + "/end", 0)])
        p = self.client(self.uid())
        for t in [b + "/a/x", b + "/a/y", b + "/a/b/x", b + "//x", b + "/x",
                  b + "/bb/x"]:
            p.publish(t, b"m")
        got = self.roundtrip_marker(p, s, b + "/end")
        self.assertEqual(sorted(got), sorted([b + "/a/x", b + "//x",
                                              b + "/bb/x"]))

    def test_hash_wildcard_includes_parent_level(self):
        b = self.uid("hash")
        s = self.client(self.uid())
        s.subscribe([(b + "/a/#", 0), (b + "/end", 0)])
        p = self.client(self.uid())
        for t in [b + "/a", b + "/a/b", b + "/a/b/c", b + "/ab", b + "/b/a"]:
            p.publish(t, b"m")
        got = self.roundtrip_marker(p, s, b + "/end")
        self.assertEqual(sorted(got), sorted([b + "/a", b + "/a/b",
                                              b + "/a/b/c"]))

    def test_dollar_topics_not_matched_by_leading_wildcards(self):
        u = self.uid("d")
        s = self.client(self.uid())
        s.subscribe([("#", 0), ("+/x", 0), ("+/+", 0)])
        p = self.client(self.uid())
        p.publish("$foo/x", b"hidden")
        p.publish("$" + u + "/x", b"hidden")
        # sys_interval 1: $SYS topics are flowing; the marker comes after
        # at least one $SYS period.
        import time
        got = []
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            p.publish(u + "/x", b"live")
            got.append(s.recv_publish(5).topic)
        got += self.roundtrip_marker(p, s, u + "/end")
        bad = [t for t in got if t.startswith("$")]
        self.assertEqual(bad, [])

    def test_dollar_topic_matched_by_explicit_filter(self):
        u = self.uid("dx")
        s = self.client(self.uid())
        s.subscribe([("$" + u + "/#", 0), ("$" + u + "/+/y", 0)])
        p = self.client(self.uid())
        p.publish("$" + u + "/a/y", b"seen", qos=1)
        m = s.recv_publish()
        self.assertEqual((m.topic, m.payload), ("$" + u + "/a/y", b"seen"))

    def test_overlapping_subscriptions_one_copy_at_max_qos(self):
        b = self.uid("ov")
        s = self.client(self.uid())
        self.assertEqual(s.subscribe([(b + "/#", 1), (b + "/b", 2),
                                      (b + "/+", 0)]), [1, 2, 0])
        p = self.client(self.uid())
        p.publish(b + "/b", b"once", qos=2)
        m = s.recv_publish()
        self.assertEqual((m.topic, m.payload, m.qos), (b + "/b", b"once", 2))
        self.assertEqual(self.roundtrip_marker(p, s, b + "/end"), [])

    def test_resubscribe_replaces_qos(self):
        t = self.uid("rs")
        s = self.client(self.uid())
        self.assertEqual(s.subscribe([(t, 2)]), [2])
        self.assertEqual(s.subscribe([(t, 0)], pid=2), [0])
        p = self.client(self.uid())
        p.publish(t, b"x", qos=2)
        m = s.recv_publish()
        self.assertEqual(m.qos, 0)
        self.assertEqual(self.roundtrip_marker(p, s, t), [])

    def test_delivery_qos_is_min_of_publish_and_subscription(self):
        b = self.uid("dq")
        s = self.client(self.uid())
        s.subscribe([(b + "/s0", 0), (b + "/s1", 1), (b + "/s2", 2)])
        p = self.client(self.uid())
        cases = [("/s0", 2, 0), ("/s1", 2, 1), ("/s2", 1, 1), ("/s2", 0, 0),
                 ("/s2", 2, 2), ("/s1", 0, 0)]
        for suffix, pq, want in cases:
            p.publish(b + suffix, b"x", qos=pq, pid=3)
            m = s.recv_publish()
            self.assertEqual((m.topic, m.qos), (b + suffix, want),
                             "publish qos %d to %s" % (pq, suffix))
            if want:
                self.assertNotEqual(m.pid, 0)

    def test_publisher_receives_own_message(self):
        t = self.uid("self")
        c = self.client(self.uid())
        c.subscribe([(t, 1)])
        c.publish(t, b"echo", qos=1)
        self.assertEqual(c.recv_publish().payload, b"echo")

    def test_fan_out_to_many_subscribers(self):
        t = self.uid("fan")
        subs = [self.client(self.uid()) for _ in range(20)]
        for s in subs:
            s.subscribe([(t, 1)])
        p = self.client(self.uid())
        p.publish(t, b"all", qos=1)
        for s in subs:
            m = s.recv_publish()
            self.assertEqual((m.topic, m.payload), (t, b"all"))

    def test_large_payload_below_max_packet_size(self):
        t = self.uid("big")
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        p = self.client(self.uid())
        payload = bytes((i * 7) & 0xFF for i in range(512 * 1024))
        p.publish(t, payload, qos=1, timeout=10)
        m = s.recv_publish(10)
        self.assertEqual(len(m.payload), len(payload))
        self.assertEqual(m.payload, payload)

    def test_utf8_topic_roundtrip(self):
        t = self.uid("utf") + "/\u00e9t\u00e9/\u6f22\u5b57/\U0001F600"
        s = self.client(self.uid())
        s.subscribe([(t, 0)])
        p = self.client(self.uid())
        p.publish(t, b"u")
        self.assertEqual(s.recv_publish().topic, t)

    def test_many_publishers_across_workers_in_order_per_publisher(self):
        t = self.uid("fanin")
        s = self.client(self.uid())
        s.subscribe([(t + "/#", 1)])
        pubs = [self.client(self.uid()) for _ in range(10)]
        n = 100
        for i, p in enumerate(pubs):
            p.send(b"".join(R.publish("%s/%d" % (t, i), b"%d" % k, qos=1,
                                      pid=k + 1) for k in range(n)))
        seqs = {i: [] for i in range(len(pubs))}
        for _ in range(n * len(pubs)):
            m = s.recv_publish(10)
            seqs[int(m.topic.rsplit("/", 1)[1])].append(int(m.payload))
        for i, seq in seqs.items():
            self.assertEqual(seq, list(range(n)), "publisher %d" % i)
        for p in pubs:
            acks = {p.wait_for(R.PUBACK, 10).pid for _ in range(n)}
            self.assertEqual(len(acks), n)

    def test_many_filters_in_one_subscribe_and_unsubscribe(self):
        b = self.uid("mf")
        s = self.client(self.uid())
        filters = [("%s/%d" % (b, i), i % 3) for i in range(50)]
        self.assertEqual(s.subscribe(filters, pid=300),
                         [i % 3 for i in range(50)])
        ack = s.unsubscribe([f for f, _ in filters[:25]], pid=301)
        self.assertEqual(ack.pid, 301)
        p = self.client(self.uid())
        for i in (0, 24, 25, 49):
            p.publish("%s/%d" % (b, i), b"x", qos=1, pid=i + 1)
        got = self.roundtrip_marker(p, s, b + "/49")
        self.assertEqual(sorted(got), sorted([b + "/25", b + "/49"]))

    def test_outstanding_qos1_messages_have_distinct_packet_ids(self):
        t = self.uid("pids")
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        p = self.client(self.uid())
        for i in range(20):
            p.publish(t, b"%d" % i, qos=1, pid=i + 1)
        got = [s.recv_publish(ack=False) for _ in range(20)]
        pids = [m.pid for m in got]
        self.assertNotIn(0, pids)
        self.assertEqual(len(set(pids)), 20, pids)
        for m in got:
            s.send(R.puback(m.pid))

    def test_200_connections_all_receive(self):
        t = self.uid("many")
        subs = []
        for i in range(200):
            c = self.raw()
            c.send(R.connect(self.uid("m")) + R.subscribe(1, [(t, 1)]))
            subs.append(c)
        for c in subs:
            self.assertEqual(c.expect(R.CONNACK).rc, 0)
            self.assertEqual(c.expect(R.SUBACK).granted, [1])
        p = self.client(self.uid())
        p.publish(t, b"to-all", qos=1)
        for c in subs:
            self.assertEqual(c.recv_publish().payload, b"to-all")
        for c in subs:
            c.disconnect()


if __name__ == "__main__":
    unittest.main()
