"""Cluster black-box tests: a persistent session follows its client to the
node it connects to (docs/CLUSTER.md, "Sessions that move").

One mock Kafka (3 brokers) and three nodes (cluster_util), raw MQTT 5
clients (raw5) so that packet ids, DUP flags and PUBREL/PUBCOMP are seen as
sent.  Every wait is bounded and on a sync point (a packet, a metric, a log
line); "nothing more arrived" is proved by a sentinel on the same topic
(the same Kafka partition, so in order).

Run by hand:
  cd tests/integration && SLUICE_BIN=../../build/sluice \\
    SLUICE_KAFKA_MOCK=../../build/sluice-kafka-mock \\
    /usr/bin/python3 -m unittest -v test_cluster_move
"""

import json
import re
import time
import unittest

import cluster_util as cu
import kafka_util as ku
import raw5
from raw5 import PUBCOMP, PUBLISH, PUBREC, PUBREL, ack5, publish5

MOVED_IN = "sluice_cluster_sessions_moved_in_total"
MOVED_OUT = "sluice_cluster_sessions_moved_out_total"
TAKEOVERS = "sluice_cluster_takeovers_total"
WILLS_HELD = "sluice_cluster_wills_held"
WILLS_FIRED = "sluice_cluster_wills_fired_total"
KEEP = [(raw5.SESSION_EXPIRY, 300)]
N = 1000  # messages of each stream in the load test


