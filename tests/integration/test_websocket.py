"""MQTT over WebSocket: paho clients, and a hand-written raw WS client."""

import queue
import unittest

import rawmqtt as R
from harness import BrokerTestCase, paho_client, paho_subscribe, paho_stop


class PahoWebSocketTest(BrokerTestCase):

    def paho(self, ws, cid=None):
        c = paho_client(self.broker.ws_port if ws else self.broker.port,
                        cid or self.uid("paho"), ws=ws)
        self.addCleanup(paho_stop, c)
        return c

    def roundtrip(self, pub_ws, sub_ws, qos):
        t = self.uid("wsrt")
        sub = self.paho(sub_ws)
        self.assertEqual(paho_subscribe(sub, t, qos), (qos,))
        pub = self.paho(pub_ws)
        payload = ("%s->%s q%d" % (pub_ws, sub_ws, qos)).encode() * 50
        info = pub.publish(t, payload, qos=qos)
        info.wait_for_publish(5) if hasattr(info, "wait_for_publish") else None
        self.assertTrue(info.is_published())
        msg = sub.messages.get(timeout=5)
        self.assertEqual((msg.topic, msg.payload, msg.qos), (t, payload, qos))

    def test_ws_connect(self):
        c = self.paho(True)
        self.assertEqual(c.connack_rc, 0)

    def test_ws_to_tcp_qos0(self):
        self.roundtrip(True, False, 0)

    def test_ws_to_tcp_qos1(self):
        self.roundtrip(True, False, 1)

    def test_ws_to_tcp_qos2(self):
        self.roundtrip(True, False, 2)

    def test_tcp_to_ws_qos0(self):
        self.roundtrip(False, True, 0)

    def test_tcp_to_ws_qos1(self):
        self.roundtrip(False, True, 1)

    def test_tcp_to_ws_qos2(self):
        self.roundtrip(False, True, 2)

    def test_ws_to_ws_large_payload(self):
        t = self.uid("wsbig")
        sub = self.paho(True)
        paho_subscribe(sub, t, 1)
        pub = self.paho(True)
        payload = bytes(range(256)) * 1024  # 256 KiB: multi-frame sizes
        pub.publish(t, payload, qos=1).wait_for_publish(5)
        msg = sub.messages.get(timeout=10)
        self.assertEqual(msg.payload, payload)


