"""MQTT 5.0 flow control: receive maximum and maximum packet size, both
directions."""

import time
import unittest

import raw5
from raw5 import (M5TestCase, PUBLISH, PUBREC, RECEIVE_MAXIMUM,
                  MAXIMUM_PACKET_SIZE, is_mosquitto)


class ReceiveMaximum(M5TestCase):
    def check_client_receive_maximum(self, ws, qos):
        t = self.uid("rm")
        s = self.c5(ws=ws, props=[(RECEIVE_MAXIMUM, 2)])
        self.assertEqual(s.subscribe([(t, qos)]), [qos])
        p = self.c5()
        for i in range(6):
            p.publish(t, b"m%d" % i, qos=1, pid=i + 1)
        first = [s.recv_publish(ack=False) for _ in range(2)]
        self.assertTrue(s.no_packet(1.0), "a 3rd PUBLISH with 2 "
                        "unacknowledged and receive maximum 2: %r"
                        % s.backlog)
        got = list(first)
        if is_mosquitto():
            # 2.0.11 releases two in-flight slots per PUBACK here; the
            # first window above validates the test against it
            return
        # ack one: exactly one more may come
        s.ack(first[0])
        got.append(s.recv_publish(ack=False))
        self.assertTrue(s.no_packet(0.7), "more than 2 in flight: %r"
                        % s.backlog)
        # ack the rest as they come
        for m in got[1:]:
            s.ack(m)
        while len(got) < 6:
            m = s.recv_publish(ack=False)
            got.append(m)
            s.ack(m)
        self.assertEqual([m.payload for m in got],
                         [b"m%d" % i for i in range(6)])
        s.disconnect()

    def test_client_receive_maximum_qos1_tcp(self):
        self.check_client_receive_maximum(False, 1)

    def test_client_receive_maximum_qos1_ws(self):
        self.check_client_receive_maximum(True, 1)

    def test_client_receive_maximum_qos2(self):
        self.check_client_receive_maximum(False, 2)

    def test_qos0_not_limited_by_receive_maximum(self):
        t = self.uid("rm0")
        s = self.c5(props=[(RECEIVE_MAXIMUM, 1)])
        s.subscribe([(t, 0)])
        p = self.c5()
        for i in range(5):
            p.publish(t, b"z%d" % i, qos=1, pid=i + 1)
        got = [s.recv_publish(ack=False).payload for _ in range(5)]
        self.assertEqual(got, [b"z%d" % i for i in range(5)])

    def check_broker_receive_maximum(self, ws):
        c = self.c5(ws=ws)
        n = c.connack.props.get(RECEIVE_MAXIMUM)
        self.assertIsNotNone(n, "broker advertises no receive maximum")
        self.assertLessEqual(n, 1000, "too large to test")
        t = self.uid("in")
        # n unacknowledged QoS 2 PUBLISH are fine (we never send PUBREL)
        for i in range(n):
            c.send(raw5.publish5(t, b"x", qos=2, pid=i + 1))
        for i in range(n):
            rec = c.wait_for(PUBREC, 5)
            self.assertLess(rec.rc, 0x80, rec)
        # one more is a Receive Maximum exceeded (3.3.4: DISCONNECT 0x93)
        c.send(raw5.publish5(t, b"x", qos=2, pid=n + 1))
        if is_mosquitto():  # 2.0.11 answers PUBREC 0x97 and stays open
            self.assertEqual(c.wait_for(PUBREC, 5).rc,
                             raw5.RC_QUOTA_EXCEEDED)
            return
        self.assertDisconnect(c, raw5.RC_RECEIVE_MAX_EXCEEDED)
        self.assertServes()

    def test_client_exceeding_broker_receive_maximum_0x93_tcp(self):
        self.check_broker_receive_maximum(False)

    def test_client_exceeding_broker_receive_maximum_0x93_ws(self):
        self.check_broker_receive_maximum(True)


