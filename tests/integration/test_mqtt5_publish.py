"""MQTT 5.0 PUBLISH properties forwarded intact, payload format validation,
topic aliases (inbound, and outbound limits), request/response.  Raw bytes
and paho, TCP and WebSocket."""

import queue
import unittest

import harness
import raw5
from raw5 import (M5TestCase, PAYLOAD_FORMAT, CONTENT_TYPE, RESPONSE_TOPIC,
                  CORRELATION_DATA, USER_PROPERTY, TOPIC_ALIAS,
                  TOPIC_ALIAS_MAXIMUM, PUBACK, PUBREC, is_mosquitto)

USER = [("b", "2"), ("a", "1"), ("b", "1"), ("a", "1"), ("ключ", "значение")]


def full_props():
    return ([(PAYLOAD_FORMAT, 1), (CONTENT_TYPE, "text/plain; charset=utf-8"),
             (RESPONSE_TOPIC, "reply/to/me"),
             (CORRELATION_DATA, b"\x00\x01\xffcorr")]
            + [(USER_PROPERTY, kv) for kv in USER])


class PublishProperties(M5TestCase):
    def check_forwarded(self, ws_pub, ws_sub, qos):
        t = self.uid("pp")
        s = self.c5(ws=ws_sub)
        self.assertEqual(s.subscribe([(t, qos)]), [qos])
        p = self.c5(ws=ws_pub)
        p.publish(t, "héllo".encode(), qos=qos, props=full_props())
        m = s.recv_publish()
        self.assertEqual(m.payload, "héllo".encode())
        self.assertEqual(m.props.get(PAYLOAD_FORMAT), 1, m)
        self.assertEqual(m.props.get(CONTENT_TYPE),
                         "text/plain; charset=utf-8")
        self.assertEqual(m.props.get(RESPONSE_TOPIC), "reply/to/me")
        self.assertEqual(m.props.get(CORRELATION_DATA), b"\x00\x01\xffcorr")
        self.assertEqual(m.user, USER, "user properties: order and "
                         "duplicates must be kept")

    def test_properties_forwarded_qos0_tcp(self):
        self.check_forwarded(False, False, 0)

    def test_properties_forwarded_qos1_tcp(self):
        self.check_forwarded(False, False, 1)

    def test_properties_forwarded_qos2_tcp(self):
        self.check_forwarded(False, False, 2)

    def test_properties_forwarded_qos1_ws(self):
        self.check_forwarded(True, True, 1)

    def test_properties_forwarded_tcp_to_ws(self):
        self.check_forwarded(False, True, 1)

    def test_properties_forwarded_to_offline_session(self):
        t, cid = self.uid("ppo"), self.uid("off")
        s = self.c5(cid, props=[(raw5.SESSION_EXPIRY, 60)])
        s.subscribe([(t, 1)])
        s.disconnect()
        p = self.c5()
        p.publish(t, b"stored", qos=1, props=full_props())
        r = self.c5(cid, clean=False, props=[(raw5.SESSION_EXPIRY, 60)])
        m = r.recv_publish()
        self.assertEqual(m.user, USER)
        self.assertEqual(m.props.get(CORRELATION_DATA), b"\x00\x01\xffcorr")
        self.assertEqual(m.props.get(CONTENT_TYPE),
                         "text/plain; charset=utf-8")
        r.disconnect(0, [(raw5.SESSION_EXPIRY, 0)])

    def test_properties_on_retained_message(self):
        t = self.uid("ppr")
        p = self.c5()
        p.publish(t, b"kept", qos=1, retain=True, props=full_props())
        s = self.c5()
        s.subscribe([(t, 1)])
        m = s.recv_publish()
        self.assertTrue(m.retain)
        self.assertEqual(m.user, USER)
        self.assertEqual(m.props.get(RESPONSE_TOPIC), "reply/to/me")
        p.publish(t, b"", qos=1, retain=True)

    def test_no_properties_added(self):
        t = self.uid("np")
        s = self.c5()
        s.subscribe([(t, 1)])
        p = self.c5()
        p.publish(t, b"bare", qos=1)
        m = s.recv_publish()
        ids = {pid for pid, _ in m.props.items}
        self.assertFalse(ids & {PAYLOAD_FORMAT, CONTENT_TYPE, RESPONSE_TOPIC,
                                CORRELATION_DATA, USER_PROPERTY,
                                raw5.MESSAGE_EXPIRY}, m)


