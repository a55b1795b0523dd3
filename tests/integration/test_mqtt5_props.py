"""Invalid MQTT 5.0 property use, sent as raw bytes; each checks the exact
reason code the standard requires.

  - 2.2.2.2: an Identifier not valid for its packet type, or a value not of
    the specified data type, is a Malformed Packet (0x81).
  - each property: "It is a Protocol Error to include X more than once"
    (0x82).
  - 3.3.2.3.4: Topic Alias 0 or above the maximum: DISCONNECT 0x94.
  - 4.13: on an error in CONNECT the server MAY send CONNACK with the code
    and MUST close; on other packets it SHOULD send DISCONNECT with it.
"""

import struct
import unittest

import raw5
from raw5 import (M5TestCase, CONNACK, DISCONNECT, PAYLOAD_FORMAT,
                  MESSAGE_EXPIRY, CONTENT_TYPE, TOPIC_ALIAS, SESSION_EXPIRY,
                  RECEIVE_MAXIMUM, SUBSCRIPTION_ID, USER_PROPERTY,
                  WILL_DELAY, TOPIC_ALIAS_MAXIMUM, REQUEST_PROBLEM_INFO,
                  is_mosquitto)
from rawmqtt import mstr, packet, varint


def raw_publish(topic, prop_bytes, payload=b"p", qos=0, pid=1):
    """PUBLISH with hand-made property bytes (the length is added)."""
    body = mstr(topic)
    if qos:
        body += struct.pack("!H", pid)
    body += varint(len(prop_bytes)) + prop_bytes + payload
    return packet(0x30 | (qos << 1), body)


def P(pid, value):
    return raw5.encode_prop(pid, value)


class InvalidPublishProperties(M5TestCase):
    def send_bad(self, data, code, alternatives=(), **kw):
        c = self.c5()
        t = self.uid("bad")
        s = self.c5()
        s.subscribe([(t, 1)])
        c.send(data(t) if callable(data) else data)
        d = self.assertDisconnect(c, code, alternatives=alternatives, **kw)
        self.assertTrue(s.no_packet(0.3), "bad PUBLISH was delivered: %r"
                        % s.backlog)
        return d

    # duplicates: Protocol Error
    def test_duplicate_payload_format_indicator_0x82(self):
        self.send_bad(lambda t: raw_publish(
            t, P(PAYLOAD_FORMAT, 1) + P(PAYLOAD_FORMAT, 1), qos=1),
            raw5.RC_PROTOCOL_ERROR, mosq_may_omit=True)

    def test_duplicate_message_expiry_0x82(self):
        self.send_bad(lambda t: raw_publish(
            t, P(MESSAGE_EXPIRY, 10) + P(MESSAGE_EXPIRY, 20)),
            raw5.RC_PROTOCOL_ERROR, mosq_may_omit=True)

    def test_duplicate_content_type_0x82(self):
        self.send_bad(lambda t: raw_publish(
            t, P(CONTENT_TYPE, "a") + P(CONTENT_TYPE, "b"), qos=1),
            raw5.RC_PROTOCOL_ERROR, mosq_may_omit=True)

    def test_duplicate_topic_alias_0x82(self):
        self.send_bad(lambda t: raw_publish(
            t, P(TOPIC_ALIAS, 1) + P(TOPIC_ALIAS, 2)),
            raw5.RC_PROTOCOL_ERROR, mosq_may_omit=True)

    def test_duplicate_user_properties_are_fine(self):
        t = self.uid("dupu")
        s = self.c5()
        s.subscribe([(t, 1)])
        c = self.c5()
        c.send(raw_publish(t, P(USER_PROPERTY, ("a", "1")) +
                           P(USER_PROPERTY, ("a", "1")), qos=1))
        self.assertEqual(c.wait_for(raw5.PUBACK, 5).rc, 0)
        self.assertEqual(s.recv_publish().user, [("a", "1"), ("a", "1")])

    # not valid for PUBLISH: Malformed Packet
    def test_session_expiry_in_publish_0x81(self):
        self.send_bad(lambda t: raw_publish(t, P(SESSION_EXPIRY, 10), qos=1),
                      raw5.RC_MALFORMED)

    def test_receive_maximum_in_publish_0x81(self):
        self.send_bad(lambda t: raw_publish(t, P(RECEIVE_MAXIMUM, 10)),
                      raw5.RC_MALFORMED)

    def test_unknown_property_identifier_0x81(self):
        self.send_bad(lambda t: raw_publish(t, b"\x7f\x00\x01", qos=1),
                      raw5.RC_MALFORMED)

    def test_property_length_beyond_packet_0x81(self):
        def data(t):
            body = mstr(t) + varint(40) + P(PAYLOAD_FORMAT, 1)
            return packet(0x30, body)
        self.send_bad(data, raw5.RC_MALFORMED)

    def test_subscription_identifier_from_client_in_publish(self):
        # MQTT-3.3.4-6: a PUBLISH from a client MUST NOT contain one.  The
        # standard names no server reaction: either close with 0x81/0x82,
        # or accept it - but never forward the client's identifier.
        t = self.uid("sidc")
        s = self.c5()
        s.subscribe([(t, 1)])
        c = self.c5()
        c.send(raw_publish(t, P(SUBSCRIPTION_ID, 3), qos=1))
        got = []
        try:
            got.append(c.recv_packet(2))
        except (raw5.Timeout, raw5.Closed):
            pass
        if got and got[0].type == DISCONNECT:
            self.assertIn(got[0].rc, (raw5.RC_PROTOCOL_ERROR,
                                      raw5.RC_MALFORMED), got)
            self.assertTrue(s.no_packet(0.3), s.backlog)
            return
        if not got and c.eof:
            return
        self.assertTrue(got and got[0].type == raw5.PUBACK, got)
        m = s.recv_publish()
        self.assertEqual(m.props.all(SUBSCRIPTION_ID), [],
                         "client's Subscription Identifier forwarded: %r" % m)

    # topic aliases
    def test_topic_alias_0_is_0x94(self):
        self.send_bad(lambda t: raw_publish(t, P(TOPIC_ALIAS, 0), qos=1),
                      raw5.RC_TOPIC_ALIAS_INVALID,
                      mosq_alt=(raw5.RC_MALFORMED,))

    def test_topic_alias_above_maximum_is_0x94(self):
        c = self.c5()
        amax = c.connack.props.get(TOPIC_ALIAS_MAXIMUM, 0)
        c.send(raw_publish(self.uid("ta"), P(TOPIC_ALIAS, amax + 1), qos=1))
        self.assertDisconnect(c, raw5.RC_TOPIC_ALIAS_INVALID)

    def test_unmapped_alias_with_empty_topic_is_protocol_error(self):
        self.send_bad(raw_publish("", P(TOPIC_ALIAS, 1), qos=1),
                      raw5.RC_PROTOCOL_ERROR)

    def test_empty_topic_without_alias_is_protocol_error(self):
        # 3.3.2.1 calls it a Protocol Error; 0x90 (Topic Name invalid) is
        # the more specific code 4.13 allows
        self.send_bad(raw_publish("", b"", qos=1), raw5.RC_PROTOCOL_ERROR,
                      alternatives=(0x90,), mosq_alt=(raw5.RC_MALFORMED,))

    def test_broker_survives_and_serves(self):
        c = self.c5()
        c.send(raw_publish(self.uid("x"), P(PAYLOAD_FORMAT, 1) * 3))
        c.wait_closed(5)
        self.assertServes()


