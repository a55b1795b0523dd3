"""QoS 0/1/2 flows in both directions, exactly-once inbound, in-flight
window, retry with DUP on reconnect, ordering."""

import unittest

import rawmqtt as R
from harness import BrokerTestCase, is_mosquitto
from sentinel import nothing_before_sentinel


class QosFlowTest(BrokerTestCase):

    def test_qos1_inbound_puback_same_pid(self):
        c = self.client(self.uid())
        c.send(R.publish(self.uid("q1"), b"x", qos=1, pid=0x1234))
        ack = c.expect(R.PUBACK)
        self.assertEqual((ack.first_byte, ack.pid, len(ack.body)),
                         (0x40, 0x1234, 2))

    def test_qos2_inbound_pubrec_pubrel_pubcomp(self):
        c = self.client(self.uid())
        c.send(R.publish(self.uid("q2"), b"x", qos=2, pid=0xBEEF))
        rec = c.expect(R.PUBREC)
        self.assertEqual((rec.first_byte, rec.pid, len(rec.body)),
                         (0x50, 0xBEEF, 2))
        c.send(R.pubrel(0xBEEF))
        comp = c.expect(R.PUBCOMP)
        self.assertEqual((comp.first_byte, comp.pid, len(comp.body)),
                         (0x70, 0xBEEF, 2))

    def test_qos2_inbound_delivered_to_subscriber(self):
        t = self.uid("q2d")
        s = self.client(self.uid())
        s.subscribe([(t, 2)])
        p = self.client(self.uid())
        p.publish(t, b"two", qos=2, pid=7)
        m = s.recv_publish()
        self.assertEqual((m.payload, m.qos), (b"two", 2))

    def test_qos1_outbound_flow(self):
        t = self.uid("o1")
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        p = self.client(self.uid())
        p.publish(t, b"a", qos=1)
        m = s.recv_publish(ack=False)
        self.assertEqual((m.qos, m.dup, m.retain), (1, False, False))
        self.assertNotEqual(m.pid, 0)
        s.send(R.puback(m.pid))
        # after the ack the next one flows too
        p.publish(t, b"b", qos=1, pid=2)
        self.assertEqual(s.recv_publish().payload, b"b")

    def test_qos2_outbound_flow_pubrel_flags(self):
        t = self.uid("o2")
        s = self.client(self.uid())
        s.subscribe([(t, 2)])
        p = self.client(self.uid())
        p.publish(t, b"a", qos=2)
        m = s.recv_publish(ack=False)
        self.assertEqual(m.qos, 2)
        self.assertNotEqual(m.pid, 0)
        s.send(R.pubrec(m.pid))
        rel = s.expect(R.PUBREL)
        self.assertEqual((rel.first_byte, rel.pid, len(rel.body)),
                         (0x62, m.pid, 2))
        s.send(R.pubcomp(m.pid))
        p.publish(t, b"b", qos=2, pid=2)
        self.assertEqual(s.recv_publish().payload, b"b")

    def test_qos2_inbound_exactly_once_on_duplicate_publish(self):
        t = self.uid("eo")
        s = self.client(self.uid())
        s.subscribe([(t, 2), (t + "/end", 1)])
        p = self.client(self.uid())
        p.send(R.publish(t, b"once", qos=2, pid=55))
        self.assertEqual(p.expect(R.PUBREC).pid, 55)
        # the same packet again (as after a lost PUBREC), with and without DUP
        # the same packet again, as after a lost PUBREC; a resend carries
        # DUP=1 [MQTT-3.3.1-1]
        p.send(R.publish(t, b"once", qos=2, pid=55, dup=True))
        self.assertEqual(p.expect(R.PUBREC).pid, 55)
        p.send(R.pubrel(55))
        self.assertEqual(p.expect(R.PUBCOMP).pid, 55)
        p.publish(t + "/end", b"end", qos=1, pid=56)
        got = []
        for _ in range(10):
            m = s.recv_publish()
            if m.topic == t + "/end":
                break
            got.append(m.payload)
        self.assertEqual(got, [b"once"])

    def test_qos2_pid_reusable_after_pubcomp(self):
        t = self.uid("reuse")
        s = self.client(self.uid())
        s.subscribe([(t, 2)])
        p = self.client(self.uid())
        p.publish(t, b"first", qos=2, pid=9)
        p.publish(t, b"second", qos=2, pid=9)
        self.assertEqual(s.recv_publish().payload, b"first")
        self.assertEqual(s.recv_publish().payload, b"second")

    def test_order_1000_qos1_messages(self):
        t = self.uid("ord")
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        p = self.client(self.uid())
        n = 1000
        # pipelined: publish all, then collect acks
        out = b"".join(R.publish(t, b"%d" % i, qos=1, pid=i + 1)
                       for i in range(n))
        p.send(out)
        got = []
        while len(got) < n:
            m = s.recv_publish(10)
            got.append(int(m.payload))
        self.assertEqual(got, list(range(n)))
        acks = set()
        while len(acks) < n:
            acks.add(p.expect(R.PUBACK, 10).pid)
        self.assertEqual(acks, set(range(1, n + 1)))

    def test_retry_unacked_qos1_on_reconnect_with_dup(self):
        cid = self.uid("rq1")
        t = self.uid("rq1t")
        s = self.client(cid, clean=False)
        s.subscribe([(t, 1)])
        p = self.client(self.uid())
        p.publish(t, b"retry-me", qos=1)
        m = s.recv_publish(ack=False)
        self.assertFalse(m.dup)
        s.disconnect()
        s2 = self.raw()
        ack = s2.connect(cid, clean=False)
        self.assertTrue(ack.session_present)
        m2 = s2.recv_publish(ack=False)
        self.assertEqual((m2.topic, m2.payload, m2.qos, m2.dup, m2.pid),
                         (t, b"retry-me", 1, True, m.pid))
        s2.send(R.puback(m2.pid))
        # acked now: a third connection gets nothing
        s2.disconnect()
        s3 = self.client(cid, clean=False)
        self.assertEqual(nothing_before_sentinel(self, s3, t), [])
        s3.disconnect()
        self.client(cid, clean=True).disconnect()

    def test_retry_unacked_qos2_publish_then_pubrel(self):
        cid = self.uid("rq2")
        t = self.uid("rq2t")
        s = self.client(cid, clean=False)
        s.subscribe([(t, 2)])
        p = self.client(self.uid())
        p.publish(t, b"q2-retry", qos=2)
        m = s.recv_publish(ack=False)
        s.close()  # no PUBREC, no DISCONNECT
        s2 = self.raw()
        self.assertTrue(s2.connect(cid, clean=False).session_present)
        m2 = s2.recv_publish(ack=False)
        self.assertEqual((m2.payload, m2.qos, m2.dup, m2.pid),
                         (b"q2-retry", 2, True, m.pid))
        s2.send(R.pubrec(m2.pid))
        rel = s2.expect(R.PUBREL)
        self.assertEqual(rel.pid, m.pid)
        s2.close()  # PUBREC sent, PUBCOMP not: PUBREL must be resent
        s3 = self.raw()
        self.assertTrue(s3.connect(cid, clean=False).session_present)
        rel = s3.expect(R.PUBREL)
        self.assertEqual((rel.first_byte, rel.pid), (0x62, m.pid))
        s3.send(R.pubcomp(m.pid))
        # the message itself is not delivered again
        self.assertEqual(nothing_before_sentinel(self, s3, t, qos=2), [])
        s3.disconnect()
        self.client(cid, clean=True).disconnect()


