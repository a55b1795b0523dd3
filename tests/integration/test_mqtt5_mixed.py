"""Mixed versions: 3.1.1 publisher to 5.0 subscriber and back (raw bytes
and paho, TCP and WebSocket).  A 3.1.1 subscriber must get a valid 3.1.1
PUBLISH (no properties on the wire) whatever the 5.0 publisher sent."""

import time
import unittest

import harness
from sentinel import nothing_before_sentinel
import raw5
from raw5 import (M5TestCase, USER_PROPERTY, CONTENT_TYPE, TOPIC_ALIAS,
                  MESSAGE_EXPIRY, SESSION_EXPIRY, CORRELATION_DATA)

PROPS = [(CONTENT_TYPE, "text/plain"), (CORRELATION_DATA, b"\x00\x01"),
         (USER_PROPERTY, ("k", "v")), (raw5.PAYLOAD_FORMAT, 1)]


class Mixed(M5TestCase):
    def check_v4_to_v5(self, qos, ws_pub=False, ws_sub=False):
        t = self.uid("m45")
        s = self.c5(ws=ws_sub)
        self.assertEqual(s.subscribe([(t, qos)]), [qos])
        p = self.client(self.uid("p4"), ws=ws_pub)
        p.publish(t, b"from-311", qos=qos)
        m = s.recv_publish()
        self.assertEqual((m.topic, m.payload, m.qos), (t, b"from-311", qos))
        self.assertNotIn(USER_PROPERTY, m.props)

    def test_v311_to_v5_qos0(self):
        self.check_v4_to_v5(0)

    def test_v311_to_v5_qos1(self):
        self.check_v4_to_v5(1)

    def test_v311_to_v5_qos2(self):
        self.check_v4_to_v5(2)

    def test_v311_to_v5_ws(self):
        self.check_v4_to_v5(1, ws_pub=True, ws_sub=True)

    def check_v5_to_v4(self, qos, ws_pub=False, ws_sub=False):
        t = self.uid("m54")
        s = self.client(self.uid("s4"), ws=ws_sub)
        self.assertEqual(s.subscribe([(t, qos)]), [qos])
        p = self.c5(ws=ws_pub)
        p.publish(t, b"from-5", qos=qos, props=PROPS)
        # rawmqtt parses 3.1.1: properties leaking onto the wire would
        # show up in the payload
        m = s.recv_publish()
        self.assertEqual((m.topic, m.payload, m.qos), (t, b"from-5", qos))

    def test_v5_to_v311_qos0(self):
        self.check_v5_to_v4(0)

    def test_v5_to_v311_qos1(self):
        self.check_v5_to_v4(1)

    def test_v5_to_v311_qos2(self):
        self.check_v5_to_v4(2)

    def test_v5_to_v311_ws(self):
        self.check_v5_to_v4(1, ws_pub=True, ws_sub=True)

    def test_v5_topic_alias_to_v311(self):
        t = self.uid("m54a")
        s = self.client(self.uid("s4"))
        s.subscribe([(t, 1)])
        p = self.c5()
        p.publish(t, b"1", qos=1, pid=1, props=[(TOPIC_ALIAS, 1)])
        p.publish("", b"2", qos=1, pid=2, props=[(TOPIC_ALIAS, 1)])
        got = [(m.topic, m.payload) for m in
               (s.recv_publish(), s.recv_publish())]
        self.assertEqual(got, [(t, b"1"), (t, b"2")])

    def test_v5_retained_with_properties_to_v311(self):
        t = self.uid("m54r")
        p = self.c5()
        p.publish(t, b"ret", qos=1, retain=True, props=PROPS)
        s = self.client(self.uid("s4"))
        s.subscribe([(t, 1)])
        m = s.recv_publish()
        self.assertEqual((m.payload, m.retain), (b"ret", True))
        p.publish(t, b"", qos=1, retain=True, pid=2)

    def test_v311_retained_to_v5(self):
        t = self.uid("m45r")
        p = self.client(self.uid("p4"))
        p.publish(t, b"ret4", qos=1, retain=True)
        s = self.c5()
        s.subscribe([(t, 1)])
        m = s.recv_publish()
        self.assertEqual((m.payload, m.retain), (b"ret4", True))
        p.publish(t, b"", qos=1, retain=True, pid=2)

    def test_v5_will_with_properties_to_v311(self):
        wt = self.uid("m54w")
        s = self.client(self.uid("s4"))
        s.subscribe([(wt, 1)])
        c = self.c5(will=(wt, b"will5", 1, False, PROPS))
        c.abort()
        self.assertEqual(s.recv_publish(timeout=4).payload, b"will5")

    def test_v311_will_to_v5(self):
        wt = self.uid("m45w")
        s = self.c5()
        s.subscribe([(wt, 1)])
        c = self.client(self.uid("w4"), will=(wt, b"will4", 1, False))
        c.abort()
        self.assertEqual(s.recv_publish(timeout=4).payload, b"will4")

    def test_message_expiry_applies_to_v311_offline_session(self):
        t, cid = self.uid("m54x"), self.uid("s4")
        s = self.client(cid, clean=False)
        s.subscribe([(t, 1)])
        s.disconnect()
        p = self.c5()
        p.publish(t, b"short", qos=1, pid=1, props=[(MESSAGE_EXPIRY, 1)])
        p.publish(t, b"long", qos=1, pid=2, props=[(MESSAGE_EXPIRY, 60)])
        time.sleep(2.2)  # part of what is tested: the 1 s expiry passes
        r = self.client(cid, clean=False)
        self.assertEqual(r.recv_publish().payload, b"long")
        self.assertEqual(nothing_before_sentinel(self, r, t), [])
        r.disconnect()
        self.client(cid, clean=True).disconnect()

    def check_paho(self, ws):
        import paho.mqtt.client as mqtt
        t = self.uid("mp")
        port = self.broker.ws_port if ws else self.broker.port
        s4 = harness.paho_client(port, self.uid("ps4"), ws=ws)
        s5 = raw5.paho5(port, self.uid("ps5"), ws=ws)
        try:
            harness.paho_subscribe(s4, t, 1)
            raw5.paho5_subscribe(s5, t, 1)
            props = raw5.publish_props(ContentType="text/plain")
            props.UserProperty = [("a", "1")]
            s5.publish(t, b"five", qos=1, properties=props)
            s4.publish(t, b"four", qos=1)
            got4 = sorted(m.payload for m in raw5.drain(s4.messages, 1.5))
            got5 = raw5.drain(s5.messages, 0.5)
            self.assertEqual(got4, [b"five", b"four"])
            by = {m.payload: m for m in got5}
            self.assertEqual(sorted(by), [b"five", b"four"])
            self.assertEqual(by[b"five"].properties.ContentType,
                             "text/plain")
            self.assertEqual(by[b"five"].properties.UserProperty,
                             [("a", "1")])
            self.assertFalse(hasattr(by[b"four"].properties, "UserProperty"))
        finally:
            harness.paho_stop(s4)
            raw5.paho5_stop(s5)

    def test_paho_v311_and_v5_tcp(self):
        self.check_paho(False)

    def test_paho_v311_and_v5_ws(self):
        self.check_paho(True)


if __name__ == "__main__":
    unittest.main()