class SmallReceiveMaximum(M5TestCase):
    broker_mqtt = {"receive_maximum": 3}

    def test_configured_receive_maximum_advertised_and_enforced(self):
        self.skipForMosquitto("receive_maximum is a sluice config key")
        c = self.c5()
        self.assertEqual(c.connack.props.get(RECEIVE_MAXIMUM), 3)
        t = self.uid("in")
        for i in range(3):
            c.send(raw5.publish5(t, b"x", qos=2, pid=i + 1))
        for i in range(3):
            c.wait_for(PUBREC, 5)
        # completing one frees a slot
        c.send(raw5.ack5(raw5.PUBREL, 1))
        c.wait_for(raw5.PUBCOMP, 5, pid=1)
        c.send(raw5.publish5(t, b"x", qos=2, pid=4))
        c.wait_for(PUBREC, 5, pid=4)
        c.send(raw5.publish5(t, b"x", qos=2, pid=5))
        self.assertDisconnect(c, raw5.RC_RECEIVE_MAX_EXCEEDED)


class ClientMaximumPacketSize(M5TestCase):
    def check(self, ws, qos):
        t = self.uid("mps")
        s = self.c5(ws=ws, props=[(MAXIMUM_PACKET_SIZE, 100)])
        s.subscribe([(t, qos)])
        p = self.c5()
        p.publish(t, b"small-1", qos=1, pid=1)
        p.publish(t, b"B" * 200, qos=1, pid=2)
        p.publish(t, b"small-2", qos=1, pid=3)
        # a big one with properties that push it over
        p.publish(t, b"s", qos=1, pid=4,
                  props=[(raw5.USER_PROPERTY, ("k", "v" * 120))])
        p.publish(t, b"small-3", qos=1, pid=5)
        got = [s.recv_publish() for _ in range(3)]
        self.assertEqual([m.payload for m in got],
                         [b"small-1", b"small-2", b"small-3"])
        for m in got:
            self.assertLessEqual(m.wire_size, 100)
        self.assertTrue(s.no_packet(0.7), "oversize packet sent: %r"
                        % s.backlog)
        # still connected and served
        p.publish(t, b"small-4", qos=1, pid=6)
        self.assertEqual(s.recv_publish().payload, b"small-4")
        s.disconnect()

    def test_oversize_publish_dropped_qos0_tcp(self):
        self.check(False, 0)

    def test_oversize_publish_dropped_qos1_tcp(self):
        self.check(False, 1)

    def test_oversize_publish_dropped_qos1_ws(self):
        self.check(True, 1)

    def test_oversize_retained_not_sent(self):
        t = self.uid("mpsr")
        p = self.c5()
        p.publish(t, b"R" * 300, qos=1, retain=True)
        s = self.c5(props=[(MAXIMUM_PACKET_SIZE, 100)])
        s.subscribe([(t, 1)])
        self.assertTrue(s.no_packet(1.0), s.backlog)
        p.publish(t, b"", qos=1, retain=True)


class BrokerMaximumPacketSize(M5TestCase):
    broker_mqtt = {"max_packet_size": 1000}

    def check(self, ws):
        if ws and is_mosquitto():
            self.skipTest("mosquitto 2.0.11 does not apply max_packet_size "
                          "on websockets listeners")
        c = self.c5(ws=ws)
        self.assertEqual(c.connack.props.get(MAXIMUM_PACKET_SIZE), 1000)
        t = self.uid("big")
        s = self.c5()
        s.subscribe([(t, 1)])
        ack = c.publish(t, b"x" * 900, qos=1)
        self.assertEqual(ack.rc, 0)
        self.assertEqual(len(s.recv_publish().payload), 900)
        c.send(raw5.publish5(t, b"y" * 2000, qos=1, pid=2))
        self.assertDisconnect(c, raw5.RC_PACKET_TOO_LARGE)
        self.assertTrue(s.no_packet(0.5), s.backlog)

    def test_publish_over_broker_maximum_0x95_tcp(self):
        self.check(False)

    def test_publish_over_broker_maximum_0x95_ws(self):
        self.check(True)


if __name__ == "__main__":
    unittest.main()
