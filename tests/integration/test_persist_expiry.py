"""Expiry across restarts (issue 5, MQTT 5): a session's expiry interval
keeps counting while the broker is down or restarting, and an expired
session is gone after the restart; messages whose Message Expiry Interval
passed are dropped from a recovered queue; sessions with a long expiry
stay."""

import os
import time
import unittest

import rawmqtt
from persist_util import (PersistCase, PipelinedPublisher, Receiver,
                          publish5, subscribe5_ok, v5_payload, v5_reason)


class ExpiryAcrossRestart(PersistCase, unittest.TestCase):

    def make_session(self, b, cid, expiry, topic):
        c = b.client5(cid, clean=True, expiry=expiry)
        self.assertEqual(subscribe5_ok(c, [(topic, 1)]), [1])
        # sessions are not fsync-acknowledged: their records, with the
        # disconnect time expiry counts from, are committed at the EOF
        b.disconnect_settled(c)

    def test_session_expiry_2s_gone_3s_after_restart(self):
        b = self.broker(sync="always")
        b.start()
        t = "exp/%d" % os.getpid()
        short, long_ = "exp-s-%d" % os.getpid(), "exp-l-%d" % os.getpid()
        self.make_session(b, short, 2, t)
        self.make_session(b, long_, 3600, t)
        b.kill9()
        b.start()
        # part of what is tested: let the 2 s expiry pass (counting from
        # the disconnect, so 3 s after the restart is past it with margin)
        time.sleep(3.0)
        c = self.track(b.client5(short, clean=False, expiry=2))
        self.assertEqual(c.connack.session_present, 0,
                         "session with expiry 2 s still there 3 s later")
        c = self.track(b.client5(long_, clean=False, expiry=3600,
                                 present=1))
        # ... and its subscription works without resubscribing
        p = self.track(b.client5("exp-p-%d" % os.getpid()))
        p.send(publish5(t, b"still", qos=1, pid=1))
        self.assertEqual(v5_reason(p.wait_for(rawmqtt.PUBACK, pid=1)), 0)
        m = c.wait_for(rawmqtt.PUBLISH)
        self.assertEqual(v5_payload(m), b"still")

    def test_session_expires_while_broker_is_down(self):
        b = self.broker(sync="always")
        b.start()
        cid = "exp-down-%d" % os.getpid()
        self.make_session(b, cid, 2, "expdown/%d" % os.getpid())
        b.kill9()
        time.sleep(3.0)  # the broker is down for longer than the expiry
        b.start()
        c = self.track(b.client5(cid, clean=False, expiry=2))
        self.assertEqual(c.connack.session_present, 0,
                         "session expired while the broker was down was "
                         "restored")

    def test_session_not_expired_yet_is_restored(self):
        b = self.broker(sync="always")
        b.start()
        cid = "exp-keep-%d" % os.getpid()
        self.make_session(b, cid, 30, "expkeep/%d" % os.getpid())
        b.kill9()
        b.start()
        self.track(b.client5(cid, clean=False, expiry=30, present=1))

    def test_expired_queued_message_dropped(self):
        b = self.broker(sync="always")
        b.start()
        t = "expmsg/%d" % os.getpid()
        cid = "expmsg-sub-%d" % os.getpid()
        self.make_session(b, cid, 3600, t)
        p = self.track(b.client5("expmsg-pub-%d" % os.getpid()))
        p.send(publish5(t, b"short-lived", qos=1, pid=1, msg_expiry=2))
        p.send(publish5(t, b"long-lived", qos=1, pid=2, msg_expiry=3600))
        p.send(publish5(t, b"forever", qos=1, pid=3))
        for pid in (1, 2, 3):
            self.assertEqual(v5_reason(p.wait_for(rawmqtt.PUBACK, pid=pid)),
                             0)
        b.kill9()
        time.sleep(3.0)  # part of what is tested: the 2 s message expiry passes
        b.start()
        s = self.track(b.client5(cid, clean=False, expiry=3600, present=1))
        rv = Receiver(s, level=5).until_sentinel(b.sentinel(t),
                                                 timeout=15)
        self.assertEqual(sorted(rv.payloads()), [b"forever", b"long-lived"])


if __name__ == "__main__":
    unittest.main()
