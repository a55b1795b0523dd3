"""MQTT 5.0 session expiry interval and message expiry interval."""

import time
import unittest

import raw5
from raw5 import M5TestCase, SESSION_EXPIRY, MESSAGE_EXPIRY
from sentinel import nothing_before_sentinel


class SessionExpiry(M5TestCase):
    def _persistent_sub(self, cid, topic, expiry, ws=False):
        s = self.c5(cid, clean=True, ws=ws,
                    props=[(SESSION_EXPIRY, expiry)] if expiry is not None
                    else None)
        self.assertEqual(s.subscribe([(topic, 1)]), [1])
        return s

    def _publish(self, topic, payloads):
        p = self.c5()
        for i, pl in enumerate(payloads):
            p.publish(topic, pl, qos=1, pid=i + 1)
        p.disconnect()

    def check_kept(self, ws, gone_how="disconnect"):
        cid, t = self.uid("se"), self.uid("t")
        s = self._persistent_sub(cid, t, 2, ws=ws)
        if gone_how == "disconnect":
            s.try_send(raw5.disconnect5())
            s.wait_closed()  # the broker has closed it: the session is offline
        else:
            s.abort()  # network drop, no DISCONNECT: nothing to wait on
        self._publish(t, [b"q1", b"q2"])
        # part of what is tested: ~1 s after the disconnect, within the 2 s
        time.sleep(1.0)
        r = self.c5(cid, clean=False, ws=ws, props=[(SESSION_EXPIRY, 2)])
        self.assertTrue(r.connack.session_present,
                        "session gone 1 s into a 2 s expiry")
        got = [m.payload for m in r.publishes(2)]
        self.assertEqual(got, [b"q1", b"q2"])
        r.disconnect()

    def test_session_kept_within_expiry_tcp(self):
        self.check_kept(False)

    def test_session_kept_within_expiry_ws(self):
        self.check_kept(True)

    def test_session_kept_after_network_drop(self):
        self.check_kept(False, gone_how="abort")

    def check_expired(self, ws):
        cid, t = self.uid("se"), self.uid("t")
        s = self._persistent_sub(cid, t, 2, ws=ws)
        s.try_send(raw5.disconnect5())
        s.wait_closed()  # the broker has closed it: the session is offline
        self._publish(t, [b"lost"])
        time.sleep(3.3)  # part of what is tested: past the 2 s expiry
        r = self.c5(cid, clean=False, ws=ws, props=[(SESSION_EXPIRY, 2)])
        self.assertFalse(r.connack.session_present,
                         "session still present 3.5 s into a 2 s expiry")
        # nothing queued, and the subscription is gone too: a sentinel to
        # a topic r subscribes now is the first thing r gets
        self.assertEqual(r.subscribe([(t + "/s", 1)]), [1])
        self._publish(t, [b"after"])
        self.assertEqual(nothing_before_sentinel(self, r, t + "/s"), [],
                         "queued message from an expired session, or the "
                         "old subscription still delivers")
        r.disconnect()

    def test_session_gone_after_expiry_tcp(self):
        self.check_expired(False)

    def test_session_gone_after_expiry_ws(self):
        self.check_expired(True)

    def test_expiry_0_ends_at_disconnect(self):
        for expiry in (None, 0):
            cid, t = self.uid("se0"), self.uid("t")
            s = self._persistent_sub(cid, t, expiry)
            s.try_send(raw5.disconnect5())
            s.wait_closed()  # the broker has closed it: the session ended
            self._publish(t, [b"x"])
            r = self.c5(cid, clean=False)
            self.assertFalse(r.connack.session_present,
                             "expiry %r kept the session" % expiry)
            self.assertEqual(r.subscribe([(t + "/s", 1)]), [1])
            self.assertEqual(nothing_before_sentinel(self, r, t + "/s"), [])
            r.disconnect()

    def test_disconnect_can_set_expiry_to_0(self):
        cid, t = self.uid("sed"), self.uid("t")
        s = self._persistent_sub(cid, t, 60)
        s.try_send(raw5.disconnect5(0, [(SESSION_EXPIRY, 0)]))
        s.wait_closed()  # the broker has closed it: the session ended
        r = self.c5(cid, clean=False, props=[(SESSION_EXPIRY, 60)])
        self.assertFalse(r.connack.session_present,
                         "DISCONNECT session expiry 0 did not end it")
        r.disconnect(0, [(SESSION_EXPIRY, 0)])

    def test_disconnect_can_shorten_expiry(self):
        cid, t = self.uid("sed"), self.uid("t")
        s = self._persistent_sub(cid, t, 60)
        s.disconnect(0, [(SESSION_EXPIRY, 1)])
        time.sleep(2.5)  # part of what is tested: the 1 s expiry passes
        r = self.c5(cid, clean=False, props=[(SESSION_EXPIRY, 60)])
        self.assertFalse(r.connack.session_present,
                         "DISCONNECT session expiry 1 not applied")
        r.disconnect(0, [(SESSION_EXPIRY, 0)])

    def test_clean_start_with_expiry_discards_old_but_keeps_new(self):
        cid, t = self.uid("csx"), self.uid("t")
        s = self._persistent_sub(cid, t, 60)
        s.disconnect()
        r = self.c5(cid, clean=True, props=[(SESSION_EXPIRY, 60)])
        self.assertFalse(r.connack.session_present)
        r.disconnect()
        self._publish(t, [b"no-sub"])  # old subscription was discarded
        r2 = self.c5(cid, clean=False, props=[(SESSION_EXPIRY, 60)])
        self.assertTrue(r2.connack.session_present,
                        "the new session (expiry 60) was not kept")
        self.assertEqual(r2.subscribe([(t + "/s", 1)]), [1])
        self.assertEqual(nothing_before_sentinel(self, r2, t + "/s"), [])
        r2.disconnect(0, [(SESSION_EXPIRY, 0)])