class Move(cu.NodesCase):
    def c5(self, node, cid, clean=True, props=None, timeout=10):
        c = raw5.Client5(node.port, timeout=timeout)
        self.clients.append(c)
        ack = c.connect(cid, clean=clean, props=props)
        self.assertEqual(ack.rc, 0, "%s on %s: CONNACK 0x%02x" % (cid, node.node_id, ack.rc))
        return c, ack

    def until_sentinel(self, c, topic, end=b"end", timeout=15):
        """Payloads c receives (acked) up to `end` on topic."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "no sentinel on %s; got %r" % (topic, got))
            p = c.recv_publish(left, ack=True)
            if p.topic == topic and p.payload == end:
                return got
            got.append((p.topic, p.payload))

    def probe(self, pub, sub, topic, timeout=15):
        """Publish on topic from pub's node until sub gets one: that node
        knows sub's node's interest (a message arriving is the sync point)."""
        deadline = time.monotonic() + timeout
        i = 0
        while time.monotonic() < deadline:
            i += 1
            pub.publish(topic, b"probe %d" % i, qos=1, pid=100 + i % 100)
            try:
                p = sub.recv_publish(0.3, ack=True)
                if p.payload.startswith(b"probe"):
                    return
            except raw5.rawmqtt.Timeout:
                pass
        self.fail("no probe on %s arrived" % topic)

    def test_offline_session_moves_with_queue_and_subscriptions_and_back(self):
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        cid = "mv-off"
        sub, _ = self.c5(n1, cid, props=KEEP)
        self.assertEqual(sub.subscribe([("mv/o/a/#", 1)], pid=1,
                                       props=[(raw5.SUBSCRIPTION_ID, 7)]), [1])
        self.assertEqual(sub.subscribe([("mv/o/b/#", 2)], pid=2), [2])
        sub.disconnect()
        # queued on n1 for the offline session: acknowledged on n1
        pub, _ = self.c5(n1, "mv-off-pub")
        for i in range(5):
            pub.publish("mv/o/a/x", b"a%d" % i, qos=1, pid=10 + i)
        for i in range(5):
            pub.publish("mv/o/b/x", b"b%d" % i, qos=2, pid=20 + i)
        out0, in0 = n1.metric(MOVED_OUT, 0), n2.metric(MOVED_IN, 0)

        sub, ack = self.c5(n2, cid, clean=False, props=KEEP)
        self.assertTrue(ack.session_present, "session present on the new node")
        got = [sub.recv_publish(10, ack=True) for _ in range(10)]
        a = [p for p in got if p.topic == "mv/o/a/x"]
        b = [p for p in got if p.topic == "mv/o/b/x"]
        self.assertEqual([p.payload for p in a], [b"a%d" % i for i in range(5)])
        self.assertEqual([p.payload for p in b], [b"b%d" % i for i in range(5)])
        self.assertEqual({p.qos for p in a} | {p.qos for p in b}, {1, 2})
        self.assertEqual([p.props.get(raw5.SUBSCRIPTION_ID) for p in a], [7] * 5)
        self.assertEqual(n1.metric(MOVED_OUT, 0), out0 + 1)
        self.assertEqual(n2.metric(MOVED_IN, 0), in0 + 1)
        self.cl.wait_log(n1, "SLUICE-CLUSTER-SESSION-OUT", 1)

        # its subscriptions live on n2: from n2 itself, and from n3
        p2, _ = self.c5(n2, "mv-off-p2")
        p2.publish("mv/o/a/y", b"local", qos=1, pid=1)
        self.assertEqual(sub.recv_publish(10).payload, b"local")
        p3, _ = self.c5(n3, "mv-off-p3")
        self.probe(p3, sub, "mv/o/b/z")
        p3.publish("mv/o/b/z", b"end", qos=1, pid=1)
        extra = self.until_sentinel(sub, "mv/o/b/z")
        self.assertEqual([g for g in extra if not g[1].startswith(b"probe")], [],
                         "nothing but late probes before the sentinel")

        # offline again, queued on n2, and back to n1
        sub.disconnect()
        p2.publish("mv/o/a/x", b"while on n2", qos=1, pid=2)
        back, ack = self.c5(n1, cid, clean=False, props=KEEP)
        self.assertTrue(ack.session_present, "session present back on n1")
        self.assertEqual(back.recv_publish(10).payload, b"while on n2")
        self.assertEqual(n2.metric(MOVED_OUT, 0), 1)
        p1, _ = self.c5(n1, "mv-off-p1")
        p1.publish("mv/o/a/x", b"end", qos=1, pid=3)
        self.assertEqual(self.until_sentinel(back, "mv/o/a/x"), [],
                         "the queue came once")

    def test_live_session_moves_qos2_exactly_once(self):
        n1, n2 = self.cl[1], self.cl[2]
        cid = "mv-live"
        old, _ = self.c5(n1, cid, props=KEEP)
        self.assertEqual(old.subscribe([("mv/l/out/#", 2)]), [2])
        pub, _ = self.c5(n1, "mv-live-pub")
        # outbound: one PUBLISH unacknowledged, one past PUBREC (PUBREL sent)
        pub.publish("mv/l/out/1", b"unacked", qos=2, pid=1)
        p1 = old.recv_publish(10, ack=False)
        pub.publish("mv/l/out/2", b"released", qos=2, pid=2)
        p2 = old.recv_publish(10, ack=False)
        old.send(ack5(PUBREC, p2.pid))
        old.wait_for(PUBREL, 10, pid=p2.pid)
        # inbound: a QoS 2 PUBLISH from the client, PUBREC'd, no PUBREL yet
        watch, _ = self.c5(n1, "mv-live-watch")
        self.assertEqual(watch.subscribe([("mv/l/in", 1)]), [1])
        old.send(publish5("mv/l/in", b"once", qos=2, pid=42))
        old.wait_for(PUBREC, 10, pid=42)
        self.assertEqual(watch.recv_publish(10).payload, b"once")

        t0 = n1.metric(TAKEOVERS, 0)
        new, ack = self.c5(n2, cid, clean=False, props=KEEP)
        self.assertTrue(ack.session_present)
        d = old.expect_disconnect(15)
        self.assertIsNotNone(d, "the old connection closed without DISCONNECT")
        self.assertEqual(d.rc, raw5.RC_SESSION_TAKEN_OVER)
        self.assertEqual(n1.metric(TAKEOVERS, 0), t0 + 1)
        # in-flight state resumes: the PUBLISH again with DUP and its id,
        # the PUBREL again for the one the client already has
        again = new.wait_for(PUBLISH, 10)
        self.assertEqual((again.pid, again.dup, again.payload), (p1.pid, True, b"unacked"))
        rel = new.wait_for(PUBREL, 10, pid=p2.pid)
        self.assertEqual(rel.pid, p2.pid)
        new.send(ack5(PUBCOMP, p2.pid))
        new.send(ack5(PUBREC, p1.pid))
        new.wait_for(PUBREL, 10, pid=p1.pid)
        new.send(ack5(PUBCOMP, p1.pid))
        # the client's own QoS 2 flow completes on the new node, and the
        # message it re-sends is not routed a second time
        new.send(publish5("mv/l/in", b"once", qos=2, dup=True, pid=42))
        new.wait_for(PUBREC, 10, pid=42)
        new.send(ack5(PUBREL, 42))
        self.assertEqual(new.wait_for(PUBCOMP, 10, pid=42).rc, 0)
        pub.publish("mv/l/in", b"end", qos=1, pid=3)
        self.assertEqual(self.until_sentinel(watch, "mv/l/in"), [], "routed once")
        # nothing else of the old session comes: a sentinel on its topic
        pub.publish("mv/l/out/1", b"end", qos=1, pid=4)
        self.assertEqual(self.until_sentinel(new, "mv/l/out/1"), [])

    def test_moves_under_load_from_the_old_node_and_a_third(self):
        """QoS 1 streams keep coming from the old node and from a third one
        while the subscriber moves: every acknowledged message arrives
        (at least once) on the old or the new connection."""
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        cid = "mv-load"
        old, _ = self.c5(n1, cid, props=KEEP)
        self.assertEqual(old.subscribe([("mv/u/#", 1)]), [1])
        pr, _ = self.c5(n3, "mv-load-probe")
        self.probe(pr, old, "mv/u/probe")  # n3 knows n1's interest
        # a window of 4: the subscriber keeps up, its queue stays short
        msgs1 = [("mv/u/a", b"a%d" % i) for i in range(N)]
        msgs3 = [("mv/u/c", b"c%d" % i) for i in range(N)]
        loads = [cu.Load(n1.port, "mv-load-p1", msgs1, window=4),
                 cu.Load(n3.port, "mv-load-p3", msgs3, window=4)]
        got = set()
        # the subscriber reads while the streams run; the move starts early
        # in the old node's stream, which is the faster one
        for ld, at in zip(reversed(loads), (N // 5, N // 20)):
            ld.start()
            while ld.n_acked() < at:
                got.add(old.recv_publish(10, ack=True).payload)
        new = raw5.Client5(n2.port, timeout=10)
        self.clients.append(new)
        new.send(raw5.connect5(cid, clean=False, props=KEEP))
        try:  # the old connection: what it still gets until 0x8E
            while True:
                got.add(old.recv_publish(10, ack=True).payload)
        except (raw5.rawmqtt.Closed, OSError):
            pass
        ack = new.expect(raw5.CONNACK, 10)
        self.assertEqual((ack.rc, ack.session_present), (0, True))
        deadline = time.monotonic() + 60
        while any(ld.n_acked() < N for ld in loads):  # read while they run
            self.assertLess(time.monotonic(), deadline, "the streams did not finish")
            try:
                got.add(new.recv_publish(0.5, ack=True).payload)
            except raw5.rawmqtt.Timeout:
                self.assertTrue(all(ld.is_alive() or ld.n_acked() == N for ld in loads),
                                [ld.error for ld in loads])
        p1, _ = self.c5(n1, "mv-load-e1")
        p3, _ = self.c5(n3, "mv-load-e3")
        p1.publish("mv/u/a", b"end", qos=1, pid=1)
        got |= {pl for _, pl in self.until_sentinel(new, "mv/u/a")}
        p3.publish("mv/u/c", b"end", qos=1, pid=1)
        got |= {pl for _, pl in self.until_sentinel(new, "mv/u/c")}
        missing = [pl for ld in loads for _, pl in ld.acked() if pl not in got]
        if missing:  # what the nodes counted, for the report
            for nd in (n1, n2, n3):
                print(nd.node_id, {k: v for k, v in nd.metrics().items() if "drop" in k or "msgs_" in k or "sessions_" in k or "remote" in k})
        self.assertEqual(missing, [], "acknowledged and never delivered")

    def test_clean_start_elsewhere_ends_the_old_session(self):
        n1, n3 = self.cl[1], self.cl[3]
        cid = "mv-clean"
        c, _ = self.c5(n1, cid, props=KEEP)
        self.assertEqual(c.subscribe([("mv/c/#", 1)]), [1])
        c.disconnect()
        ended = n1.count("SLUICE-CLUSTER-SESSION-END")
        c, ack = self.c5(n3, cid, clean=True)
        self.assertFalse(ack.session_present)
        self.cl.wait_log(n1, "SLUICE-CLUSTER-SESSION-END", ended + 1)
        c.disconnect()
        # nothing of it is left on n1, and nobody asks n3 for it (expiry 0)
        c, ack = self.c5(n1, cid, clean=False, props=KEEP)
        self.assertFalse(ack.session_present)

    def test_malformed_state_records_lose_only_their_bad_entries(self):
        """State records are input like any other: one that is not JSON is
        dropped, bad entries of another are dropped one by one, the rest of
        the session is taken, and the node serves on."""
        n1 = self.cl[1]
        inc = re.findall(r"node n1 \(([0-9a-f]+)\) is up", n1.log_text())[-1]
        base = {"sluice.v": "1", "sluice.cluster": cu.CLUSTER_ID, "sluice.node": "nx",
                "sluice.inc": "1", "sluice.kind": "state", "sluice.to": "n1",
                "sluice.to_inc": inc, "sluice.to_token": "999", "sluice.part": "0",
                "sluice.last": "1"}
        good = {"v": 1, "version": 5, "expiry": 60,
                "subs": [{"f": "mv/bad/#", "o": 1}, {"f": "mv/#/b", "o": 1}, {"f": 7}],
                "in2": [0, 70000, "x"],
                "inf": [{"pid": 0, "st": 1}, {"pid": 9, "st": 1, "t": "mv/bad/i", "p": "*"}],
                "q": [{"t": "mv/bad/x", "p": "Z29vZA==", "mq": 1, "q": 1},
                      {"t": "mv/#", "p": "eA==", "mq": 1, "q": 1},
                      {"t": "mv/bad/y", "p": "!!", "mq": 1, "q": 1},
                      {"t": "mv/bad/z", "p": "eA==", "pr": "JgE=", "mq": 1, "q": 1}],
                "pos": []}
        bad0 = n1.count("SLUICE-CLUSTER-SESSION-BAD")
        ku.produce(self.cl.mock.bootstrap, cu.SESSIONS,
                   [("mv-bad", "{not json", base), ("mv-bad", json.dumps(good), base)],
                   partition=0)
        self.cl.wait_log(n1, "SLUICE-CLUSTER-SESSION-BAD", bad0 + 2)
        self.assertIn("(7 entries dropped)", n1.log_text())
        self.assertTrue(n1.alive(), n1.log_tail())
        c, ack = self.c5(n1, "mv-bad", clean=False, props=KEEP)
        self.assertTrue(ack.session_present)
        self.assertEqual(c.recv_publish(10).payload, b"good")
        p, _ = self.c5(n1, "mv-bad-pub")
        p.publish("mv/bad/x", b"end", qos=1, pid=1)
        self.assertEqual(self.until_sentinel(c, "mv/bad/x"), [], "only the good entry")

    def test_stale_or_malformed_claims_move_nothing(self):
        """Claims no living claimer waits for (no owner named, too old, no
        time at all) are ignored: the session stays, queue included. The
        CONNECT's read barrier on <prefix>.sessions is the sync point: the
        node has read them before it answers."""
        n1 = self.cl[1]
        c, _ = self.c5(n1, "mv-claim", props=KEEP)
        self.assertEqual(c.subscribe([("mv/cl/#", 1)]), [1])
        c.disconnect()
        p, _ = self.c5(n1, "mv-claim-pub")
        p.publish("mv/cl/x", b"kept", qos=1, pid=1)
        base = {"sluice.v": "1", "sluice.cluster": cu.CLUSTER_ID, "sluice.node": "nx",
                "sluice.inc": "1", "sluice.kind": "claim", "sluice.token": "1"}
        ku.produce(self.cl.mock.bootstrap, cu.SESSIONS, [
            ("mv-claim", "", base),
            ("mv-claim", "", dict(base, **{"sluice.owner": "n1", "sluice.at": "1"})),
            ("mv-claim", "", dict(base, **{"sluice.owner": "n1"}))])
        out0 = n1.count("SLUICE-CLUSTER-SESSION-OUT")
        c, ack = self.c5(n1, "mv-claim", clean=False, props=KEEP)
        self.assertTrue(ack.session_present)
        self.assertEqual(c.recv_publish(10).payload, b"kept")
        self.assertEqual(n1.count("SLUICE-CLUSTER-SESSION-OUT"), out0)

    def test_held_will_is_published_once_alive_or_dead(self):
        """A will held for its delay after its connection ended: its node
        publishes it (once: the others only forget it); if that node dies
        within the delay, a survivor publishes it when the delay is over;
        a client back within the delay (on any node) cancels it."""
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        w, _ = self.c5(n1, "hw-watch")
        self.assertEqual(w.subscribe([("hw/#", 1)]), [1])
        for node in (n2, n3):  # they know n1's interest
            pr, _ = self.c5(node, "hw-probe-" + node.node_id)
            self.probe(pr, w, "hw/probe")
        fired0 = [n.metric(WILLS_FIRED, 0) for n in (n1, n3)]

        def dropped(cid, delay):
            c = raw5.Client5(n2.port, timeout=10)
            ack = c.connect(cid, clean=True, props=KEEP,
                            will=("hw/" + cid, b"gone " + cid.encode(), 1, False,
                                  [(raw5.WILL_DELAY, delay)]))
            self.assertEqual(ack.rc, 0)
            self.cl.wait_log(n2, "client '%s' user" % cid, 1)
            c.abort()  # no DISCONNECT: the will is due after its delay
            return time.monotonic()

        # 1. cancelled: back on n3 within the delay
        dropped("hw-back", 3)
        self.cl.wait_metric(n1, WILLS_HELD, lambda v: v == 1, 15, "== 1")
        back, ack = self.c5(n3, "hw-back", clean=False, props=KEEP)
        self.assertTrue(ack.session_present)
        self.cl.wait_metric(n1, WILLS_HELD, lambda v: v == 0, 15, "== 0")
        # 2. its node alive: it publishes the will itself, after the delay
        t0 = dropped("hw-alive", 1)
        p = w.recv_publish(15)
        self.assertEqual((p.topic, p.payload), ("hw/hw-alive", b"gone hw-alive"))
        self.assertGreaterEqual(time.monotonic() - t0, 0.8)
        for n in (n1, n3):
            self.cl.wait_metric(n, WILLS_HELD, lambda v: v == 0, 15, "== 0")
        # 3. its node killed within the delay: a survivor publishes it
        t0 = dropped("hw-dead", 3)
        for n in (n1, n3):
            self.cl.wait_metric(n, WILLS_HELD, lambda v: v == 1, 15, "== 1")
        self.cl.kill9(n2)
        try:
            p = w.recv_publish(20)
            self.assertEqual((p.topic, p.payload), ("hw/hw-dead", b"gone hw-dead"))
            self.assertGreaterEqual(time.monotonic() - t0, 2.5, "the delay counts")
            # once in the cluster: by n1 (lowest living id), none by n3,
            # and the cancelled one never (a sentinel on its topic)
            self.cl.wait_metric(n3, WILLS_HELD, lambda v: v == 0, 15, "== 0")
            self.assertEqual([n.metric(WILLS_FIRED, 0) - f for n, f in zip((n1, n3), fired0)],
                             [1, 0])
            pub, _ = self.c5(n1, "hw-end")
            pub.publish("hw/hw-back", b"end", qos=1, pid=1)
            self.assertEqual(self.until_sentinel(w, "hw/hw-back"), [])
        finally:
            self.cl.restart(n2)
            self.cl.wait_nodes(n1, 3, 20)


if __name__ == "__main__":
    unittest.main()
