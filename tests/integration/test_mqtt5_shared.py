"""Shared subscriptions $share/<group>/<filter> for 3.1.1 and 5.0 clients,
TCP and WebSocket."""

import collections
import time
import unittest

import raw5
from raw5 import M5TestCase, SESSION_EXPIRY, is_mosquitto

N = 30


class Shared(M5TestCase):
    def _collect(self, clients, expect_total, timeout=5.0):
        """Receive (and ack) PUBLISHes on every client until expect_total
        arrived in all, then 0.5 s more to catch duplicates."""
        got = {id(c): [] for c in clients}
        deadline = time.monotonic() + timeout
        total = 0
        quiet_until = None
        while True:
            progressed = False
            for c in clients:
                try:
                    m = c.recv_publish(timeout=0.05)
                except raw5.Timeout:
                    continue
                got[id(c)].append(m.payload)
                total += 1
                progressed = True
            now = time.monotonic()
            if total >= expect_total and quiet_until is None:
                quiet_until = now + 0.5
            if quiet_until is not None and now > quiet_until:
                break
            if now > deadline:
                break
        return [got[id(c)] for c in clients]

    def _members(self, group, topic, kinds):
        """kinds: list of "v5", "v4", "ws5", "ws4"."""
        out = []
        f = "$share/%s/%s" % (group, topic)
        for k in kinds:
            ws = k.startswith("ws")
            if k.endswith("5"):
                c = self.c5(ws=ws)
                self.assertEqual(c.subscribe([(f, 1)]), [1])
            else:
                c = self.client(self.uid("m4"), ws=ws)
                self.assertEqual(c.subscribe([(f, 1)]), [1])
            out.append(c)
        return out

    def _publish_n(self, topic, n=N, v=5):
        p = self.c5() if v == 5 else self.c4()
        for i in range(n):
            p.publish(topic, b"%d" % i, qos=1, pid=i + 1)
        return [b"%d" % i for i in range(n)]

    def check_one_each(self, kinds):
        t = self.uid("sh")
        members = self._members("g", t, kinds)
        sent = self._publish_n(t)
        per = self._collect(members, len(sent))
        allgot = sorted(x for l in per for x in l)
        self.assertEqual(allgot, sorted(sent),
                         "each message exactly once to the group: %r" % per)
        for k, l in zip(kinds, per):
            self.assertGreaterEqual(len(l), len(sent) // len(kinds) // 2,
                                    "member %s got %d of %d: not spread %r"
                                    % (k, len(l), len(sent),
                                       [len(x) for x in per]))

    def test_one_member_per_message_v5(self):
        self.check_one_each(["v5", "v5", "v5"])

    def test_one_member_per_message_v311(self):
        self.check_one_each(["v4", "v4"])

    def test_one_member_per_message_mixed_versions(self):
        self.check_one_each(["v5", "v4", "v5", "v4"])

    def test_one_member_per_message_ws(self):
        self.check_one_each(["ws5", "ws4", "v5"])

    def test_two_groups_and_a_plain_subscriber_each_get_a_copy(self):
        t = self.uid("sh2")
        g1 = self._members("g1", t, ["v5", "v4"])
        g2 = self._members("g2", t, ["v5"])
        plain = self.c5()
        plain.subscribe([(t, 1)])
        sent = self._publish_n(t, 10)
        per = self._collect(g1 + g2 + [plain], 30)
        self.assertEqual(sorted(per[0] + per[1]), sorted(sent), per)
        self.assertEqual(sorted(per[2]), sorted(sent), per)
        self.assertEqual(per[3], sent, per)

    def test_shared_wildcard_filter(self):
        t = self.uid("shw")
        members = self._members("gw", t + "/#", ["v5", "v5"])
        p = self.c5()
        for i in range(10):
            p.publish("%s/%d/x" % (t, i), b"%d" % i, qos=1, pid=i + 1)
        per = self._collect(members, 10)
        self.assertEqual(sorted(per[0] + per[1]),
                         sorted(b"%d" % i for i in range(10)))

    def test_publisher_v311_to_v5_group(self):
        t = self.uid("sh4")
        members = self._members("g", t, ["v5", "v5"])
        sent = self._publish_n(t, 10, v=4)
        per = self._collect(members, 10)
        self.assertEqual(sorted(per[0] + per[1]), sorted(sent))

    def test_unsubscribed_member_gets_nothing(self):
        t = self.uid("shu")
        a, b = self._members("g", t, ["v5", "v5"])
        a.unsubscribe(["$share/g/" + t])
        sent = self._publish_n(t, 6)
        per = self._collect([a, b], 6)
        self.assertEqual(per[0], [])
        self.assertEqual(sorted(per[1]), sorted(sent))

    def test_no_retained_messages_on_shared_subscribe(self):
        self.skipForMosquitto("2.0.11 sends retained messages on $share")
        t = self.uid("shr")
        p = self.c5()
        p.publish(t, b"ret", qos=1, retain=True)
        s = self.c5()
        s.subscribe([("$share/g/" + t, 1)])
        self.assertTrue(s.no_packet(0.8), "retained message sent to a "
                        "shared subscription: %r" % s.backlog)
        p.publish(t, b"", qos=1, retain=True, pid=2)

    def check_redispatch(self, kind_a):
        t = self.uid("shd")
        f = "$share/g/" + t
        a = self.c5(ws=(kind_a == "ws5"))   # session expiry 0
        self.assertEqual(a.subscribe([(f, 1)]), [1])
        b = self.c5()
        self.assertEqual(b.subscribe([(f, 1)]), [1])
        sent = self._publish_n(t, 10)
        # a never acknowledges; b acknowledges
        held = []
        bgot = []
        deadline = time.monotonic() + 5
        while len(held) + len(bgot) < 10 and time.monotonic() < deadline:
            try:
                held.append(a.recv_publish(timeout=0.05, ack=False).payload)
            except raw5.Timeout:
                pass
            try:
                bgot.append(b.recv_publish(timeout=0.05).payload)
            except raw5.Timeout:
                pass
        self.assertEqual(sorted(held + bgot), sorted(sent))
        self.assertTrue(held, "member a got nothing; cannot test")
        a.abort()  # its session ends (expiry 0) with `held` unacknowledged
        more = self._collect([b], len(held), timeout=5)[0]
        self.assertEqual(sorted(more), sorted(held),
                         "unacknowledged QoS 1 messages of the departed "
                         "member not re-dispatched to the other member")

    def test_redispatch_unacked_on_member_disconnect_tcp(self):
        self.skipForMosquitto("2.0.11 does not re-dispatch")
        self.check_redispatch("v5")

    def test_redispatch_unacked_on_member_disconnect_ws(self):
        self.skipForMosquitto("2.0.11 does not re-dispatch")
        self.check_redispatch("ws5")

    def test_paho_v5_shared_ws(self):
        t = self.uid("shp")
        f = "$share/pg/" + t
        subs = [raw5.paho5(self.broker.ws_port, self.uid("ps"), ws=True)
                for _ in range(2)]
        pub = raw5.paho5(self.broker.ws_port, self.uid("pp"), ws=True)
        try:
            for s in subs:
                self.assertEqual(raw5.paho5_subscribe(s, f, 1), [1])
            for i in range(10):
                pub.publish(t, b"%d" % i, qos=1)
            got = [raw5.drain(s.messages, 2.0) for s in subs]
            payloads = sorted(m.payload for l in got for m in l)
            self.assertEqual(payloads, sorted(b"%d" % i for i in range(10)))
            self.assertTrue(all(got), [len(l) for l in got])
        finally:
            for c in subs + [pub]:
                raw5.paho5_stop(c)


if __name__ == "__main__":
    unittest.main()
