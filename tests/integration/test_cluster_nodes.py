"""Cluster black-box tests of what spans nodes beyond message routing
(docs/CLUSTER.md): one client id on two nodes, the wills of a node that
dies, and shared subscriptions with members on several nodes.

One mock Kafka (3 brokers) and three nodes per class (cluster_util), real
clients: raw MQTT 5 (raw5) where a DISCONNECT reason code must be seen,
paho otherwise.  Every wait is bounded and on a sync point (a packet, a
metric, a log line); "nothing more arrived" is proved by a sentinel.
Order holds per MQTT topic only (the topic is the record key, topics map
to partitions), so a sentinel proves nothing about another topic's
records from another node: a sentinel is published on the subscriber's
own node once that node has read the records in question (a counter).

Run by hand:
  cd tests/integration && SLUICE_BIN=../../build/sluice \\
    SLUICE_KAFKA_MOCK=../../build/sluice-kafka-mock \\
    python3 -m unittest -v test_cluster_nodes
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest
import urllib.request

import cluster_util as cu
import harness
import kafka_util as ku
import raw5
from rawmqtt import PINGRESP, Closed, Timeout, pingreq

TAKEN_OVER = 0x8E
WILLS_FIRED = "sluice_cluster_wills_fired_total"
WILLS_KNOWN = "sluice_cluster_wills_known"
REVIVED = "sluice_cluster_sessions_revived_total"
RECENT_SENT = "sluice_cluster_recent_sent_total"
TAKEOVERS = "sluice_cluster_takeovers_total"
RESENT = "sluice_cluster_share_resent_total"


def c5(node, client_id, will=None, props=None, timeout=5.0):
    c = raw5.Client5(node.port, timeout=timeout)
    ack = c.connect(client_id, clean=True, will=will, props=props)
    if ack.rc != 0:
        raise AssertionError("%s: CONNACK 0x%02x" % (client_id, ack.rc))
    return c


def ping(c, timeout):
    """The connection is open: a PINGREQ is answered (raises Closed)."""
    c.send(pingreq())
    c.wait_for(PINGRESP, timeout)


def collect_until(c, sentinel_topic, timeout=15.0):
    """PUBLISH packets c receives (acked), up to the one on sentinel_topic."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("sentinel %s not received; got %r"
                                 % (sentinel_topic, [p.topic for p in got]))
        p = c.recv_publish(left, ack=True)
        if p.topic == sentinel_topic:
            return got
        got.append(p)


class ClusterCase(cu.NodesCase):
    def client(self, node, client_id, **kw):
        c = c5(node, client_id, **kw)
        self.clients.append(c)
        return c

    def interest(self, node, n):
        self.cl.wait_interest(node, n, 15)


class InterestGap(ClusterCase):
    nodes = 2

    def test_a_publish_right_after_a_remote_suback_arrives_in_order(self):
        """Between n2's SUBACK and n1 reading n2's interest record (widened
        here: the mock's round trip is 300 ms), n1 publishes 5 messages
        nobody else wanted yet: they go to the cluster when the record
        arrives, before anything n1 routes after it."""
        n1, n2 = self.cl[1], self.cl[2]
        pub = self.client(n1, "gap-pub")
        sub = self.client(n2, "gap-sub")
        sent0 = n1.metric(RECENT_SENT, 0)
        self.cl.mock.rtt(300)
        self.addCleanup(self.cl.mock.rtt, 0)
        self.assertEqual(sub.subscribe([("gap/#", 1)]), [1])
        for i in range(5):  # acknowledged at once: no other node wants them yet
            pub.publish("gap/x", b"%d" % i, qos=1, pid=1 + i)
        self.cl.wait_metric(n1, RECENT_SENT, lambda v: v >= sent0 + 5, 15, ">= %d" % (sent0 + 5))
        pub.publish("gap/x", b"5", qos=1, pid=6)  # routed to n2 as usual now
        # the sentinel on the same topic: the same partition, so in order
        pub.publish("gap/x", b"end", qos=1, pid=7)
        got = []
        deadline = time.monotonic() + 15
        while b"end" not in got:
            self.assertGreater(deadline - time.monotonic(), 0, "no sentinel; got %r" % got)
            got.append(sub.recv_publish(deadline - time.monotonic(), ack=True).payload)
        self.assertEqual(got, [b"%d" % i for i in range(6)] + [b"end"])


