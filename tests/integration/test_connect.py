"""CONNECT validation, CONNACK codes, session takeover."""

import unittest

import rawmqtt as R
from harness import BrokerTestCase


class ConnectTest(BrokerTestCase):

    def test_mqtt311_connect_gets_connack_rc0(self):
        c = self.raw()
        ack = c.connect(self.uid(), clean=True, level=4)
        self.assertEqual(ack.first_byte, 0x20)
        self.assertEqual(len(ack.body), 2)
        self.assertEqual((ack.session_present, ack.rc), (False, 0))
        c.send(R.pingreq())
        self.assertEqual(c.expect(R.PINGRESP).body, b"")

    def test_mqtt31_mqisdp_level3_accepted(self):
        c = self.raw()
        ack = c.connect(self.uid(), clean=True, level=3, proto_name="MQIsdp")
        self.assertEqual(ack.rc, 0)
        # and it can actually use the session
        t = self.uid("t31")
        self.assertEqual(c.subscribe([(t, 1)]), [1])
        c.publish(t, b"v31", qos=1)
        m = c.recv_publish()
        self.assertEqual((m.topic, m.payload), (t, b"v31"))

    def test_unknown_level_6_gets_rc1_then_close(self):
        c = self.raw()
        c.send(R.connect(self.uid(), level=6))
        got = c.wait_closed(5)
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0].type, R.CONNACK)
        self.assertEqual(got[0].rc, 1)
        self.assertServes()

    def test_reserved_connect_flag_closes_without_connack(self):
        c = self.raw()
        # clean session + reserved bit 0
        c.send(R.connect(self.uid(), flags=0x03))
        got = c.wait_closed(5)
        self.assertEqual(got, [], "no CONNACK expected")
        self.assertServes()

    def test_wrong_protocol_name_closes(self):
        c = self.raw()
        c.send(R.connect(self.uid(), proto_name="MQTX", level=4))
        got = c.wait_closed(5)
        # 3.1.1 3.1.2-1: MAY close without CONNACK; a CONNACK must be refusal
        for p in got:
            self.assertEqual(p.type, R.CONNACK)
            self.assertNotEqual(p.rc, 0)

    def test_password_without_username_closes(self):
        # [MQTT-3.1.2-22]: password flag set, user name flag clear
        c = self.raw()
        body = (R.mstr("MQTT") + bytes([4, 0x42]) + b"\x00\x3c" +
                R.mstr(self.uid()) + R.mstr("secret"))
        c.send(R.packet(0x10, body))
        got = c.wait_closed(5)
        for p in got:
            self.assertEqual(p.type, R.CONNACK)
            self.assertNotEqual(p.rc, 0)
        self.assertServes()

    def test_will_qos3_closes(self):
        c = self.raw()
        c.send(R.connect(self.uid(), will=("w/x", b"p", 3, False)))
        got = c.wait_closed(5)
        self.assertTrue(all(p.type == R.CONNACK and p.rc != 0 for p in got),
                        got)

    def test_empty_client_id_clean_session_accepted(self):
        c = self.raw()
        ack = c.connect("", clean=True)
        self.assertEqual(ack.rc, 0)
        t = self.uid("anon")
        self.assertEqual(c.subscribe([(t, 0)]), [0])
        c.publish(t, b"x")
        self.assertEqual(c.recv_publish().payload, b"x")

    def test_two_empty_client_ids_are_distinct_sessions(self):
        a = self.raw()
        self.assertEqual(a.connect("", clean=True).rc, 0)
        b = self.raw()
        self.assertEqual(b.connect("", clean=True).rc, 0)
        # neither took over the other
        a.send(R.pingreq())
        b.send(R.pingreq())
        self.assertEqual(a.expect(R.PINGRESP).type, R.PINGRESP)
        self.assertEqual(b.expect(R.PINGRESP).type, R.PINGRESP)

    def test_empty_client_id_persistent_gets_rc2(self):
        c = self.raw()
        c.send(R.connect("", clean=False, level=4))
        got = c.wait_closed(5)
        self.assertEqual(len(got), 1, got)
        self.assertEqual((got[0].type, got[0].rc), (R.CONNACK, 2))

    def test_second_connect_on_same_connection_closes(self):
        c = self.client(self.uid())
        c.send(R.connect(self.uid()))
        got = c.wait_closed(5)
        self.assertEqual(got, [])
        self.assertServes()

    def test_session_present_flag(self):
        cid = self.uid("sp")
        c = self.raw()
        ack = c.connect(cid, clean=True)
        self.assertFalse(ack.session_present)
        c.disconnect()
        c = self.raw()
        ack = c.connect(cid, clean=False)
        self.assertFalse(ack.session_present, "no session existed")
        c.subscribe([("sp/" + cid, 1)])
        c.disconnect()
        c = self.raw()
        ack = c.connect(cid, clean=False)
        self.assertTrue(ack.session_present)
        c.disconnect()
        c = self.raw()
        ack = c.connect(cid, clean=True)
        self.assertFalse(ack.session_present, "clean session: flag must be 0")
        c.disconnect()

    def test_takeover_closes_first_connection(self):
        # 8 attempts, each with a fresh id and some extra connections in
        # between, so that with workers=2 the two connections land on
        # different workers at least some of the time.
        for attempt in range(8):
            cid = self.uid("tk")
            first = self.client(cid, clean=True)
            fillers = [self.client(self.uid("fill"))
                       for _ in range(attempt % 3)]
            second = self.client(cid, clean=True)
            got = first.wait_closed(5)
            self.assertEqual(got, [], "attempt %d" % attempt)
            second.send(R.pingreq())
            self.assertEqual(second.expect(R.PINGRESP).type, R.PINGRESP,
                             "attempt %d" % attempt)
            for f in fillers:
                f.disconnect()
            second.disconnect()

    def test_takeover_keeps_persistent_session(self):
        cid = self.uid("tkp")
        t = self.uid("tkp-topic")
        first = self.client(cid, clean=False)
        self.assertEqual(first.subscribe([(t, 1)]), [1])
        second = self.raw()
        ack = second.connect(cid, clean=False)
        self.assertEqual(ack.rc, 0)
        self.assertTrue(ack.session_present)
        first.wait_closed(5)
        pub = self.client(self.uid())
        pub.publish(t, b"after-takeover", qos=1)
        m = second.recv_publish()
        self.assertEqual((m.topic, m.payload), (t, b"after-takeover"))
        second.send(R.connect(cid, clean=True))  # cleanup: protocol error
        second.close()
        c = self.raw()
        c.connect(cid, clean=True)
        c.disconnect()

    def test_username_password_accepted_when_anonymous_allowed(self):
        c = self.raw()
        c.send(R.connect(self.uid(), username="user", password=b"pw\x00\xff"))
        self.assertEqual(c.expect(R.CONNACK).rc, 0)

    def test_long_utf8_client_id_accepted(self):
        cid = self.uid("long") + "-" + "\u00e9" * 100
        c = self.raw()
        self.assertEqual(c.connect(cid).rc, 0)
        c.send(R.pingreq())
        c.expect(R.PINGRESP)

    def test_connect_split_byte_by_byte(self):
        c = self.raw()
        import time
        for b in R.connect(self.uid()):
            c.send(bytes([b]))
            time.sleep(0.002)  # part of what is tested: one byte per read
        self.assertEqual(c.expect(R.CONNACK).rc, 0)

    def test_pipelined_connect_subscribe_publish_in_one_write(self):
        t = self.uid("pipe")
        c = self.raw()
        c.send(R.connect(self.uid()) + R.subscribe(3, [(t, 1)]) +
               R.publish(t, b"pipelined", qos=1, pid=4))
        self.assertEqual(c.expect(R.CONNACK).rc, 0)
        self.assertEqual(c.wait_for(R.SUBACK).granted, [1])
        self.assertEqual(c.wait_for(R.PUBACK).pid, 4)
        self.assertEqual(c.recv_publish().payload, b"pipelined")


if __name__ == "__main__":
    unittest.main()