class InvalidSubscribeProperties(M5TestCase):
    def _sub(self, prop_bytes, opts=1):
        body = struct.pack("!H", 1) + varint(len(prop_bytes)) + prop_bytes
        body += mstr(self.uid("f")) + bytes([opts])
        return packet(0x82, body)

    def test_subscription_identifier_0_is_protocol_error(self):
        c = self.c5()
        c.send(self._sub(P(SUBSCRIPTION_ID, 0)))
        self.assertDisconnect(c, raw5.RC_PROTOCOL_ERROR,
                              mosq_alt=(raw5.RC_MALFORMED,))

    def test_duplicate_subscription_identifier_0x82(self):
        c = self.c5()
        c.send(self._sub(P(SUBSCRIPTION_ID, 1) + P(SUBSCRIPTION_ID, 2)))
        self.assertDisconnect(c, raw5.RC_PROTOCOL_ERROR, mosq_may_omit=True)

    def test_topic_alias_in_subscribe_0x81(self):
        c = self.c5()
        c.send(self._sub(P(TOPIC_ALIAS, 1)))
        self.assertDisconnect(c, raw5.RC_MALFORMED)

    def test_reserved_option_bits_are_malformed_0x81(self):
        c = self.c5()  # MQTT-3.8.3-5
        c.send(self._sub(b"", opts=0xC1))
        self.assertDisconnect(c, raw5.RC_MALFORMED)


class InvalidConnectProperties(M5TestCase):
    def check(self, code, props=None, will=None, raw_props=None):
        c = self.raw5()
        if raw_props is not None:
            data = raw5.connect5(self.uid("bad"))
            # rebuild with raw property bytes
            body = (mstr("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60)
                    + varint(len(raw_props)) + raw_props
                    + mstr(self.uid("bad")))
            data = packet(0x10, body)
        else:
            data = raw5.connect5(self.uid("bad"), props=props, will=will)
        c.send(data)
        got = c.wait_closed(5)
        acks = [p for p in got if p.type == CONNACK]
        self.assertEqual(len(acks), len(got), got)
        for a in acks:
            self.assertEqual(a.rc, code, "CONNACK reason code %#x, want %#x"
                             % (a.rc, code))

    def test_duplicate_session_expiry_0x82(self):
        self.check(raw5.RC_PROTOCOL_ERROR,
                   raw_props=P(SESSION_EXPIRY, 1) + P(SESSION_EXPIRY, 2))

    def test_duplicate_receive_maximum_0x82(self):
        self.check(raw5.RC_PROTOCOL_ERROR,
                   raw_props=P(RECEIVE_MAXIMUM, 1) + P(RECEIVE_MAXIMUM, 2))

    def test_payload_format_in_connect_properties_0x81(self):
        self.check(raw5.RC_MALFORMED, raw_props=P(PAYLOAD_FORMAT, 1))

    def test_will_delay_in_connect_properties_0x81(self):
        self.check(raw5.RC_MALFORMED, raw_props=P(WILL_DELAY, 1))

    def test_session_expiry_in_will_properties_0x81(self):
        self.check(raw5.RC_MALFORMED,
                   will=(self.uid("w"), b"x", 0, False,
                         [(SESSION_EXPIRY, 5)]))

    def test_request_problem_information_2_is_protocol_error(self):
        self.check(raw5.RC_PROTOCOL_ERROR,
                   raw_props=P(REQUEST_PROBLEM_INFO, 2))

    def test_topic_alias_maximum_is_fine(self):
        c = self.c5(props=[(TOPIC_ALIAS_MAXIMUM, 0)])
        self.assertEqual(c.connack.rc, 0)


if __name__ == "__main__":
    unittest.main()
