"""MQTT 5.0 CONNECT/CONNACK properties, server-sent DISCONNECT reason codes,
AUTH, request problem/response information.  TCP and WebSocket."""

import time
import unittest

import raw5
from raw5 import (M5TestCase, Timeout, is_mosquitto, CONNACK, DISCONNECT,
                  PUBACK, SUBACK)


class ConnackProperties(M5TestCase):
    """Default configuration (harness: max_packet_size 1048576)."""

    def _connack(self, ws=False, **kw):
        c = self.c5(ws=ws, **kw)
        return c, c.connack

    def check_advertised(self, ws):
        c, ack = self._connack(ws=ws)
        self.assertEqual(ack.rc, 0)
        self.assertFalse(ack.session_present)
        p = ack.props
        # receive maximum: the broker's own, advertised (absent = 65535)
        self.assertIn(raw5.RECEIVE_MAXIMUM, p, p)
        self.assertGreaterEqual(p.get(raw5.RECEIVE_MAXIMUM), 1)
        self.assertLess(p.get(raw5.RECEIVE_MAXIMUM), 65535)
        # topic alias maximum (absent = 0 = no aliases accepted)
        self.assertIn(raw5.TOPIC_ALIAS_MAXIMUM, p, p)
        self.assertGreater(p.get(raw5.TOPIC_ALIAS_MAXIMUM), 0)
        # maximum packet size, as configured
        self.assertEqual(p.get(raw5.MAXIMUM_PACKET_SIZE), 1048576, p)
        # features are available: absent or 1, never 0
        for flag in (raw5.WILDCARD_SUB_AVAILABLE, raw5.SUB_ID_AVAILABLE,
                     raw5.SHARED_SUB_AVAILABLE, raw5.RETAIN_AVAILABLE):
            self.assertIn(p.get(flag, 1), (1,), "flag %#x: %r" % (flag, p))
        for prop_id, _ in p.items:
            self.assertNotEqual(prop_id, raw5.ASSIGNED_CLIENT_ID,
                                "assigned id for a non-empty client id")
        c.disconnect()

    def test_connack_advertises_limits_tcp(self):
        self.check_advertised(False)

    def test_connack_advertises_limits_ws(self):
        self.check_advertised(True)

    def check_assigned_id(self, ws):
        a = self.raw5(ws=ws)
        ack = a.connect("", clean=True)
        self.assertEqual(ack.rc, 0, ack)
        aid = ack.props.get(raw5.ASSIGNED_CLIENT_ID)
        self.assertTrue(aid, "no assigned client identifier: %r" % ack)
        b = self.raw5(ws=ws)
        ack2 = b.connect("", clean=True)
        aid2 = ack2.props.get(raw5.ASSIGNED_CLIENT_ID)
        self.assertTrue(aid2)
        self.assertNotEqual(aid, aid2)
        # the assigned id is the real client id: reconnecting with it
        # takes the first connection over
        c = self.raw5(ws=ws)
        ack3 = c.connect(aid, clean=True)
        self.assertEqual(ack3.rc, 0)
        self.assertNotIn(raw5.ASSIGNED_CLIENT_ID, ack3.props)
        self.assertDisconnect(a, raw5.RC_SESSION_TAKEN_OVER,
                              mosq_may_omit=True)
        b.disconnect()
        c.disconnect()

    def test_assigned_client_identifier_tcp(self):
        self.check_assigned_id(False)

    def test_assigned_client_identifier_ws(self):
        self.check_assigned_id(True)

    def test_connect_user_properties_accepted(self):
        c = self.c5(props=[(raw5.USER_PROPERTY, ("k", "v")),
                           (raw5.USER_PROPERTY, ("k", "v2"))])
        self.assertEqual(c.connack.rc, 0)
        self.assertEqual(c.subscribe([(self.uid("t"), 1)]), [1])
        c.disconnect()

    def check_taken_over(self, ws):
        cid = self.uid("dup")
        a = self.c5(cid, ws=ws)
        b = self.c5(cid, ws=not ws)
        self.assertDisconnect(a, raw5.RC_SESSION_TAKEN_OVER,
                              mosq_may_omit=True)
        # the new connection works
        t = self.uid("t")
        self.assertEqual(b.subscribe([(t, 1)]), [1])
        b.disconnect()

    def test_session_taken_over_0x8e_tcp(self):
        self.check_taken_over(False)

    def test_session_taken_over_0x8e_ws(self):
        self.check_taken_over(True)

    # -- clean start / session present
    def test_clean_start_semantics(self):
        cid = self.uid("cs")
        exp = [(raw5.SESSION_EXPIRY, 60)]
        a = self.c5(cid, clean=False, props=exp)
        self.assertFalse(a.connack.session_present, "no session yet")
        a.disconnect()
        b = self.c5(cid, clean=False, props=exp)
        self.assertTrue(b.connack.session_present,
                        "clean start 0 resumes the session")
        b.disconnect()
        c = self.c5(cid, clean=True, props=exp)
        self.assertFalse(c.connack.session_present,
                         "clean start 1 discards the session")
        c.disconnect()

    # -- AUTH
    def check_auth_method_refused(self, ws):
        c = self.raw5(ws=ws)
        ack = c.connect(self.uid("auth"),
                        props=[(raw5.AUTH_METHOD, "SCRAM-SHA-1"),
                               (raw5.AUTH_DATA, b"client-first")])
        self.assertEqual(ack.rc, raw5.RC_BAD_AUTH_METHOD, ack)
        self.assertTrue(c.is_closed(5), "connection stays open after 0x8C")

    def test_auth_method_refused_0x8c_tcp(self):
        self.check_auth_method_refused(False)

    def test_auth_method_refused_0x8c_ws(self):
        self.check_auth_method_refused(True)

    def test_auth_packet_without_method_is_protocol_error(self):
        c = self.c5()
        c.send(raw5.auth5(0x18, [(raw5.AUTH_METHOD, "X")]))
        self.assertDisconnect(c, raw5.RC_PROTOCOL_ERROR, mosq_may_omit=True)
        self.assertServes()

    # -- request problem information
    def _invalid_utf8_puback(self, props):
        self.skipForMosquitto("2.0.11 does not validate payload format 1")
        c = self.c5(props=props)
        ack = c.publish(self.uid("pf"), b"\xff\xfe", qos=1,
                        props=[(raw5.PAYLOAD_FORMAT, 1)])
        c.disconnect()
        return ack

    def test_reason_string_on_failed_connack(self):
        self.skipForMosquitto("sends no reason strings")
        c = self.raw5()
        ack = c.connect(self.uid("auth"), props=[(raw5.AUTH_METHOD, "X")])
        self.assertEqual(ack.rc, raw5.RC_BAD_AUTH_METHOD, ack)
        self.assertTrue(ack.props.get(raw5.REASON_STRING),
                        "no reason string on a failed CONNACK: %r" % ack)

    def test_request_problem_information_0_suppresses_reason_string(self):
        ack = self._invalid_utf8_puback([(raw5.REQUEST_PROBLEM_INFO, 0)])
        self.assertEqual(ack.rc, raw5.RC_PAYLOAD_FORMAT_INVALID, ack)
        self.assertNotIn(raw5.REASON_STRING, ack.props, ack)
        self.assertNotIn(raw5.USER_PROPERTY, ack.props, ack)

    def test_request_response_information_not_configured(self):
        c = self.c5(props=[(raw5.REQUEST_RESPONSE_INFO, 1)])
        self.assertNotIn(raw5.RESPONSE_INFO, c.connack.props)
        c.disconnect()