class RawWebSocketTest(BrokerTestCase):

    def test_upgrade_response(self):
        c = self.raw(ws=True)
        self.assertEqual(c.t.status, 101)
        self.assertEqual(c.t.headers.get("sec-websocket-accept"),
                         c.t.expected_accept)
        self.assertEqual(c.t.headers.get("sec-websocket-protocol"), "mqtt")

    def test_packet_split_across_two_frames(self):
        c = self.raw(ws=True)
        pkt = R.connect(self.uid(), clean=True)
        c.t.send_frames([pkt[:5], pkt[5:]])
        ack = c.expect(R.CONNACK)
        self.assertEqual(ack.rc, 0)
        # and a PUBLISH split in the middle of its topic
        t = self.uid("split")
        c.subscribe([(t, 1)])
        pub = R.publish(t, b"split-payload", qos=1, pid=3)
        c.t.send_frames([pub[:4], pub[4:9], pub[9:]])
        got = [c.recv_packet(), c.recv_packet()]
        kinds = sorted(p.type for p in got)
        self.assertEqual(kinds, [R.PUBLISH, R.PUBACK])
        m = [p for p in got if p.type == R.PUBLISH][0]
        self.assertEqual((m.topic, m.payload), (t, b"split-payload"))

    def test_two_packets_in_one_frame(self):
        c = self.raw(ws=True)
        t = self.uid("two")
        c.t.send(R.connect(self.uid()) + R.subscribe(5, [(t, 0)]) +
                 R.pingreq())
        self.assertEqual(c.expect(R.CONNACK).rc, 0)
        suback = c.expect(R.SUBACK)
        self.assertEqual((suback.pid, suback.granted), (5, [0]))
        self.assertEqual(c.expect(R.PINGRESP).type, R.PINGRESP)

    def test_fragmented_websocket_message(self):
        c = self.raw(ws=True)
        pkt = R.connect(self.uid()) + R.pingreq()
        c.t.send_frames([pkt[:3], pkt[3:10], pkt[10:]], fragmented=True)
        self.assertEqual(c.expect(R.CONNACK).rc, 0)
        self.assertEqual(c.expect(R.PINGRESP).type, R.PINGRESP)

    def test_ws_ping_gets_pong(self):
        c = self.raw(ws=True)
        self.assertEqual(c.connect(self.uid()).rc, 0)
        c.t.send_raw(c.t.frame(b"hello", opcode=9))
        c.send(R.pingreq())
        c.expect(R.PINGRESP)
        self.assertIn(b"hello", c.t.pongs)

    def test_raw_ws_and_tcp_pubsub(self):
        t = self.uid("rawmix")
        ws = self.client(self.uid(), ws=True)
        ws.subscribe([(t, 2)])
        tcp = self.client(self.uid())
        tcp.subscribe([(t, 2)])
        tcp.publish(t, b"from-tcp", qos=2)
        ws.publish(t, b"from-ws", qos=2, pid=2)
        for c in (ws, tcp):
            got = sorted([c.recv_publish().payload, c.recv_publish().payload])
            self.assertEqual(got, [b"from-tcp", b"from-ws"])

    def test_wrong_path_refused(self):
        self.skipForMosquitto("accepts any path on a websockets listener")
        try:
            c = self.raw(ws=True, path="/not-mqtt")
        except R.Closed:
            return
        self.fail("upgrade on /not-mqtt accepted")

    def test_ws_close_without_disconnect_publishes_will(self):
        wt = self.uid("wswill")
        s = self.client(self.uid())
        s.subscribe([(wt, 1)])
        c = self.client(self.uid(), ws=True, will=(wt, b"ws-gone", 1, False))
        c.close()
        self.assertEqual(s.recv_publish().payload, b"ws-gone")

    def test_ws_close_frame_closes_and_publishes_will(self):
        wt = self.uid("wsclose")
        s = self.client(self.uid())
        s.subscribe([(wt, 1)])
        c = self.client(self.uid(), ws=True, will=(wt, b"closed", 1, False))
        c.t.send_raw(c.t.frame(b"\x03\xe8", opcode=8))
        self.assertTrue(c.is_closed(5))
        self.assertEqual(s.recv_publish().payload, b"closed")

    def test_text_frame_closes(self):
        # [MQTT-6.0.0-1]: data must be binary frames
        self.skipForMosquitto("2.0.11 accepts MQTT in text frames "
                              "(answers CONNACK)")
        c = self.raw(ws=True)
        c.t.send_frames([R.connect(self.uid())], opcode=1)
        got = c.wait_closed(5)
        self.assertEqual(got, [])

    def test_ws_keepalive_enforced(self):
        c = self.client(self.uid(), ws=True, keepalive=1)
        self.assertTrue(c.is_closed(6))

    def test_raw_ws_large_publish_64bit_frame_length(self):
        t = self.uid("wslarge")
        c = self.client(self.uid(), ws=True)
        c.subscribe([(t, 1)])
        payload = bytes((i * 13) & 0xFF for i in range(200 * 1024))
        c.publish(t, payload, qos=1, timeout=10)  # one 200 KiB frame
        m = c.recv_publish(10)
        self.assertEqual(m.payload, payload)

    # sluice: Debian's libwebsockets 4.1.6 accepts unmasked client frames and
    # gives the callback no way to see the mask bit (Mosquitto, on the same
    # library, behaves the same). Kept visible until the WS framing moves
    # off lws or lws learns to refuse them.
    @unittest.expectedFailure
    def test_unmasked_client_frame_closes(self):
        # RFC 6455 5.1: a server MUST close on an unmasked client frame
        self.skipForMosquitto("2.0.11 (libwebsockets) accepts unmasked "
                              "client frames")
        c = self.raw(ws=True)
        pkt = R.connect(self.uid())
        c.t.send_raw(bytes([0x82, len(pkt)]) + pkt)
        got = c.wait_closed(5)
        self.assertEqual(got, [])

    def test_garbage_http_request_then_broker_still_serves(self):
        import socket
        s = socket.create_connection(("127.0.0.1", self.broker.ws_port), 5)
        s.sendall(b"GARBAGE / FOO\r\n\x00\xff\r\n\r\n")
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()
        c = self.client(self.uid(), ws=True)
        c.send(R.pingreq())
        c.expect(R.PINGRESP)


if __name__ == "__main__":
    unittest.main()