class InflightWindowTest(BrokerTestCase):
    broker_mqtt = {"max_inflight": 2}

    def test_only_max_inflight_qos1_until_ack(self):
        t = self.uid("win")
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        p = self.client(self.uid())
        for i in range(6):
            p.publish(t, b"%d" % i, qos=1, pid=i + 1)
        first = [s.recv_publish(ack=False) for _ in range(2)]
        self.assertEqual([m.payload for m in first], [b"0", b"1"])
        self.assertTrue(s.no_packet(1.0), "a third PUBLISH before any ack")
        s.send(R.puback(first[0].pid))
        m = s.recv_publish(ack=False)
        self.assertEqual(m.payload, b"2")
        if is_mosquitto():
            # Mosquitto 2.0.11 refills two slots after one PUBACK; only the
            # "nothing before the first ack" part applies to it.
            s.send(R.puback(first[1].pid))
            s.send(R.puback(m.pid))
            rest = [s.recv_publish().payload for _ in range(3)]
            self.assertEqual(rest, [b"3", b"4", b"5"])
            return
        self.assertTrue(s.no_packet(0.5), "window exceeded after one ack")
        s.send(R.puback(first[1].pid))
        s.send(R.puback(m.pid))
        rest = [s.recv_publish().payload for _ in range(3)]
        self.assertEqual(rest, [b"3", b"4", b"5"])


if __name__ == "__main__":
    unittest.main()
