"""MQTT 5.0 will delay interval and will properties."""

import time
import unittest

import raw5
from raw5 import (M5TestCase, WILL_DELAY, SESSION_EXPIRY, USER_PROPERTY,
                  CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION_DATA,
                  PAYLOAD_FORMAT, MESSAGE_EXPIRY)


class WillDelay(M5TestCase):
    def _watch(self, topic):
        s = self.c5()
        self.assertEqual(s.subscribe([(topic, 1)]), [1])
        return s

    def test_will_sent_after_delay(self):
        wt = self.uid("w")
        s = self._watch(wt)
        c = self.c5(props=[(SESSION_EXPIRY, 60)],
                    will=(wt, b"gone", 1, False, [(WILL_DELAY, 2)]))
        c.abort()
        self.assertTrue(s.no_packet(1.2), "will sent before its 2 s delay: "
                        "%r" % s.backlog)
        m = s.recv_publish(timeout=5)
        self.assertEqual((m.topic, m.payload), (wt, b"gone"))

    def test_will_without_delay_sent_at_once(self):
        wt = self.uid("w0")
        s = self._watch(wt)
        c = self.c5(will=(wt, b"now", 1, False))
        c.abort()
        self.assertEqual(s.recv_publish(timeout=3).payload, b"now")

    def check_cancelled(self, ws):
        wt, cid = self.uid("wc"), self.uid("wcid")
        s = self._watch(wt)
        c = self.c5(cid, ws=ws, props=[(SESSION_EXPIRY, 60)],
                    will=(wt, b"cancel-me", 1, False, [(WILL_DELAY, 2)]))
        c.abort()
        # not a sync: the broker has nothing to show for noticing a dropped
        # connection, and reconnecting before it does tests a takeover
        # instead of a reconnection within the will delay
        time.sleep(0.5)
        r = self.c5(cid, clean=False, ws=ws, props=[(SESSION_EXPIRY, 60)])
        self.assertTrue(r.connack.session_present)
        # part of what is tested: past the 2 s delay, with margin (a
        # sentinel now would arrive before a will due in 2 s anyway)
        self.assertTrue(s.no_packet(3.0), "will sent although the client "
                        "reconnected within the delay: %r" % s.backlog)
        r.disconnect(0, [(SESSION_EXPIRY, 0)])
        self.assertTrue(s.no_packet(0.5), s.backlog)

    def test_will_cancelled_by_reconnect_within_delay_tcp(self):
        self.check_cancelled(False)

    def test_will_cancelled_by_reconnect_within_delay_ws(self):
        self.check_cancelled(True)

    def test_will_sent_when_session_ends_before_delay(self):
        wt = self.uid("we")
        s = self._watch(wt)
        c = self.c5(props=[(SESSION_EXPIRY, 1)],
                    will=(wt, b"session-end", 1, False, [(WILL_DELAY, 30)]))
        c.abort()
        m = s.recv_publish(timeout=6)
        self.assertEqual(m.payload, b"session-end")

    def test_normal_disconnect_discards_will(self):
        wt = self.uid("wn")
        s = self._watch(wt)
        c = self.c5(will=(wt, b"no", 1, False))
        c.disconnect(0)
        self.assertTrue(s.no_packet(1.0), s.backlog)

    def test_disconnect_with_will_message_0x04(self):
        wt = self.uid("w4")
        s = self._watch(wt)
        c = self.c5(will=(wt, b"yes", 1, False))
        c.disconnect(0x04)
        self.assertEqual(s.recv_publish(timeout=3).payload, b"yes")


class WillProperties(M5TestCase):
    def check(self, ws):
        wt = self.uid("wp")
        s = self.c5(ws=ws)
        s.subscribe([(wt, 1)])
        user = [("z", "1"), ("a", "2"), ("z", "1")]
        wprops = ([(PAYLOAD_FORMAT, 1), (CONTENT_TYPE, "text/x"),
                   (RESPONSE_TOPIC, "answer/here"),
                   (CORRELATION_DATA, b"\x00c")]
                  + [(USER_PROPERTY, kv) for kv in user])
        c = self.c5(ws=ws, will=(wt, "bye".encode(), 1, False, wprops))
        c.abort()
        m = s.recv_publish(timeout=4)
        self.assertEqual(m.payload, b"bye")
        self.assertEqual(m.props.get(PAYLOAD_FORMAT), 1, m)
        self.assertEqual(m.props.get(CONTENT_TYPE), "text/x")
        self.assertEqual(m.props.get(RESPONSE_TOPIC), "answer/here")
        self.assertEqual(m.props.get(CORRELATION_DATA), b"\x00c")
        self.assertEqual(m.user, user)

    def test_will_message_expiry_forwarded(self):
        wt = self.uid("wx")
        s = self.c5()
        s.subscribe([(wt, 1)])
        c = self.c5(will=(wt, b"bye", 1, False, [(MESSAGE_EXPIRY, 600)]))
        c.abort()
        m = s.recv_publish(timeout=4)
        self.assertTrue(590 <= m.props.get(MESSAGE_EXPIRY, 0) <= 600, m)

    def test_will_properties_forwarded_tcp(self):
        self.check(False)

    def test_will_properties_forwarded_ws(self):
        self.check(True)

    def test_retained_will_with_properties(self):
        wt = self.uid("wr")
        w = self.c5()
        w.subscribe([(wt, 1)])
        c = self.c5(will=(wt, b"last", 1, True,
                          [(USER_PROPERTY, ("k", "v"))]))
        c.abort()
        # published (and retained, before routing) once a watcher has it
        self.assertEqual(w.recv_publish(timeout=4).payload, b"last")
        s = self.c5()
        s.subscribe([(wt, 1)])
        m = s.recv_publish(timeout=4)
        self.assertTrue(m.retain)
        self.assertEqual(m.user, [("k", "v")])
        p = self.c5()
        p.publish(wt, b"", qos=1, retain=True)


if __name__ == "__main__":
    unittest.main()
