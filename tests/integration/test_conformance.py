"""MQTT behaviour the specification names, checked with raw packets (issue 11,
"MQTT behaviour to bring in line with the specification").

Every packet here is built by rawmqtt.py / raw5.py, independently of the
broker's codec.  Negative assertions ("nothing else arrived") are proved by a
sentinel sent afterwards on the same path.
"""

import socket
import struct
import time
import unittest

import harness
import raw5
import rawmqtt
from raw5 import (M5TestCase, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL,
                  PUBCOMP, SUBACK, UNSUBACK, PINGRESP, DISCONNECT,
                  MAXIMUM_PACKET_SIZE, REASON_STRING, RECEIVE_MAXIMUM,
                  SERVER_KEEP_ALIVE, SUBSCRIPTION_ID, AUTH_METHOD,
                  ack5, publish5, subscribe5)

RC_NOT_AUTHORIZED = 0x87
RC_PROTOCOL_ERROR = 0x82
RC_RECEIVE_MAX_EXCEEDED = 0x93
RC_PACKET_TOO_LARGE = 0x95
RC_KEEP_ALIVE_TIMEOUT = 0x8D


def ping_ok(c, timeout=5.0):
    """Sentinel: the connection still answers a PINGREQ."""
    c.send(rawmqtt.pingreq())
    c.wait_for(PINGRESP, timeout)


def sys_counter(c, topic, timeout=5.0):
    """The next value of a numeric $SYS topic c is subscribed to."""
    deadline = time.monotonic() + timeout
    while True:
        p = c.wait_for(PUBLISH, max(0.1, deadline - time.monotonic()))
        if p.topic == topic:
            return int(p.payload)


# ------------------------------------------------------------ MQTT 3.1 CONNACK

class V31SessionPresent(M5TestCase):
    def test_v31_connack_byte1_is_zero(self):
        """3.1 (protocol level 3) has no Session Present flag: the CONNACK's
        first byte stays 0 even when the broker kept the session."""
        cid = self.uid("v31")
        c = self.raw()
        ack = c.connect(cid, clean=False, level=3)
        self.assertEqual(ack.body[:2], b"\x00\x00")
        c.subscribe([(self.uid("t31"), 1)])
        c.disconnect()
        c2 = self.raw()
        ack = c2.connect(cid, clean=False, level=3)
        self.assertEqual(ack.body[1], 0, "refused: %r" % ack)
        self.assertEqual(ack.body[0], 0, "3.1 CONNACK byte 1 must be 0: %r"
                         % ack)
        c2.disconnect()
        # the same with 3.1.1 does say "present": the session was kept
        cid4 = self.uid("v311")
        c = self.raw()
        c.connect(cid4, clean=False, level=4)
        c.disconnect()
        c = self.raw()
        self.assertTrue(c.connect(cid4, clean=False, level=4).session_present)
        c.disconnect()


# ------------------------------------------------- acks of the wrong kind

class WrongAck(M5TestCase):
    def inflight(self, qos, v5=True):
        """A subscriber holding one unacknowledged PUBLISH of `qos`."""
        t = self.uid("wa")
        s = self.c5() if v5 else self.c4()
        if v5:
            self.assertEqual(s.subscribe([(t, qos)]), [qos])
        else:
            self.assertEqual(s.subscribe([(t, qos)]), [qos])
        p = self.c5()
        p.publish(t, b"x", qos=qos, pid=7)
        m = s.recv_publish(ack=False)
        self.assertEqual(m.qos, qos)
        return s, m

    def assertProtocolError(self, s, v5=True):
        if v5:
            self.assertDisconnect(s, RC_PROTOCOL_ERROR)
        else:
            got = s.wait_closed(5.0)
            self.assertFalse([x for x in got if x.type == PUBREL], got)

    def test_pubcomp_for_qos1(self):
        s, m = self.inflight(1)
        s.send(ack5(PUBCOMP, m.pid))
        self.assertProtocolError(s)

    def test_pubrec_for_qos1(self):
        s, m = self.inflight(1)
        s.send(ack5(PUBREC, m.pid))
        self.assertProtocolError(s)

    def test_puback_for_qos2(self):
        s, m = self.inflight(2)
        s.send(ack5(PUBACK, m.pid))
        self.assertProtocolError(s)

    def test_pubcomp_before_pubrec(self):
        s, m = self.inflight(2)
        s.send(ack5(PUBCOMP, m.pid))
        self.assertProtocolError(s)

    def test_puback_answering_pubrel(self):
        s, m = self.inflight(2)
        s.send(ack5(PUBREC, m.pid))
        s.wait_for(PUBREL, pid=m.pid)
        s.send(ack5(PUBACK, m.pid))
        self.assertProtocolError(s)

    def test_v311_wrong_ack_closes(self):
        s, m = self.inflight(1, v5=False)
        s.send(rawmqtt.pubcomp(m.pid))
        self.assertProtocolError(s, v5=False)

    def test_unknown_ids_tolerated(self):
        s, m = self.inflight(2)
        other = (m.pid % 60000) + 1000
        for typ in (PUBACK, PUBREC, PUBCOMP):
            s.send(ack5(typ, other))
        ping_ok(s)
        # the real exchange still completes
        s.send(ack5(PUBREC, m.pid))
        s.wait_for(PUBREL, pid=m.pid)
        s.send(ack5(PUBCOMP, m.pid))
        ping_ok(s)


