"""MQTT 5.0 subscription options (no local, retain as published, retain
handling 0/1/2) and subscription identifiers."""

import unittest

import raw5
from raw5 import M5TestCase, subopts, SUBSCRIPTION_ID


class NoLocal(M5TestCase):
    def check(self, ws):
        t = self.uid("nl")
        c = self.c5(ws=ws)
        self.assertEqual(c.subscribe([(t, subopts(1, no_local=True))]), [1])
        c.publish(t, b"own", qos=1, pid=1)
        self.assertTrue(c.no_packet(0.7), "own message with No Local: %r"
                        % c.backlog)
        o = self.c5()
        o.publish(t, b"other", qos=1)
        m = c.recv_publish()
        self.assertEqual(m.payload, b"other")

    def test_no_local_tcp(self):
        self.check(False)

    def test_no_local_ws(self):
        self.check(True)

    def test_without_no_local_own_messages_arrive(self):
        t = self.uid("nl0")
        c = self.c5()
        c.subscribe([(t, subopts(1))])
        c.publish(t, b"own", qos=1, pid=1)
        self.assertEqual(c.recv_publish().payload, b"own")

    def test_no_local_on_one_of_two_matching_subscriptions(self):
        t = self.uid("nl2")
        c = self.c5()
        c.subscribe([(t + "/a", subopts(1, no_local=True)),
                     (t + "/+", subopts(1))])
        c.publish(t + "/a", b"own", qos=1, pid=1)
        m = c.recv_publish()
        self.assertEqual(m.payload, b"own")
        self.assertTrue(c.no_packet(0.5), c.backlog)


class RetainAsPublished(M5TestCase):
    def test_retain_as_published(self):
        t = self.uid("rap")
        s1 = self.c5()
        s1.subscribe([(t, subopts(1, rap=True))])
        s0 = self.c5()
        s0.subscribe([(t, subopts(1, rap=False))])
        p = self.c5()
        p.publish(t, b"r", qos=1, retain=True, pid=1)
        m1, m0 = s1.recv_publish(), s0.recv_publish()
        self.assertTrue(m1.retain, "RAP=1 must keep the retain flag")
        self.assertFalse(m0.retain, "RAP=0 must clear the retain flag")
        p.publish(t, b"n", qos=1, retain=False, pid=2)
        self.assertFalse(s1.recv_publish().retain)
        # retained messages sent because of a new subscription: retain=1
        s2 = self.c5()
        s2.subscribe([(t, subopts(1, rap=False))])
        m = s2.recv_publish()
        self.assertEqual(m.payload, b"r")
        self.assertTrue(m.retain)
        p.publish(t, b"", qos=1, retain=True, pid=3)


class RetainHandling(M5TestCase):
    def _retained(self):
        t = self.uid("rh")
        p = self.c5()
        p.publish(t, b"kept", qos=1, retain=True)
        p.disconnect()

        def clear():
            c = raw5.Client5(self.broker.port)
            c.connect(self.uid("clr"))
            c.publish(t, b"", qos=1, retain=True)
            c.disconnect()
        self.addCleanup(clear)
        return t

    def test_rh0_sends_on_every_subscribe(self):
        t = self._retained()
        s = self.c5()
        s.subscribe([(t, subopts(1, rh=0))], pid=1)
        self.assertEqual(s.recv_publish().payload, b"kept")
        s.subscribe([(t, subopts(1, rh=0))], pid=2)
        m = s.recv_publish()
        self.assertEqual(m.payload, b"kept")
        self.assertTrue(m.retain)

    def test_rh1_sends_only_for_new_subscription(self):
        t = self._retained()
        s = self.c5()
        s.subscribe([(t, subopts(1, rh=1))], pid=1)
        self.assertEqual(s.recv_publish().payload, b"kept")
        s.subscribe([(t, subopts(1, rh=1))], pid=2)
        self.assertTrue(s.no_packet(0.7), "rh=1 resent retained on an "
                        "existing subscription: %r" % s.backlog)
        # after unsubscribe it is new again
        s.unsubscribe([t], pid=3)
        s.subscribe([(t, subopts(1, rh=1))], pid=4)
        self.assertEqual(s.recv_publish().payload, b"kept")

    def test_rh2_never_sends_retained(self):
        t = self._retained()
        s = self.c5()
        s.subscribe([(t, subopts(1, rh=2))], pid=1)
        self.assertTrue(s.no_packet(0.7), "rh=2 sent retained: %r"
                        % s.backlog)
        # but live messages still arrive
        p = self.c5()
        p.publish(t, b"live", qos=1)
        self.assertEqual(s.recv_publish().payload, b"live")
        p.publish(t, b"kept", qos=1, retain=True, pid=2)  # restore