class ProtocolErrors(M5TestCase):
    def test_second_connect_is_protocol_error_0x82(self):
        c = self.c5()
        c.send(raw5.connect5(self.uid("again")))
        self.assertDisconnect(c, raw5.RC_PROTOCOL_ERROR, mosq_may_omit=True)

    def check_connect_refused(self, props, code=raw5.RC_PROTOCOL_ERROR):
        c = self.raw5()
        c.send(raw5.connect5(self.uid("bad"), props=props))
        # must close; MAY send CONNACK with the reason code first (4.13)
        got = c.wait_closed(5)
        acks = [p for p in got if p.type == CONNACK]
        for a in acks:
            self.assertEqual(a.rc, code, got)

    def test_receive_maximum_0_in_connect_is_protocol_error(self):
        self.check_connect_refused([(raw5.RECEIVE_MAXIMUM, 0)])

    def test_maximum_packet_size_0_in_connect_is_protocol_error(self):
        self.check_connect_refused([(raw5.MAXIMUM_PACKET_SIZE, 0)])

    def test_retain_handling_3_is_protocol_error(self):
        c = self.c5()
        c.send(raw5.subscribe5(1, [(self.uid("t"), 0x30 | 1)]))
        # 3.8.3.1: "It is a Protocol Error to send a Retain Handling value
        # of 3" (Mosquitto 2.0.11 says Malformed)
        self.assertDisconnect(c, raw5.RC_PROTOCOL_ERROR,
                              mosq_alt=(raw5.RC_MALFORMED,))

    def test_no_local_on_shared_subscription_is_protocol_error(self):
        self.skipForMosquitto("2.0.11 accepts No Local on $share")
        c = self.c5()  # MQTT-3.8.3-4
        c.send(raw5.subscribe5(1, [("$share/g/" + self.uid("t"),
                                    raw5.subopts(1, no_local=True))]))
        self.assertDisconnect(c, raw5.RC_PROTOCOL_ERROR)

    def test_disconnect_session_expiry_after_zero_is_protocol_error(self):
        c = self.c5()  # no session expiry in CONNECT = 0
        c.send(raw5.disconnect5(0, [(raw5.SESSION_EXPIRY, 30)]))
        # the server MAY answer with DISCONNECT 0x82; it must close
        got = c.wait_closed(5)
        discs = [p for p in got if p.type == DISCONNECT]
        for d in discs:
            self.assertEqual(d.rc, raw5.RC_PROTOCOL_ERROR, got)
        # and the session must not have been kept (the change was refused)
        b = self.c5(c.client_id, clean=False,
                    props=[(raw5.SESSION_EXPIRY, 0)])
        self.assertFalse(b.connack.session_present)
        b.disconnect()

    def test_too_many_subscribe_entries_quota_exceeded_0x97(self):
        self.skipForMosquitto("no per-SUBSCRIBE entry limit")
        c = self.c5()
        base = self.uid("q")
        filters = [("%s/%d" % (base, i), 0) for i in range(1100)]
        c.send(raw5.subscribe5(1, filters))
        self.assertDisconnect(c, raw5.RC_QUOTA_EXCEEDED, timeout=10)
        self.assertServes()