class MessageExpiry(M5TestCase):
    def test_expired_message_not_delivered_remaining_decremented(self):
        cid, t = self.uid("me"), self.uid("t")
        s = self.c5(cid, props=[(SESSION_EXPIRY, 60)])
        self.assertEqual(s.subscribe([(t, 1)]), [1])
        s.try_send(raw5.disconnect5())
        s.wait_closed()  # the broker has closed it: the session is offline
        p = self.c5()
        p.publish(t, b"short", qos=1, pid=1, props=[(MESSAGE_EXPIRY, 1)])
        p.publish(t, b"long", qos=1, pid=2, props=[(MESSAGE_EXPIRY, 30)])
        p.publish(t, b"forever", qos=1, pid=3)
        p.disconnect()
        time.sleep(2.5)  # part of what is tested: the 1 s message expiry passes
        r = self.c5(cid, clean=False, props=[(SESSION_EXPIRY, 60)])
        self.assertTrue(r.connack.session_present)
        got = r.publishes(2)
        self.assertEqual([m.payload for m in got], [b"long", b"forever"])
        self.assertEqual(nothing_before_sentinel(self, r, t), [],
                         "expired message delivered")
        rem = got[0].props.get(MESSAGE_EXPIRY)
        self.assertIsNotNone(rem, "message expiry not forwarded: %r" % got[0])
        self.assertLessEqual(rem, 28, "remaining interval not decremented "
                             "after 2.5 s offline")
        self.assertGreaterEqual(rem, 20)
        self.assertNotIn(MESSAGE_EXPIRY, got[1].props)
        r.disconnect(0, [(SESSION_EXPIRY, 0)])

    def test_expiry_forwarded_to_online_subscriber(self):
        t = self.uid("t")
        s = self.c5()
        s.subscribe([(t, 1)])
        p = self.c5()
        p.publish(t, b"x", qos=1, props=[(MESSAGE_EXPIRY, 100)])
        m = s.recv_publish()
        rem = m.props.get(MESSAGE_EXPIRY)
        self.assertIsNotNone(rem, m)
        self.assertTrue(95 <= rem <= 100, rem)

    def test_retained_message_expires(self):
        t = self.uid("t")
        p = self.c5()
        p.publish(t, b"old", qos=1, retain=True, props=[(MESSAGE_EXPIRY, 1)])
        s = self.c5()
        s.subscribe([(t, 1)])
        m = s.recv_publish()
        self.assertEqual(m.payload, b"old")
        self.assertTrue(m.retain)
        self.assertLessEqual(m.props.get(MESSAGE_EXPIRY, 99), 1)
        time.sleep(2.2)  # part of what is tested: the 1 s expiry passes
        s2 = self.c5()
        s2.subscribe([(t, 1)])
        # retained messages are queued at SUBSCRIBE, before the sentinel
        self.assertEqual(nothing_before_sentinel(self, s2, t), [],
                         "expired retained message sent")


if __name__ == "__main__":
    unittest.main()