class PayloadFormat(M5TestCase):
    def setUp(self):
        super().setUp()
        self.skipForMosquitto("2.0.11 does not validate payload format 1")

    def check_invalid(self, qos, ws=False):
        t = self.uid("pf")
        s = self.c5()
        s.subscribe([(t, 1)])
        p = self.c5(ws=ws)
        p.send(raw5.publish5(t, b"ok\xc3\x28bad", qos=qos, pid=7,
                             props=[(PAYLOAD_FORMAT, 1)]))
        ack = p.wait_for(PUBACK if qos == 1 else PUBREC, 5, pid=7)
        self.assertEqual(ack.rc, raw5.RC_PAYLOAD_FORMAT_INVALID, ack)
        self.assertTrue(s.no_packet(0.7), "invalid UTF-8 delivered: %r"
                        % s.backlog)
        # the connection stays usable; valid UTF-8 passes
        ack = p.publish(t, "ünïcode".encode(), qos=1, pid=8,
                        props=[(PAYLOAD_FORMAT, 1)])
        self.assertEqual(ack.rc, 0)
        self.assertEqual(s.recv_publish().payload, "ünïcode".encode())

    def test_invalid_utf8_puback_0x99(self):
        self.check_invalid(1)

    def test_invalid_utf8_pubrec_0x99(self):
        self.check_invalid(2)

    def test_invalid_utf8_puback_0x99_ws(self):
        self.check_invalid(1, ws=True)

    def test_surrogate_is_invalid_utf8(self):
        t = self.uid("pfs")
        p = self.c5()
        ack = p.publish(t, b"\xed\xa0\x80", qos=1,
                        props=[(PAYLOAD_FORMAT, 1)])
        self.assertEqual(ack.rc, raw5.RC_PAYLOAD_FORMAT_INVALID, ack)

    def test_payload_format_0_not_validated(self):
        t = self.uid("pf0")
        s = self.c5()
        s.subscribe([(t, 1)])
        p = self.c5()
        ack = p.publish(t, b"\xff\xfe", qos=1, props=[(PAYLOAD_FORMAT, 0)])
        self.assertEqual(ack.rc, 0)
        m = s.recv_publish()
        self.assertEqual(m.payload, b"\xff\xfe")


class TopicAliases(M5TestCase):
    def check_inbound(self, ws):
        t1, t2 = self.uid("ta1"), self.uid("ta2")
        s = self.c5()
        s.subscribe([(t1, 1), (t2, 1)])
        p = self.c5(ws=ws)
        amax = p.connack.props.get(TOPIC_ALIAS_MAXIMUM, 0)
        self.assertGreaterEqual(amax, 2, p.connack)
        p.publish(t1, b"a", qos=1, pid=1, props=[(TOPIC_ALIAS, 1)])
        p.publish("", b"b", qos=1, pid=2, props=[(TOPIC_ALIAS, 1)])
        p.publish(t2, b"c", qos=0, props=[(TOPIC_ALIAS, amax)])
        p.publish("", b"d", qos=1, pid=3, props=[(TOPIC_ALIAS, amax)])
        # remap alias 1
        p.publish(t2, b"e", qos=1, pid=4, props=[(TOPIC_ALIAS, 1)])
        p.publish("", b"f", qos=1, pid=5, props=[(TOPIC_ALIAS, 1)])
        got = [(m.topic, m.payload) for m in s.publishes(6)]
        self.assertEqual(got, [(t1, b"a"), (t1, b"b"), (t2, b"c"),
                               (t2, b"d"), (t2, b"e"), (t2, b"f")])

    def test_inbound_alias_tcp(self):
        self.check_inbound(False)

    def test_inbound_alias_ws(self):
        self.check_inbound(True)

    def test_inbound_alias_not_forwarded_to_client_without_aliases(self):
        t = self.uid("tan")
        s = self.c5()  # Topic Alias Maximum absent = 0
        s.subscribe([(t, 1)])
        p = self.c5()
        p.publish(t, b"1", qos=1, pid=1, props=[(TOPIC_ALIAS, 1)])
        p.publish("", b"2", qos=1, pid=2, props=[(TOPIC_ALIAS, 1)])
        for m in s.publishes(2):
            self.assertEqual(m.topic, t, m)
            self.assertNotIn(TOPIC_ALIAS, m.props, m)
        # a 3.1.1 subscriber too
        s4 = self.c4()
        s4.subscribe([(t, 1)])
        p.publish("", b"3", qos=1, pid=3, props=[(TOPIC_ALIAS, 1)])
        self.assertEqual(s4.recv_publish().topic, t)

    def test_outbound_aliases_within_client_maximum(self):
        t = self.uid("tao")
        s = self.c5(props=[(TOPIC_ALIAS_MAXIMUM, 2)])
        s.subscribe([(t, 1), (t + "/x", 1), (t + "/y", 1)])
        p = self.c5()
        topics = [t, t + "/x", t, t + "/y", t, t + "/x", t]
        for i, tt in enumerate(topics):
            p.publish(tt, b"%d" % i, qos=1, pid=i + 1)
        aliases = {}
        resolved = []
        for m in s.publishes(len(topics)):
            a = m.props.get(TOPIC_ALIAS)
            if a is None:
                self.assertTrue(m.topic, m)
                resolved.append(m.topic)
                continue
            self.assertTrue(1 <= a <= 2, "alias %d beyond client max 2" % a)
            if m.topic:
                aliases[a] = m.topic
                resolved.append(m.topic)
            else:
                self.assertIn(a, aliases, "alias used before set: %r" % m)
                resolved.append(aliases[a])
        self.assertEqual(resolved, topics)


