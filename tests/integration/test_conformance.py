"""MQTT behaviour the specification names, checked with raw packets (issue 11,
"MQTT behaviour to bring in line with the specification").

Every packet here is built by rawmqtt.py / raw5.py, independently of the
broker's codec.  Negative assertions ("nothing else arrived") are proved by a
sentinel sent afterwards on the same path.
"""

import select
import socket
import time
import unittest

import raw5
import rawmqtt
from raw5 import (M5TestCase, PUBLISH, PUBACK, PUBREC, PUBREL,
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


# ------------------------- half-close: the reason code reaches the client

class HalfClose(M5TestCase):
    """A socket closed with unread input makes Linux send RST, and the
    client's stack may drop the CONNACK/DISCONNECT it had not read yet. The
    broker half-closes and drains instead: the client reads the reason code
    and then EOF."""

    JUNK = 4 * 1024 * 1024

    def flood_then_read(self, first):
        """Send `first` and then as much more as the socket takes (the
        broker stops reading after `first`); return every byte the broker
        sent before EOF."""
        s = socket.create_connection(("127.0.0.1", self.broker.port), 5)
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            data = first + b"\x00" * self.JUNK
            sent = 0
            deadline = time.monotonic() + 3
            while sent < len(data) and time.monotonic() < deadline:
                try:
                    sent += s.send(data[sent:sent + 65536])
                except BlockingIOError:
                    # full: the broker no longer reads; leave it unread
                    if sent > len(first) + 256 * 1024:
                        break
                    select.select([], [s], [], 0.05)  # room again?
                except OSError:
                    break
            self.assertGreater(sent, len(first))
            s.settimeout(5)
            got = b""
            while True:
                try:
                    d = s.recv(65536)
                except ConnectionResetError:
                    self.fail("connection reset; read before it: %r" % got)
                if not d:
                    return got
                got += d
        finally:
            s.close()

    def test_refused_connack_survives_unread_input(self):
        got = self.flood_then_read(rawmqtt.connect("", clean=False))
        # 3.1.1 CONNACK 0x02: identifier rejected
        self.assertEqual(got, b"\x20\x02\x00\x02")

    def test_v5_disconnect_survives_unread_input(self):
        c = raw5.connect5(self.uid("hc"))
        # QoS 3 PUBLISH: malformed, DISCONNECT 0x81
        bad = bytes([0x36, 0x05]) + rawmqtt.mstr("a") + b"\x00\x01" [:3]
        got = self.flood_then_read(c + bad)
        self.assertEqual(got[0], 0x20, got[:10])
        n = got[1] + 2
        self.assertEqual(got[n:], b"\xe0\x01\x81",
                         "after CONNACK: %r" % got[n:])

    def test_disconnect_behind_unread_output_survives(self):
        """The DISCONNECT queued behind output the client has not read yet:
        a close() with unread input would reset the connection and throw
        away what the kernel had not sent."""
        t = self.uid("hcq")
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", self.broker.port))
        s.settimeout(5)
        try:
            c = rawmqtt.RawClient.__new__(raw5.Client5)
            c.t = rawmqtt.TcpTransport.__new__(rawmqtt.TcpTransport)
            c.t.sock = s
            c.buf, c.eof, c.backlog = b"", False, []
            self.assertEqual(c.connect(self.uid("hcs")).rc, 0)
            self.assertEqual(c.subscribe([(t, 0)]), [0])
            p = self.c5()
            body = b"p" * 4096
            p.send(b"".join(publish5(t, body) for _ in range(300)))
            p.publish(self.uid("sync"), b"", qos=1)  # all routed by now
            # the subscriber breaks the protocol (QoS 3 PUBLISH) and keeps
            # sending; it reads nothing yet
            bad = bytes([0x36, 0x05]) + rawmqtt.mstr("a") + b"\x00\x01"
            s.setblocking(False)
            data = bad + b"\x00" * (1 << 20)
            sent, deadline = 0, time.monotonic() + 3
            while sent < len(data) and time.monotonic() < deadline:
                try:
                    sent += s.send(data[sent:sent + 65536])
                except BlockingIOError:
                    if sent > 128 * 1024:
                        break
                    select.select([], [s], [], 0.05)  # room again?
                except OSError:
                    break
            s.settimeout(5)
            got = []
            try:
                while True:
                    got.append(c.recv_packet(5.0))
            except rawmqtt.Closed:
                pass
            except ConnectionResetError:
                self.fail("reset after %d packets, last %r"
                          % (len(got), got[-1:]))
            self.assertGreater(len(got), 1)
            self.assertEqual((got[-1].type, got[-1].rc), (DISCONNECT, 0x81),
                             got[-1])
        finally:
            s.close()

    def test_broker_serves_after_floods(self):
        ping_ok(self.c5())


# ---------------------- every matching Subscription Identifier (3.3.4-3)

class SubscriptionIds(M5TestCase):
    LEVELS = ["a", "b", "c", "d", "e"]

    def filters(self, root):
        """38 distinct filters that all match root/a/b/c/d/e."""
        out = []
        for mask in range(32):
            out.append("/".join([root] + ["+" if mask >> i & 1 else lv
                                          for i, lv in enumerate(self.LEVELS)]))
        for i in range(len(self.LEVELS) + 1):
            out.append("/".join([root] + self.LEVELS[:i] + ["#"]))
        return out

    def subscribe_each(self, c, filters, qos):
        for i, f in enumerate(filters):
            c.send(subscribe5(i + 1, [(f, qos)], props=[(SUBSCRIPTION_ID,
                                                          100 + i)]))
            self.assertEqual(c.wait_for(SUBACK, pid=i + 1).codes, [qos])
        return {100 + i for i in range(len(filters))}

    def ids(self, m):
        got = m.props.all(SUBSCRIPTION_ID)
        self.assertEqual(len(got), len(set(got)), "repeated ids: %r" % got)
        return set(got)

    def check(self, n, qos):
        root = self.uid("sid")
        s = self.c5()
        want = self.subscribe_each(s, self.filters(root)[:n], qos)
        self.c5().publish(root + "/a/b/c/d/e", b"x", qos=qos)
        m = s.recv_publish()
        self.assertEqual(self.ids(m), want)
        self.assertEqual(m.qos, qos)

    def test_six_ids_qos0(self):
        self.check(6, 0)

    def test_all_38_ids_qos1(self):
        self.check(38, 1)

    def test_all_38_ids_qos2(self):
        self.check(38, 2)

    def test_ids_kept_in_offline_queue_and_resend(self):
        root = self.uid("sidq")
        cid = self.uid("sidc")
        s = self.c5(cid, clean=True, props=[(raw5.SESSION_EXPIRY, 60)])
        want = self.subscribe_each(s, self.filters(root), 1)
        s.disconnect()
        p = self.c5()
        p.publish(root + "/a/b/c/d/e", b"q1", qos=1)
        p.publish(root + "/a/b/c/d/e", b"q2", qos=1)
        s = self.c5(cid, clean=False, props=[(raw5.SESSION_EXPIRY, 60)])
        first = s.recv_publish(ack=False)
        self.assertEqual(first.payload, b"q1")
        self.assertEqual(self.ids(first), want)
        s.close()  # q1 in flight, unacknowledged: sent again with DUP
        s = self.c5(cid, clean=False, props=[(raw5.SESSION_EXPIRY, 0)])
        again = s.recv_publish()
        self.assertEqual((again.payload, again.dup), (b"q1", 1))
        self.assertEqual(self.ids(again), want)
        second = s.recv_publish()
        self.assertEqual(second.payload, b"q2")
        self.assertEqual(self.ids(second), want)


# ---------------------------- mqtt.keepalive_max: Server Keep Alive (v5)

class ServerKeepAlive(M5TestCase):
    broker_mqtt = {"keepalive_max": 2}

    def test_announced_and_enforced(self):
        c = self.c5(keepalive=60)
        self.assertEqual(c.connack.props.get(SERVER_KEEP_ALIVE), 2, c.connack)
        t0 = time.monotonic()
        self.assertDisconnect(c, RC_KEEP_ALIVE_TIMEOUT, timeout=8)
        # 1.5 x 2 s (MQTT-3.1.2-22), checked by a 250 ms tick; not 1.5 x 60
        self.assertGreater(time.monotonic() - t0, 2.5)
        self.assertLess(time.monotonic() - t0, 5.0)

    def test_client_keeping_the_server_value_stays(self):
        c = self.c5(keepalive=60)
        self.assertEqual(c.connack.props.get(SERVER_KEEP_ALIVE), 2)
        end = time.monotonic() + 4.5
        while time.monotonic() < end:
            ping_ok(c)
            time.sleep(1.0)  # the client's own pace: one PINGREQ a second
        ping_ok(c)

    def test_lower_client_value_not_announced(self):
        c = self.c5(keepalive=1)
        self.assertNotIn(SERVER_KEEP_ALIVE, c.connack.props)


if __name__ == "__main__":
    unittest.main()