class SubscriptionIdentifiers(M5TestCase):
    def check_two(self, ws):
        t = self.uid("sid")
        s = self.c5(ws=ws)
        s.subscribe([(t + "/#", 1)], pid=1, props=[(SUBSCRIPTION_ID, 5)])
        s.subscribe([(t + "/+", 1)], pid=2, props=[(SUBSCRIPTION_ID, 300)])
        s.subscribe([(t + "/a", 1)], pid=3)  # no identifier
        p = self.c5()
        p.publish(t + "/a", b"x", qos=1)
        got = [s.recv_publish()]
        while not s.no_packet(0.5):
            got.append(s.recv_publish())
        ids = [sorted(m.props.all(SUBSCRIPTION_ID)) for m in got]
        union = sorted(i for l in ids for i in l)
        self.assertEqual(union, [5, 300], "subscription ids %r" % got)
        if len(got) == 1:
            self.assertEqual(ids[0], [5, 300])
        else:
            # one copy per subscription: each carries its own id (or none)
            self.assertEqual(len(got), 3, got)
            self.assertEqual(sorted(map(len, ids)), [0, 1, 1], ids)
        # a message matching one subscription carries just its id
        p.publish(t + "/b/c", b"y", qos=1, pid=2)
        m = s.recv_publish()
        self.assertEqual(m.props.all(SUBSCRIPTION_ID), [5])
        self.assertTrue(s.no_packet(0.3), s.backlog)

    def test_several_identifiers_tcp(self):
        self.check_two(False)

    def test_several_identifiers_ws(self):
        self.check_two(True)

    def test_identifier_replaced_on_resubscribe(self):
        t = self.uid("sidr")
        s = self.c5()
        s.subscribe([(t, 1)], pid=1, props=[(SUBSCRIPTION_ID, 1)])
        s.subscribe([(t, 1)], pid=2, props=[(SUBSCRIPTION_ID, 2)])
        p = self.c5()
        p.publish(t, b"x", qos=1)
        self.assertEqual(s.recv_publish().props.all(SUBSCRIPTION_ID), [2])
        s.subscribe([(t, 1)], pid=3)  # no id now
        p.publish(t, b"y", qos=1, pid=2)
        self.assertEqual(s.recv_publish().props.all(SUBSCRIPTION_ID), [])

    def test_identifier_on_retained_and_queued(self):
        t, cid = self.uid("sidq"), self.uid("q")
        p = self.c5()
        p.publish(t, b"ret", qos=1, retain=True)
        s = self.c5(cid, props=[(raw5.SESSION_EXPIRY, 60)])
        s.subscribe([(t, 1)], props=[(SUBSCRIPTION_ID, 268435455)])
        m = s.recv_publish()
        self.assertEqual(m.payload, b"ret")
        self.assertEqual(m.props.all(SUBSCRIPTION_ID), [268435455])
        s.disconnect()
        p.publish(t, b"queued", qos=1, pid=2)
        r = self.c5(cid, clean=False, props=[(raw5.SESSION_EXPIRY, 60)])
        m = r.recv_publish()
        self.assertEqual(m.payload, b"queued")
        self.assertEqual(m.props.all(SUBSCRIPTION_ID), [268435455])
        r.disconnect(0, [(raw5.SESSION_EXPIRY, 0)])
        p.publish(t, b"", qos=1, retain=True, pid=3)

    def test_identifier_on_shared_subscription(self):
        t = self.uid("sids")
        s = self.c5()
        s.subscribe([("$share/g/" + t, 1)], props=[(SUBSCRIPTION_ID, 9)])
        p = self.c5()
        p.publish(t, b"x", qos=1)
        self.assertEqual(s.recv_publish().props.all(SUBSCRIPTION_ID), [9])


if __name__ == "__main__":
    unittest.main()