class RequestResponse(M5TestCase):
    def check(self, ws):
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes
        req_t, resp_t = self.uid("req"), self.uid("resp")
        port = self.broker.ws_port if ws else self.broker.port
        responder = raw5.paho5(port, self.uid("responder"), ws=ws)
        requester = raw5.paho5(port, self.uid("requester"), ws=ws)
        try:
            raw5.paho5_subscribe(responder, req_t, 1)
            raw5.paho5_subscribe(requester, resp_t, 1)
            props = raw5.publish_props(ResponseTopic=resp_t,
                                       CorrelationData=b"id-42")
            props.UserProperty = [("x", "1"), ("x", "2")]
            requester.publish(req_t, b"question", qos=1, properties=props)
            m = responder.messages.get(timeout=5)
            self.assertEqual(m.payload, b"question")
            self.assertEqual(m.properties.ResponseTopic, resp_t)
            self.assertEqual(m.properties.CorrelationData, b"id-42")
            self.assertEqual(m.properties.UserProperty,
                             [("x", "1"), ("x", "2")])
            rp = raw5.publish_props(CorrelationData=m.properties.CorrelationData)
            responder.publish(m.properties.ResponseTopic, b"answer", qos=1,
                              properties=rp)
            r = requester.messages.get(timeout=5)
            self.assertEqual((r.topic, r.payload), (resp_t, b"answer"))
            self.assertEqual(r.properties.CorrelationData, b"id-42")
        finally:
            raw5.paho5_stop(responder)
            raw5.paho5_stop(requester)

    def test_request_response_paho_tcp(self):
        self.check(False)

    def test_request_response_paho_ws(self):
        self.check(True)

    def test_paho_all_publish_properties_ws(self):
        t = self.uid("pws")
        port = self.broker.ws_port
        sub = raw5.paho5(port, self.uid("s"), ws=True)
        pub = raw5.paho5(self.broker.port, self.uid("p"))
        try:
            raw5.paho5_subscribe(sub, t, 2)
            props = raw5.publish_props(PayloadFormatIndicator=1,
                                       ContentType="application/json",
                                       ResponseTopic="r/t",
                                       CorrelationData=b"\x01\x02",
                                       MessageExpiryInterval=3600)
            props.UserProperty = USER
            pub.publish(t, b'{"a":1}', qos=2, properties=props)
            m = sub.messages.get(timeout=5)
            mp = m.properties
            self.assertEqual(mp.PayloadFormatIndicator, 1)
            self.assertEqual(mp.ContentType, "application/json")
            self.assertEqual(mp.ResponseTopic, "r/t")
            self.assertEqual(mp.CorrelationData, b"\x01\x02")
            self.assertTrue(3590 <= mp.MessageExpiryInterval <= 3600)
            self.assertEqual(mp.UserProperty, USER)
        finally:
            raw5.paho5_stop(sub)
            raw5.paho5_stop(pub)


if __name__ == "__main__":
    unittest.main()