class AckReasonCodes(M5TestCase):
    def test_unsuback_reason_codes(self):
        t = self.uid("u")
        c = self.c5()
        self.assertEqual(c.subscribe([(t, 1)]), [1])
        ua = c.unsubscribe([t, t + "/never"], pid=2)
        self.assertEqual(ua.codes, [0x00, 0x11], ua)

    def test_suback_granted_qos_per_filter(self):
        t = self.uid("s")
        c = self.c5()
        self.assertEqual(c.subscribe([(t + "/0", 0), (t + "/1", 1),
                                      (t + "/2", 2), (t + "/+/#", 2)]),
                         [0, 1, 2, 2])

    # 0x10 is a MAY in the standard (a Server that knows there are no
    # matching subscribers); Mosquitto uses it on PUBACK, not on PUBREC
    def test_puback_pubrec_no_matching_subscribers_0x10(self):
        t = self.uid("nm")
        c = self.c5()
        self.assertEqual(c.publish(t, b"x", qos=1, pid=1).rc,
                         raw5.RC_NO_MATCHING_SUBSCRIBERS)
        self.assertIn(c.publish(t, b"x", qos=2, pid=2).rc,
                      (0, raw5.RC_NO_MATCHING_SUBSCRIBERS))
        s = self.c5()
        s.subscribe([(t, 1)])
        self.assertEqual(c.publish(t, b"x", qos=1, pid=3).rc, 0)
        self.assertEqual(c.publish(t, b"x", qos=2, pid=4).rc, 0)