# ------------------------------------------------------ $SYS is the broker's

class SysPublish(M5TestCase):
    def test_v5_qos1_and_qos2_not_authorized(self):
        c = self.c5()
        a = c.publish("$SYS/itc/x", b"no", qos=1, pid=3)
        self.assertEqual(a.rc, RC_NOT_AUTHORIZED, a)
        r = c.publish("$SYS/itc/x", b"no", qos=2, pid=4)
        self.assertEqual(r.rc, RC_NOT_AUTHORIZED, r)
        # a refused QoS 2 id is free again at once
        r = c.publish("$SYS/itc/x", b"no", qos=2, pid=4)
        self.assertEqual(r.rc, RC_NOT_AUTHORIZED, r)
        ping_ok(c)

    def check_dropped(self, pub):
        t = self.uid("sentinel")
        s = self.c5()
        s.subscribe([("$SYS/itc/#", 0), (t, 0)])
        pub()
        self.c5().publish(t, b"sentinel", qos=1)
        m = s.recv_publish()
        self.assertEqual((m.topic, m.payload), (t, b"sentinel"),
                         "a client's $SYS PUBLISH was delivered")

    def test_v5_qos0_dropped_and_counted(self):
        w = self.c5()
        w.subscribe([("$SYS/broker/messages/dropped", 0)])
        before = sys_counter(w, "$SYS/broker/messages/dropped")
        c = self.c5()
        self.check_dropped(lambda: c.send(publish5("$SYS/itc/y", b"no")))
        ping_ok(c)
        deadline = time.monotonic() + 5
        while sys_counter(w, "$SYS/broker/messages/dropped") <= before:
            self.assertLess(time.monotonic(), deadline, "drop not counted")

    def test_v311_acknowledged_and_dropped(self):
        c = self.c4()
        self.check_dropped(lambda: c.publish("$SYS/itc/z", b"no", qos=1))
        ping_ok(c)


# ------------------------------------------- Receive Maximum for QoS 1 and 2

class ReceiveMaximum(M5TestCase):
    # "always": every QoS 1/2 ack waits for an fsync, so PUBLISHes sent in
    # one write are all unacknowledged while the broker reads them
    broker_mqtt = {"receive_maximum": 4}
    broker_persistence = {"sync": "always"}

    def burst(self, c, qos_list):
        t = self.uid("rmx")
        c.send(b"".join(publish5(t, b"m", qos=q, pid=i + 1)
                        for i, q in enumerate(qos_list)))

    def test_connack_announces_4(self):
        c = self.c5()
        self.assertEqual(c.connack.props.get(RECEIVE_MAXIMUM), 4)

    def test_qos1_over_receive_maximum(self):
        c = self.c5()
        self.burst(c, [1] * 5)
        self.assertDisconnect(c, RC_RECEIVE_MAX_EXCEEDED)

    def test_qos1_and_qos2_count_together(self):
        c = self.c5()
        self.burst(c, [2, 2, 1, 1, 1])
        self.assertDisconnect(c, RC_RECEIVE_MAX_EXCEEDED)

    def test_at_receive_maximum_is_fine(self):
        c = self.c5()
        self.burst(c, [1] * 4)
        for pid in range(1, 5):
            self.assertEqual(c.wait_for(PUBACK, pid=pid).rc, 0x10)
        # acknowledged: a window's worth more is fine again
        self.burst(c, [1] * 4)
        for pid in range(1, 5):
            c.wait_for(PUBACK, pid=pid)
        ping_ok(c)

    def test_v311_not_limited(self):
        """3.1.1 has no Receive Maximum: the client is not disconnected."""
        c = self.c4()
        t = self.uid("rm4")
        c.send(b"".join(rawmqtt.publish(t, b"m", qos=1, pid=i + 1)
                        for i in range(10)))
        for pid in range(1, 11):
            c.wait_for(PUBACK, pid=pid)
        ping_ok(c)


