"""Hostile raw input: every case must close the connection (with the
CONNACK the specification names, where it names one) and leave the broker
serving other clients."""

import select
import socket
import struct
import time
import unittest

import rawmqtt as R
from harness import BrokerTestCase


class MalformedTest(BrokerTestCase):

    def hostile(self, data, connect_first=True, allowed=()):
        """Send data (after a good CONNECT if connect_first), expect the
        broker to close within 5 s, sending nothing but packet types in
        `allowed`; then a normal client must still be served."""
        c = self.raw()
        if connect_first:
            self.assertEqual(c.connect(self.uid("hostile")).rc, 0)
        c.try_send(data)
        got = c.wait_closed(5)
        bad = [p for p in got if p.type not in allowed]
        self.assertEqual(bad, [], "unexpected replies before close")
        self.assertTrue(self.broker.alive())
        self.assertServes()
        return got

    # -- first packet
    def test_first_packet_pingreq_closes(self):
        self.hostile(R.pingreq(), connect_first=False)

    def test_first_packet_publish_closes(self):
        self.hostile(R.publish("a/b", b"x"), connect_first=False)

    def test_first_packet_subscribe_closes(self):
        self.hostile(R.subscribe(1, [("a/b", 0)]), connect_first=False)

    def test_bad_protocol_level_connack_rc1(self):
        got = self.hostile(R.connect(self.uid(), level=2),
                           connect_first=False, allowed=(R.CONNACK,))
        self.assertEqual([p.rc for p in got], [1])

    def test_mqisdp_with_level_4_refused(self):
        got = self.hostile(R.connect(self.uid(), proto_name="MQIsdp",
                                     level=4),
                           connect_first=False, allowed=(R.CONNACK,))
        self.assertTrue(all(p.rc != 0 for p in got), got)

    def test_truncated_connect_closes(self):
        # remaining length says 12 but the client id string claims 100 bytes
        body = R.mstr("MQTT") + bytes([4, 2]) + b"\x00\x3c" + b"\x00\x64"
        self.hostile(R.packet(0x10, body), connect_first=False)

    # -- remaining length
    def test_five_byte_remaining_length_closes_first_packet(self):
        self.hostile(b"\x10\xff\xff\xff\xff\x01" + b"\x00" * 16,
                     connect_first=False)

    def test_five_byte_remaining_length_closes_after_connect(self):
        self.hostile(b"\x30\xff\xff\xff\xff\x01" + b"\x00" * 16)

    def stream_huge(self, header, connect_first):
        """Declare 200 MB, then stream zeros; the broker must close long
        before 200 MB and without buffering them."""
        c = self.raw()
        if connect_first:
            self.assertEqual(c.connect(self.uid("huge")).rc, 0)
        rss0 = self.broker.rss_kb()
        peak = rss0
        sock = c.t.sock
        sock.setblocking(True)
        sock.settimeout(5)
        try:
            sock.sendall(header)
        except OSError:
            pass
        chunk = b"\x00" * 65536
        sent = 0
        closed = False
        deadline = time.monotonic() + 15
        while sent < 64 * 1024 * 1024 and time.monotonic() < deadline:
            r, _, _ = select.select([sock], [], [], 0)
            if r:
                try:
                    if sock.recv(65536) == b"":
                        closed = True
                        break
                except OSError:
                    closed = True
                    break
            try:
                sock.sendall(chunk)
                sent += len(chunk)
            except socket.timeout:
                break  # broker stopped reading: check below
            except OSError:
                closed = True
                break
            if sent % (1024 * 1024) == 0:
                peak = max(peak, self.broker.rss_kb())
        if not closed:
            closed = c.is_closed(5)
        peak = max(peak, self.broker.rss_kb())
        self.assertTrue(closed, "still open after %d MB streamed" %
                        (sent >> 20))
        self.assertLess(sent, 64 * 1024 * 1024)
        self.assertLess(peak - rss0, 50 * 1024,
                        "broker RSS grew %d kB (from %d kB)" %
                        (peak - rss0, rss0))
        self.assertServes()

    def test_200mb_remaining_length_after_connect(self):
        self.stream_huge(b"\x30" + R.varint(200 * 1024 * 1024) +
                         R.mstr("big/topic"), True)

    def test_200mb_remaining_length_first_packet(self):
        self.stream_huge(b"\x10" + R.varint(200 * 1024 * 1024) +
                         R.mstr("MQTT") + b"\x04\x02\x00\x3c", False)

    def test_packet_over_max_packet_size_closes(self):
        t = self.uid("over")
        self.hostile(R.publish(t, b"\x00" * (1024 * 1024 + 10), qos=0))

    # -- PUBLISH
    def test_publish_invalid_utf8_topic_closes(self):
        self.hostile(R.publish(b"bad/\xff\xfe/topic", b"x"))

    def test_publish_overlong_utf8_topic_closes(self):
        self.hostile(R.publish(b"bad/\xc0\xaf", b"x"))

    def test_publish_utf16_surrogate_topic_closes(self):
        self.hostile(R.publish(b"bad/\xed\xa0\x80", b"x"))

    def test_publish_nul_in_topic_closes(self):
        self.hostile(R.publish(b"bad/\x00/x", b"x"))

    def test_publish_plus_wildcard_topic_closes(self):
        self.hostile(R.publish("a/+/b", b"x"))

    def test_publish_hash_wildcard_topic_closes(self):
        self.hostile(R.publish("a/#", b"x", qos=1, pid=1))

    def test_publish_empty_topic_closes(self):
        self.hostile(R.publish("", b"x"))

    def test_publish_qos1_packet_id_0_closes(self):
        self.hostile(R.publish("a/b", b"x", qos=1, pid=0))

    def test_publish_qos2_packet_id_0_closes(self):
        self.hostile(R.publish("a/b", b"x", qos=2, pid=0))

    def test_publish_qos3_closes(self):
        body = R.mstr("a/b") + b"\x00\x01x"
        self.hostile(R.packet(0x36, body))

    def test_publish_topic_length_beyond_packet_closes(self):
        self.hostile(R.packet(0x30, b"\x00\x50abc"))

    # -- other packets
    def test_subscribe_wrong_fixed_header_flags_closes(self):
        body = struct.pack("!H", 1) + R.mstr("a/b") + b"\x00"
        self.hostile(R.packet(0x80, body))

    def test_subscribe_without_filters_closes(self):
        self.hostile(R.packet(0x82, struct.pack("!H", 1)))

    def test_subscribe_requested_qos3_closes(self):
        self.hostile(R.subscribe(1, [("a/b", 3)]))

    def test_unsubscribe_wrong_fixed_header_flags_closes(self):
        body = struct.pack("!H", 1) + R.mstr("a/b")
        self.hostile(R.packet(0xA0, body))

    def test_pubrel_wrong_fixed_header_flags_closes(self):
        self.hostile(R.packet(0x60, struct.pack("!H", 1)))

    def test_reserved_packet_type_0_closes(self):
        self.hostile(b"\x00\x00")

    def test_reserved_packet_type_15_closes(self):
        self.hostile(b"\xf0\x00")

    def test_connack_from_client_closes(self):
        self.hostile(b"\x20\x02\x00\x00")

    def test_pingreq_with_payload_closes(self):
        self.skipForMosquitto("2.0.11 ignores a PINGREQ with a payload "
                              "(neither answers nor closes)")
        self.hostile(b"\xc0\x01\x00")

    def test_many_hostile_clients_do_not_disturb_a_session(self):
        t = self.uid("steady")
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        p = self.client(self.uid())
        bad = [R.pingreq(), b"\x30\xff\xff\xff\xff\x01", b"\xf0\x00",
               R.publish("x/#", b"")]
        for i in range(20):
            h = self.raw()
            if i % 2:
                h.connect(self.uid("h"))
            h.try_send(bad[i % len(bad)])
            h.wait_closed(5)
            p.publish(t, b"%d" % i, qos=1, pid=i + 1)
            self.assertEqual(s.recv_publish().payload, b"%d" % i)


if __name__ == "__main__":
    unittest.main()