class Takeover(ClusterCase):
    def test_connect_elsewhere_closes_the_old_connection_with_0x8e(self):
        n1, n2 = self.cl[1], self.cl[2]
        before = n1.metric(TAKEOVERS, 0)
        k0 = n2.metric(WILLS_KNOWN, 0)
        # a will makes the old connection's present record visible: once n2
        # has read it, the new connection's record comes later in the log
        old = self.client(n1, "tk-1", will=("tk/will", b"", 0, False))
        self.cl.wait_metric(n2, WILLS_KNOWN, lambda v: v >= k0 + 1, 15, "+1")
        new = self.client(n2, "tk-1")
        d = old.expect_disconnect(15)
        self.assertIsNotNone(d, "the old connection closed without DISCONNECT")
        self.assertEqual(d.rc, TAKEN_OVER)
        # the new connection works: a message to itself through n2
        self.assertEqual(new.subscribe([("tk/1", 1)]), [1])
        new.publish("tk/1", b"still here", qos=1, pid=7)
        self.assertEqual(new.recv_publish(10).payload, b"still here")
        self.cl.wait_metric(n1, TAKEOVERS, lambda v: v == before + 1, 10,
                            "one more")
        self.assertEqual(n2.count("client 'tk-1' connected to another node"), 0)

    def test_racing_connects_leave_exactly_one(self):
        n2, n3 = self.cl[2], self.cl[3]
        got = {}

        def connect(node):
            got[node.node_id] = c5(node, "tk-race")
        ts = [threading.Thread(target=connect, args=(n,)) for n in (n2, n3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(15)
        self.assertEqual(sorted(got), ["n2", "n3"], "both CONNACKed")
        self.clients.extend(got.values())
        # exactly one is told 0x8E; the other stays (a PING proves it)
        closed = []
        deadline = time.monotonic() + 15
        while not closed and time.monotonic() < deadline:
            for name, c in got.items():
                try:
                    ping(c, 0.2)
                except (Closed, OSError):
                    closed.append(name)
                except Timeout:
                    pass
        self.assertEqual(len(closed), 1, "one of the two is closed: %r" % closed)
        survivor = got["n2" if closed == ["n3"] else "n3"]
        ping(survivor, 5)
        loser = self.cl[2 if closed == ["n2"] else 3]
        self.cl.wait_log(loser, "client 'tk-race' connected to another node", 1)
        winner = self.cl[3 if closed == ["n2"] else 2]
        self.assertEqual(winner.count("client 'tk-race' connected to another node"), 0)


class Wills(ClusterCase):
    def fired(self):
        return [n.metric(WILLS_FIRED, 0) for n in self.cl.nodes[:2]]

    def test_node_killed_wills_published_once_and_clean_ones_not(self):
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        sub = self.client(n1, "w-sub")
        self.assertEqual(sub.subscribe([("will/#", 1)]), [1])
        self.interest(n3, 1)
        self.interest(n2, 1)
        before = self.fired()
        # a will at once, a will after 2 s, and a client that says goodbye
        self.client(n3, "w-now", will=("will/now", b"now gone", 1, False))
        self.client(n3, "w-late", will=("will/late", b"late gone", 1, False,
                                        [(raw5.WILL_DELAY, 2)]))
        bye = c5(n3, "w-bye", will=("will/bye", b"must not", 1, False))
        bye.disconnect()
        for cid in ("w-now", "w-late", "w-bye"):
            self.cl.wait_log(n3, "client '%s' user" % cid, 1)
        # the survivors know both wills (the goodbye's is gone again)
        for n in (n1, n2):
            self.cl.wait_metric(n, WILLS_KNOWN, lambda v: v == 2, 15, "== 2")
        self.cl.kill9(n3)
        t_kill = time.monotonic()
        self.cl.wait_log(n1, cu.NODE_DOWN, 1, 15)
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            p = sub.recv_publish(deadline - time.monotonic(), ack=True)
            got.append((p.topic, p.payload, time.monotonic() - t_kill))
        self.assertEqual(sorted(t for t, _, _ in got), ["will/late", "will/now"])
        late = [s for t, _, s in got if t == "will/late"][0]
        now = [s for t, _, s in got if t == "will/now"][0]
        self.assertGreaterEqual(late - now, 1.5, "the will delay counts: %r" % got)
        for n in (n1, n2):
            self.cl.wait_metric(n, WILLS_KNOWN, lambda v: v == 0, 10, "== 0")
        # n1, the living node with the lowest id, published both (locally,
        # so before anything published on n1 after this), n2 none
        after = self.fired()
        self.assertEqual([a - b for a, b in zip(after, before)], [2, 0])
        pub = self.client(n1, "w-sentinel")
        pub.publish("will/sentinel", b"", qos=1, pid=4)
        self.assertEqual(collect_until(sub, "will/sentinel"), [])
        self.assertEqual(self.fired(), after)


class Shared(ClusterCase):
    def test_one_member_in_the_cluster_gets_each_message(self):
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        members = [self.client(n1, "sh-a"), self.client(n2, "sh-b"),
                   self.client(n2, "sh-c")]
        for m in members:
            self.assertEqual(m.subscribe([("$share/g/sh/#", 1)]), [1])
        self.interest(n3, 2)  # the group on n1 and on n2
        consumed = [n.metric(cu.MSGS_CONSUMED, 0) for n in (n1, n2)]
        produced = n3.metric(cu.MSGS_PRODUCED, 0)
        pub = self.client(n3, "sh-pub")
        for i in range(60):
            pub.publish("sh/x", b"%d" % i, qos=1, pid=1 + i)
        sent = n3.metric(cu.MSGS_PRODUCED, 0) - produced
        self.assertEqual(sent, 60)
        # n1 and n2 have routed all 60 records; then a sentinel published
        # on each member's own node queues behind what it was given
        for n, c0 in zip((n1, n2), consumed):
            self.cl.wait_metric(n, cu.MSGS_CONSUMED, lambda v: v >= c0 + 60, 20,
                                ">= %d" % (c0 + 60))
        for m, n in zip(members, ("n1", "n2", "n2")):
            self.assertEqual(m.subscribe([("sh-end/" + n, 1)], pid=2), [1])
        self.client(n1, "sh-end1").publish("sh-end/n1", b"", qos=1, pid=5)
        self.client(n2, "sh-end2").publish("sh-end/n2", b"", qos=1, pid=5)
        got = [collect_until(m, "sh-end/" + n, 20)
               for m, n in zip(members, ("n1", "n2", "n2"))]
        payloads = sorted(int(p.payload) for g in got for p in g)
        self.assertEqual(payloads, list(range(60)),
                         "each message once in the cluster: %r"
                         % [len(g) for g in got])
        self.assertGreater(len(got[0]), 0, "n1's member got none")
        self.assertGreater(len(got[1]) + len(got[2]), 0, "n2's members got none")


class Collector(threading.Thread):
    """Reads (and acknowledges) every PUBLISH of a raw client in a thread
    until stop() or the connection closes: got is [(topic, payload)]."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.got = []
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                p = self.c.recv_publish(0.2, ack=True)
            except Timeout:
                continue
            except (Closed, OSError):
                return
            self.got.append((p.topic, p.payload))

    def seen(self, topic):
        return any(t == topic for t, _ in self.got)

    def stop(self):
        self.stop_ev.set()
        self.join(5)


class SharedLeave(ClusterCase):
    def test_a_member_leaving_in_flight_loses_nothing(self):
        """The group's only member on n2 unsubscribes while n3 publishes a
        QoS 1 stream: what n3 still picked n2 for goes on to n1's member
        (n2 sends it again), once; n1's plain subscriber gets each once."""
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        m1, m2, plain = (self.client(n1, "lv-m1"), self.client(n2, "lv-m2"),
                         self.client(n1, "lv-plain"))
        for c, flt in ((m1, "$share/h/lv/#"), (m2, "$share/h/lv/#"), (plain, "lv/#")):
            self.assertEqual(c.subscribe([(flt, 1), ("lv-end/#", 1)]), [1, 1])
        cols = [Collector(c) for c in (m1, m2, plain)]
        for col in cols:
            col.start()
        # n3 knows both members: probes until each got one
        probe = self.client(n3, "lv-probe")
        deadline = time.monotonic() + 15
        for i in range(1000):
            if cols[0].seen("lv/probe") and cols[1].seen("lv/probe"):
                break
            self.assertLess(time.monotonic(), deadline, "n3 does not know both members")
            probe.publish("lv/probe", b"%d" % i, qos=1, pid=1 + i % 1000)
        resent0 = n2.metric(RESENT, 0)
        c1, c2 = n1.metric(cu.MSGS_CONSUMED, 0), n2.metric(cu.MSGS_CONSUMED, 0)
        n = 600
        load = cu.Load(n3.port, "lv-pub", [("lv/x", b"%d" % i) for i in range(n)], window=4)
        load.start()
        ku.wait_until(lambda: load.n_acked() >= n // 4, 30, what="a quarter acked")
        m2.send(raw5.unsubscribe5(9, ["$share/h/lv/#"]))
        load.wait_acked(n, 60)
        # n2 has read the whole stream (and sent again what it had to); n1
        # has read the stream and those re-sends: then the sentinels
        self.cl.wait_metric(n2, cu.MSGS_CONSUMED, lambda v: v >= c2 + n, 20, ">= +n")
        resent = n2.metric(RESENT, 0) - resent0
        self.cl.wait_metric(n1, cu.MSGS_CONSUMED, lambda v: v >= c1 + n + resent, 20,
                            ">= +n + resent")
        self.client(n1, "lv-end1").publish("lv-end/n1", b"", qos=1, pid=1)
        self.client(n2, "lv-end2").publish("lv-end/n2", b"", qos=1, pid=1)
        for col, end in zip(cols, ("lv-end/n1", "lv-end/n2", "lv-end/n1")):
            ku.wait_until(lambda: col.seen(end), 20, what=end)
            col.stop()
        got = [[int(pl) for t, pl in col.got if t == "lv/x"] for col in cols]
        self.assertEqual(sorted(got[0] + got[1]), list(range(n)),
                         "each acknowledged message once in the group (%d on n1, %d on n2)"
                         % (len(got[0]), len(got[1])))
        self.assertEqual(sorted(got[2]), list(range(n)), "the plain subscriber: each once")
        self.assertGreater(resent, 0, "nothing was in flight to n2 when its member left")


    def test_a_member_gone_with_unconfirmed_messages_passes_them_on(self):
        """The only member on n2 goes without acknowledging what it got:
        those QoS 1 messages go to the member on n1 (n2 has no other)."""
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        m1 = self.client(n1, "lu-m1")
        m2 = c5(n2, "lu-m2")
        self.clients.append(m2)
        for c in (m1, m2):
            self.assertEqual(c.subscribe([("$share/u/lu/#", 1)]), [1])
        pub = self.client(n3, "lu-pub")
        i = 0
        unacked = []
        deadline = time.monotonic() + 15
        while len(unacked) < 5:  # until m2 holds 5 (n3 knows m2's group by then)
            self.assertLess(time.monotonic(), deadline, "m2 got %d" % len(unacked))
            pub.publish("lu/x", b"%d" % i, qos=1, pid=1 + i)
            i += 1
            try:
                unacked.append(int(m2.recv_publish(0.3, ack=False).payload))
            except Timeout:
                pass
        m2.close()  # clean session: it ends with 5 messages unconfirmed
        # (the first ones may have gone nowhere: published before n3 knew
        # the group, docs/CLUSTER.md; those m2 held are the point)
        got = set()
        deadline = time.monotonic() + 20
        while not set(unacked) <= got:
            self.assertLess(time.monotonic(), deadline, "missing %r (sent again: %r)" % (
                sorted(set(unacked) - got), [n.metric(RESENT, 0) for n in self.cl.nodes]))
            try:
                got.add(int(m1.recv_publish(0.5, ack=True).payload))
            except Timeout:
                pass


class Restart(ClusterCase):
    """A node that restarts resumes <prefix>.msgs where it committed: its
    persistent sessions get what was published for them while it was away
    (exactly, after a clean stop; at least, after kill -9)."""

    def away(self, how, tag):
        n1, n2 = self.cl[1], self.cl[2]
        cid = "rs-" + tag
        topic = "rs/" + tag
        r0 = n1.metric(cu.REMOTE_FILTERS, 0)
        sub = c5(n2, cid, props=[(raw5.SESSION_EXPIRY, 300)])
        self.assertEqual(sub.subscribe([(topic + "/#", 1)]), [1])
        sub.disconnect()
        self.interest(n1, r0 + 1)
        pub = self.client(n1, "rs-pub-" + tag)
        d0 = n2.metric(cu.MSGS_DELIVERED, 0)
        pub.publish(topic + "/a", b"before", qos=1, pid=1)
        # n2 has read "before" (it queued it for the offline session)
        self.cl.wait_metric(n2, cu.MSGS_DELIVERED, lambda v: v >= d0 + 1, 10, "+1")
        if how == "kill":
            self.cl.kill9(n2)
        else:
            self.cl.stop(n2)
        for i in range(3):
            pub.publish(topic + "/a", b"away %d" % i, qos=1, pid=2 + i)
        self.cl.restart(n2)
        sub = raw5.Client5(n2.port, timeout=5)
        self.clients.append(sub)
        ack = sub.connect(cid, clean=False, props=[(raw5.SESSION_EXPIRY, 300)])
        self.assertEqual((ack.rc, ack.session_present), (0, True))
        # the sentinel on the same topic: the same partition, so in order
        pub.publish(topic + "/a", b"end", qos=1, pid=9)
        got = []
        deadline = time.monotonic() + 20
        while not got or got[-1] != b"end":
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "no sentinel; got %r" % got)
            got.append(sub.recv_publish(left, ack=True).payload)
        return got[:-1]

    def test_clean_stop_misses_nothing(self):
        got = self.away("stop", "s")
        self.assertEqual(got, [b"before", b"away 0", b"away 1", b"away 2"])

    def test_kill9_misses_nothing_at_least_once(self):
        got = self.away("kill", "k")
        for want in (b"before", b"away 0", b"away 1", b"away 2"):
            self.assertIn(want, got)
        away = [g for g in got if g.startswith(b"away")]
        self.assertEqual(sorted(set(away)), [b"away 0", b"away 1", b"away 2"])


class BadRecords(ClusterCase):
    """Records in the internal topics that no sluice wrote: each is skipped
    (and counted where there is a counter), the nodes serve on. Every bad
    record goes to partition 0 ahead of a good one, and the good one's
    effect is the sync point: by then the bad ones were read."""

    BASE = {"sluice.v": "1", "sluice.cluster": cu.CLUSTER_ID, "sluice.node": "nx",
            "sluice.inc": "1"}

    def put(self, topic, records):
        ku.produce(self.cl.mock.bootstrap, topic, records, partition=0)

    def h(self, **kw):
        d = dict(self.BASE)
        d.update({k.replace("_", "."): v for k, v in kw.items()})
        return d

    def test_a_malformed_checkpoint_revives_nothing(self):
        """A session on node nx (never heard of, so its claim goes
        unanswered) whose checkpoint is not JSON, or of another format
        version: the client gets a new session, SESSION-BAD says why."""
        n1 = self.cl[1]
        for cid, val in (("bad-ck1", "not json"), ("bad-ck2", '{"v": 2, "expiry": 60}')):
            self.put(cu.SESSIONS, [
                (cid, "", self.h(sluice_kind="present", sluice_token="7", sluice_kept="1")),
                (cid + "\x00ckpt", val, self.h(sluice_kind="ckpt", sluice_none="0"))])
            bad0 = n1.count("SLUICE-CLUSTER-SESSION-BAD")
            c = raw5.Client5(n1.port, timeout=15)
            self.clients.append(c)
            ack = c.connect(cid, clean=False, props=[(raw5.SESSION_EXPIRY, 60)], timeout=15)
            self.assertEqual(ack.rc, 0, cid)
            self.assertFalse(ack.session_present, cid)
            self.cl.wait_log(n1, "SLUICE-CLUSTER-SESSION-BAD", bad0 + 1)
            self.assertEqual(n1.metric(REVIVED, 0), 0)

    def test_malformed_records_are_skipped_and_the_nodes_serve_on(self):
        n1 = self.cl[1]
        sub = self.client(n1, "bad-sub")
        self.assertEqual(sub.subscribe([("bad/#", 1)]), [1])
        self.interest(self.cl[2], 1)  # for the live message at the end
        skipped, rf, wk, ra = (n1.metric(name, 0) for name in (
            cu.MSGS_SKIPPED, cu.REMOTE_FILTERS, WILLS_KNOWN, cu.RETAINED_APPLIED))
        # msgs: a wildcard topic, a truncated and a forbidden property
        # block, then a good record: only the good one is delivered
        self.put(cu.MSGS, [("bad/#", "wild", self.h(mqtt_qos="1"))])
        self.put(cu.MSGS, [("bad/p", "props", self.h(mqtt_qos="1", sluice_props="&\x01"))])
        self.put(cu.MSGS, [("bad/a", "alias", self.h(mqtt_qos="1", sluice_props="#"))])
        self.put(cu.MSGS, [("bad/ok", "good", self.h(mqtt_qos="1"))])
        got = collect_until(sub, "bad/ok")
        self.assertEqual(got, [])
        self.assertGreaterEqual(n1.metric(cu.MSGS_SKIPPED), skipped + 3)
        # interest: no space in the key, an invalid filter; then a good one
        self.put(cu.INTEREST, [("nx", "1", self.BASE), ("nx a/#/b", "1", self.BASE),
                               ("nx zz/ok", "1", self.BASE)])
        self.cl.wait_metric(n1, cu.REMOTE_FILTERS, lambda v: v >= rf + 1, 15, "+1")
        self.assertEqual(n1.metric(cu.REMOTE_FILTERS), rf + 1)
        self.put(cu.INTEREST, [("nx zz/ok", "", self.BASE)])
        self.cl.wait_metric(n1, cu.REMOTE_FILTERS, lambda v: v == rf, 15, "back")
        # sessions: a will with a bad property block, one on a wildcard
        # topic, a marker without its owner; then a good will
        self.put(cu.SESSIONS, [
            ("bw1", "x", self.h(sluice_kind="present", sluice_token="1", mqtt_topic="bad/w",
                                sluice_props="&\x01")),
            ("bw2", "x", self.h(sluice_kind="present", sluice_token="2", mqtt_topic="bad/#")),
            ("bw3", "x", self.h(sluice_kind="will-fired", sluice_token="3")),
            ("bw4", "x", self.h(sluice_kind="present", sluice_token="4", mqtt_topic="bad/w"))])
        self.cl.wait_metric(n1, WILLS_KNOWN, lambda v: v >= wk + 1, 15, "+1")
        self.assertEqual(n1.metric(WILLS_KNOWN), wk + 1)
        self.put(cu.SESSIONS, [("bw4", "", self.h(sluice_kind="gone", sluice_token="4"))])
        self.cl.wait_metric(n1, WILLS_KNOWN, lambda v: v == wk, 15, "back")
        # retained: a wildcard topic; then a good one, deleted again
        self.put(cu.RETAINED, [("bad/#", "wild", self.BASE), ("bad/r", "kept", self.BASE)])
        self.cl.wait_metric(n1, cu.RETAINED_APPLIED, lambda v: v >= ra + 1, 15, "+1")
        self.assertEqual(n1.metric(cu.RETAINED_APPLIED), ra + 1)
        self.put(cu.RETAINED, [("bad/r", "", self.BASE)])
        self.cl.wait_metric(n1, cu.RETAINED_APPLIED, lambda v: v == ra + 2, 15, "+2")
        # msgs: a shared-group header cut short names no group: the plain
        # subscriber gets the message as usual
        self.put(cu.MSGS, [("bad/s", "cut", self.h(mqtt_qos="1", sluice_share="\x01A")),
                           ("bad/ok2", "good", self.h(mqtt_qos="1"))])
        got = collect_until(sub, "bad/ok2")
        self.assertEqual([(p.topic, p.payload) for p in got], [("bad/s", b"cut")])
        # nodes: a heartbeat without an incarnation is not a node
        self.put(cu.NODES, [("ny", "1", {"sluice.v": "1", "sluice.cluster": cu.CLUSTER_ID})])
        for n in self.cl.nodes:
            self.assertTrue(n.alive(), n.log_tail())
        pub = self.client(self.cl[2], "bad-pub")
        pub.publish("bad/end", b"", qos=1, pid=1)
        self.assertEqual(collect_until(sub, "bad/end"), [])
        self.assertEqual(n1.metric(cu.NODES_ALIVE), 3)


class Example(unittest.TestCase):
    """examples/cluster.sh: three nodes that work as one, stopped by
    SIGTERM with everything it started."""

    def test_example_cluster_runs_and_stops(self):
        ku.require_tools(self)
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        # three consecutive ports twice, disjoint; another test may still
        # take one before a node binds it: then the script says "address
        # in use" and is run again with other ports (at most 3 times)
        for attempt in range(3):
            port, http = self.ranges()
            env = dict(os.environ, BUILD=os.path.dirname(harness.sluice_bin()),
                       CLUSTER_PORT=str(port), CLUSTER_HTTP=str(http))
            p = subprocess.Popen(["bash", os.path.join(root, "examples", "cluster.sh")],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                out = self.until_ready(p)
            except BaseException:
                p.send_signal(signal.SIGTERM)  # it stops what it started
                p.communicate(timeout=30)
                raise
            if out is not None:
                break
            self.assertLess(attempt, 2, "the script never came up")
        try:
            tmp = re.search(r"logs in (\S+)/n\*/log", "".join(out)).group(1)
            sub = c5(self.node(port + 1), "ex-sub")
            self.assertEqual(sub.subscribe([("demo/#", 1)]), [1])
            ku.wait_until(lambda: self.metric(http + 2, cu.REMOTE_FILTERS) >= 1, 15,
                          what="n3 knows n2's subscription")
            pub = c5(self.node(port + 2), "ex-pub")
            pub.publish("demo/hello", b"from n3", qos=1, pid=1)
            self.assertEqual(sub.recv_publish(10).payload, b"from n3")
            sub.close()
            pub.close()
        finally:
            p.send_signal(signal.SIGTERM)
            rest = p.communicate(timeout=30)[0].decode()
        self.assertEqual(p.returncode, 0, "".join(out) + rest)
        self.assertIn("cluster: stopping", rest)
        self.assertFalse(os.path.exists(tmp), "its temp dir is left: " + tmp)
        for i in range(3):
            self.assertFalse(harness.port_open(port + i), "a node still listens")

    def test_example_refuses_a_taken_port(self):
        """A port in use: a message naming it and the setting, exit 1, and
        nothing left behind."""
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        held = socket.socket()
        held.bind((harness.HOST, 0))
        held.listen()
        self.addCleanup(held.close)
        port = held.getsockname()[1]
        env = dict(os.environ, BUILD=os.path.dirname(harness.sluice_bin()),
                   CLUSTER_PORT=str(port), CLUSTER_HTTP=str(harness.free_port()))
        r = subprocess.run(["bash", os.path.join(root, "examples", "cluster.sh")], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("cluster: port %d is taken" % port, r.stderr)
        self.assertIn("set CLUSTER_PORT/CLUSTER_HTTP", r.stderr)

    @staticmethod
    def ranges():
        while True:
            port, http = harness.free_port(), harness.free_port()
            both = [port + i for i in range(3)] + [http + i for i in range(3)]
            if len(set(both)) == 6 and not any(harness.port_open(x) for x in both):
                return port, http

    def until_ready(self, p):
        """The script's lines up to "Ctrl-C stops"; None when it ended on a
        port another process took meanwhile (it cleaned up after itself)."""
        out = []
        deadline = time.monotonic() + 60
        while not any("Ctrl-C stops" in line for line in out):
            self.assertGreater(deadline - time.monotonic(), 0, "".join(out))
            line = p.stdout.readline().decode()
            if not line:
                p.wait(30)
                text = "".join(out)
                if "address in use" in text:
                    return None
                self.fail("the script ended:\n" + text)
            out.append(line)
        return out

    @staticmethod
    def node(port):
        class N:
            pass
        n = N()
        n.port = port
        return n

    @staticmethod
    def metric(http, name):
        with urllib.request.urlopen("http://%s:%d/metrics" % (harness.HOST, http),
                                    timeout=5) as r:
            return harness.parse_metrics(r.read().decode()).get(name, 0)


if __name__ == "__main__":
    unittest.main()