# ------------------------------------- the client's Maximum Packet Size

class MaximumPacketSize(M5TestCase):
    """Nothing the server sends may exceed the Maximum Packet Size the
    client gave in CONNECT (MQTT-3.1.2-24), control packets included."""

    def connack_size(self):
        c = self.c5()
        return c.connack.wire_size

    def test_connack_that_fits_is_sent(self):
        n = self.connack_size()
        c = self.c5(props=[(MAXIMUM_PACKET_SIZE, n)])
        self.assertLessEqual(c.connack.wire_size, n)
        ping_ok(c)

    def test_connack_too_large_closes_without_it(self):
        n = self.connack_size()
        c = self.raw5()
        c.send(raw5.connect5(self.uid("mps"), props=[(MAXIMUM_PACKET_SIZE,
                                                      n - 1)]))
        got = c.wait_closed(5.0)
        self.assertEqual(got, [], "sent over Maximum Packet Size %d" % (n - 1))
        self.assertEqual(c.buf, b"")

    def test_assigned_client_id_too_large_closes(self):
        """An assigned client id cannot be left out: no CONNACK at all."""
        c = self.raw5()
        c.send(raw5.connect5("", props=[(MAXIMUM_PACKET_SIZE, 24)]))
        got = c.wait_closed(5.0)
        self.assertEqual(got, [], "sent over Maximum Packet Size 24")

    def test_refusing_connack_drops_reason_string(self):
        c = self.raw5()
        ack = c.connect(self.uid("mps"), props=[(MAXIMUM_PACKET_SIZE, 8),
                                                (AUTH_METHOD, "nope")])
        self.assertEqual(ack.rc, 0x8C, ack)
        self.assertLessEqual(ack.wire_size, 8, ack)
        self.assertNotIn(REASON_STRING, ack.props)
        c.wait_closed(5.0)
        # with room it does carry one
        c = self.raw5()
        ack = c.connect(self.uid("mps"), props=[(AUTH_METHOD, "nope")])
        self.assertEqual(ack.rc, 0x8C, ack)
        self.assertIn(REASON_STRING, ack.props)

    def filters(self, n):
        t = self.uid("mf")
        return [("%s/%03d" % (t, i), 0) for i in range(n)]

    def test_suback_too_large_closes(self):
        c = self.c5(props=[(MAXIMUM_PACKET_SIZE, 40)])
        # 20 filters: SUBACK 2 + 2 + 1 + 20 = 25 bytes, fits
        self.assertEqual(c.subscribe(self.filters(20), pid=1), [0] * 20)
        # 40 filters: 45 bytes, does not
        c.send(subscribe5(2, self.filters(40)))
        got = c.wait_closed(5.0)
        self.assertFalse([p for p in got if p.type == SUBACK], got)
        self.assertTrue(all(p.wire_size <= 40 for p in got), got)
        self.assertEqual([(p.type, p.rc) for p in got],
                         [(DISCONNECT, RC_PACKET_TOO_LARGE)])

    def test_unsuback_too_large_closes(self):
        c = self.c5(props=[(MAXIMUM_PACKET_SIZE, 40)])
        fl = self.filters(40)
        c.send(raw5.unsubscribe5(3, [f for f, _ in fl]))
        got = c.wait_closed(5.0)
        self.assertFalse([p for p in got if p.type == UNSUBACK], got)
        self.assertEqual([(p.type, p.rc) for p in got],
                         [(DISCONNECT, RC_PACKET_TOO_LARGE)])


if __name__ == "__main__":
    unittest.main()