class KeepAlive(M5TestCase):
    def test_keep_alive_timeout_0x8d(self):
        c = self.c5(keepalive=1)
        t0 = time.monotonic()
        self.assertDisconnect(c, raw5.RC_KEEP_ALIVE_TIMEOUT, timeout=8,
                              mosq_may_omit=True)
        # 1.5 x keep alive, with slack; not before 1 s
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)

    def test_pings_keep_the_connection(self):
        c = self.c5(keepalive=1)
        for _ in range(5):
            time.sleep(0.5)  # part of what is tested: pings at half the keep alive
            c.send(raw5.rawmqtt.pingreq())
            c.expect(raw5.PINGRESP, 3)
        c.disconnect()


class ServerKeepAlive(M5TestCase):
    broker_mqtt = {"keepalive_max": 2}

    def setUp(self):
        super().setUp()
        self.skipForMosquitto("keepalive_max is a sluice config key")

    def check(self, ws):
        c = self.c5(keepalive=60, ws=ws)
        self.assertEqual(c.connack.props.get(raw5.SERVER_KEEP_ALIVE), 2,
                         c.connack)
        # and the broker enforces its own value (1.5 x 2 s)
        d = self.assertDisconnect(c, raw5.RC_KEEP_ALIVE_TIMEOUT, timeout=8)

    def test_server_keep_alive_caps_client_value_tcp(self):
        self.check(False)

    def test_server_keep_alive_caps_client_value_ws(self):
        self.check(True)

    def test_keep_alive_0_gets_server_keep_alive(self):
        c = self.c5(keepalive=0)
        self.assertEqual(c.connack.props.get(raw5.SERVER_KEEP_ALIVE), 2,
                         c.connack)
        c.disconnect()

    def test_lower_client_value_kept(self):
        c = self.c5(keepalive=1)
        self.assertIn(c.connack.props.get(raw5.SERVER_KEEP_ALIVE, 1), (1,),
                      c.connack)
        c.disconnect()


class RetainUnavailable(M5TestCase):
    broker_mqtt = {"retain_available": False}

    def setUp(self):
        super().setUp()
        self.skipForMosquitto("retain_available is a sluice config key")

    def check(self, ws):
        c = self.c5(ws=ws)
        self.assertEqual(c.connack.props.get(raw5.RETAIN_AVAILABLE), 0,
                         c.connack)
        c.send(raw5.publish5(self.uid("r"), b"x", qos=0, retain=True))
        self.assertDisconnect(c, raw5.RC_RETAIN_NOT_SUPPORTED)

    def test_retain_not_supported_0x9a_tcp(self):
        self.check(False)

    def test_retain_not_supported_0x9a_ws(self):
        self.check(True)

    def test_non_retained_publish_still_works(self):
        t = self.uid("t")
        s = self.c5()
        self.assertEqual(s.subscribe([(t, 1)]), [1])
        p = self.c5()
        p.publish(t, b"plain", qos=1)
        self.assertEqual(s.recv_publish().payload, b"plain")


class ResponseInformation(M5TestCase):
    broker_mqtt = {"response_information": "resp/"}

    def setUp(self):
        super().setUp()
        self.skipForMosquitto("response_information is a sluice config key")

    def check(self, ws):
        c = self.c5(ws=ws, props=[(raw5.REQUEST_RESPONSE_INFO, 1)])
        ri = c.connack.props.get(raw5.RESPONSE_INFO)
        self.assertIsNotNone(ri, c.connack)
        self.assertTrue(ri.startswith("resp/"), ri)
        # not sent unless requested
        d = self.c5(ws=ws)
        self.assertNotIn(raw5.RESPONSE_INFO, d.connack.props)
        d2 = self.c5(ws=ws, props=[(raw5.REQUEST_RESPONSE_INFO, 0)])
        self.assertNotIn(raw5.RESPONSE_INFO, d2.connack.props)

    def test_response_information_when_requested_tcp(self):
        self.check(False)

    def test_response_information_when_requested_ws(self):
        self.check(True)


if __name__ == "__main__":
    unittest.main()
