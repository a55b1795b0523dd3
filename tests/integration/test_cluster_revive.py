"""Cluster black-box tests: the persistent sessions of a node killed with
kill -9 come back on the node their client reconnects to (docs/CLUSTER.md,
"Sessions that move" and "A node dies").

Every node checkpoints each persistent session it holds (subscriptions,
and where to replay <prefix>.msgs from) to <prefix>.sessions within
cluster.checkpoint_ms of a subscription change; a QoS 1/2 message for a
persistent session is in <prefix>.msgs before its PUBACK.  A client that
connects with clean start 0 to another node, once the holder is dead
(already noticed as down, or its claim unanswered for
cluster.node_timeout_ms), gets session present 1, its subscriptions, and
every acknowledged QoS >= 1 message it had not acknowledged itself: at
least once (duplicates allowed, no order across the replay).  With
cluster.checkpoint_ms 0 it gets a new session, as before the feature.

One mock Kafka (3 brokers) and three nodes per class (cluster_util); raw
MQTT 5 clients (raw5), one raw 3.1.1 (rawmqtt).  Every wait is bounded and
on a sync point: the checkpoint counter before a kill, a packet, a
metric, a log line.  A killed node is started again after its test.

Run by hand:
  cd tests/integration && SLUICE_BIN=../../build/sluice \\
    SLUICE_KAFKA_MOCK=../../build/sluice-kafka-mock \\
    /usr/bin/python3 -m unittest -v test_cluster_revive
"""

import re
import time
import unittest

import cluster_util as cu
import kafka_util as ku
import raw5
import rawmqtt
from rawmqtt import Closed, Timeout

CHECKPOINTS = "sluice_cluster_checkpoints_total"
REVIVED = "sluice_cluster_sessions_revived_total"
REVIVED_LOG = "SLUICE-CLUSTER-SESSION-REVIVED"
CLAIMS_FAILED = "sluice_cluster_claims_failed_total"
SHARE_FLOORS = "sluice_cluster_share_floors_total"
KEEP = [(raw5.SESSION_EXPIRY, 300)]
N = 500  # messages of n1's stream in the load test (n3's: 2 N, stopped early)
RTT = 20  # ms, the mock's round trip in the load test: a stream of window w
# gets at most w / RTT PUBACKs a second, so n3's outlasts the claim and the
# revived session's replay stays well under mqtt.max_queued


class ReviveCase(cu.NodesCase):
    def c5(self, node, cid, clean=True, props=None, timeout=10):
        c = raw5.Client5(node.port, timeout=timeout)
        self.clients.append(c)
        ack = c.connect(cid, clean=clean, props=props, timeout=timeout)
        self.assertEqual(ack.rc, 0, "%s on %s: CONNACK 0x%02x" % (cid, node.node_id, ack.rc))
        return c, ack

    def subscribe(self, node, c, flt):
        """SUBSCRIBE flt at QoS 1, then wait until node has written a
        checkpoint since (the sync point before a kill)."""
        c0 = node.metric(CHECKPOINTS, 0)
        self.assertEqual(c.subscribe([(flt, 1)]), [1])
        self.cl.wait_metric(node, CHECKPOINTS, lambda v: (v or 0) > c0, 15, "> %d" % c0)

    def probe(self, pub, sub, topic, tag=b"probe", timeout=15):
        """pub publishes tag-payloads on topic until sub gets one: the route
        from pub's node to sub's session is live.  Other messages sub gets
        meanwhile are acknowledged and ignored."""
        deadline = time.monotonic() + timeout
        for i in range(1, 200):
            if time.monotonic() > deadline:
                break
            pub.publish(topic, tag + b" %d" % i, qos=1, pid=i)
            until = time.monotonic() + 0.3
            while time.monotonic() < until:
                try:
                    p = sub.recv_publish(until - time.monotonic(), ack=True)
                except Timeout:
                    break
                if p.payload.startswith(tag):
                    return
        self.fail("no %r on %s arrived within %.0fs" % (tag, topic, timeout))

    def group_probe(self, pub, members, topic, timeout=15):
        """pub publishes probes on topic until every member of a shared
        group has got one: pub's node knows the group on each member's
        node."""
        seen = [False] * len(members)
        deadline = time.monotonic() + timeout
        for i in range(1, 500):
            if all(seen) or time.monotonic() > deadline:
                break
            pub.publish(topic, b"probe %d" % i, qos=1, pid=i)
            for k, m in enumerate(members):
                try:
                    while True:
                        seen[k] |= m.recv_publish(0.05, ack=True).payload.startswith(b"probe")
                except Timeout:
                    pass
        self.assertTrue(all(seen), "members that got a probe: %r" % seen)

    def group(self, t):
        """Members of "$share/g<t>/<t>/#" on n1 and on n2, known to n3 (a
        probe reached each), and n1's shared-groups floor written: where
        its group messages would be read again from. (m1, m2)."""
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        m1, _ = self.c5(n1, "rv-%s1" % t)
        m2, _ = self.c5(n2, "rv-%s2" % t)
        for m in (m1, m2):
            self.assertEqual(m.subscribe([("$share/g%s/%s/#" % (t, t), 1)]), [1])
        p3, _ = self.c5(n3, "rv-%s-p3" % t)
        self.group_probe(p3, (m1, m2), "%s/probe" % t)
        self.cl.wait_metric(n1, SHARE_FLOORS, lambda v: (v or 0) >= 1, 15, ">= 1")
        return m1, m2

    def back(self, node, cid, v5=True, timeout=40):
        """cid connects to node with clean start 0; an attempt that fails
        (connection refused or closed, no CONNACK, CONNACK not 0) is made
        again, at most 5 times within timeout.  The CONNACK may wait up to
        cluster.node_timeout_ms for an unanswered claim."""
        deadline = time.monotonic() + timeout
        last = None
        for _ in range(5):
            try:
                c = (raw5.Client5 if v5 else rawmqtt.RawClient)(node.port, timeout=15)
                self.clients.append(c)
                ack = (c.connect(cid, clean=False, props=KEEP, timeout=15) if v5
                       else c.connect(cid, clean=False, timeout=15))
                if ack.rc == 0:
                    return c, ack
                last = "CONNACK 0x%02x" % ack.rc
            except (Closed, Timeout, OSError) as e:
                last = repr(e)
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)  # a pause between attempts, not a sync point
        self.fail("%s never connected to %s: %s" % (cid, node.node_id, last))

    def read_until(self, c, got, done, why, timeout=30):
        """Add the payloads c receives (acknowledged) to the set got until
        done(); why() says what is missing when time is up."""
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, why())
            try:
                got.add(c.recv_publish(min(left, 0.5), ack=True).payload)
            except Timeout:
                pass

    def all_arrive(self, c, want, timeout=30):
        """Every payload of want reaches c (acknowledged; others too)."""
        got = set()
        self.read_until(c, got, lambda: want <= got, lambda: "missing %d of %d: %r" % (
            len(want - got), len(want), sorted(want - got)[:10]), timeout)

    def revived(self, node, c0, log0):
        """node revived exactly one session since c0 / log0."""
        self.cl.wait_metric(node, REVIVED, lambda v: v == c0 + 1, 10, "== %d" % (c0 + 1))
        self.cl.wait_log(node, REVIVED_LOG, log0 + 1)

    def comes_back(self, node, cid, want, pub, live, v5=True):
        """cid connects to node with clean start 0: session present, every
        payload of want arrives, a message pub publishes on topic live
        after that arrives too (its subscription is live there), and node
        revived exactly one session, saying so."""
        c0, log0 = node.metric(REVIVED, 0), node.count(REVIVED_LOG)
        sub, ack = self.back(node, cid, v5=v5)
        self.assertTrue(ack.session_present,
                        "the dead node's session revived on %s" % node.node_id)
        self.all_arrive(sub, want)
        self.probe(pub, sub, live, tag=b"live")
        self.revived(node, c0, log0)

    @staticmethod
    def incarnation(node):
        """node's latest incarnation, from its own log ("node <id> (<inc>)
        is up"); None before it has read its own heartbeat."""
        found = re.findall(r"node %s \(([0-9a-f]+)\) is up" % node.node_id, node.log_text())
        return found[-1] if found else None

    def restore(self, node):
        """Start the killed node again, until every other node has seen its
        new incarnation and all see three nodes."""
        old = self.incarnation(node)
        self.cl.restart(node)
        ku.wait_until(lambda: self.incarnation(node) not in (None, old), 20,
                      what="%s's new incarnation in its log" % node.node_id)
        up = "node %s (%s) is up" % (node.node_id, self.incarnation(node))
        for n in self.cl.nodes:
            self.cl.wait_log(n, up, 1, 20)
            self.cl.wait_nodes(n, 3, 20)


class Revive(ReviveCase):
    def test_offline_session_comes_back_with_what_was_published_anywhere(self):
        """Offline on n1, 50 messages from n3 and 50 from n1 itself, n1
        killed and noticed as down: on n2 the session is present, all 100
        arrive, and its subscription is live there."""
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        cid = "rv-a"
        sub, _ = self.c5(n1, cid, props=KEEP)
        self.subscribe(n1, sub, "rv/a/#")
        p3, _ = self.c5(n3, "rv-a-p3")
        self.probe(p3, sub, "rv/a/probe")  # n3 knows n1's interest
        sub.disconnect()
        p1, _ = self.c5(n1, "rv-a-p1")
        want = set()
        for pub, tag in ((p3, b"n3"), (p1, b"n1")):
            for i in range(50):
                want.add(b"%s-%d" % (tag, i))
                pub.publish("rv/a/" + tag.decode(), b"%s-%d" % (tag, i), qos=1, pid=1 + i)
        down = "node n1 (%s) is down" % self.incarnation(n1)
        self.cl.kill9(n1)
        try:
            self.cl.wait_log(n2, down, 1)  # n2 knows: it claims from nobody
            self.comes_back(n2, cid, want, p3, "rv/a/live")
        finally:
            self.restore(n1)

    def test_replay_larger_than_the_queue_loses_nothing(self):
        """n1 dies with an offline session; n3 goes on publishing for it
        (n1's interest stays known), 2.5 times mqtt.max_queued (1000, the
        default): the replay on n2 waits for the client to read instead of
        dropping, and every one arrives."""
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        cid = "rv-q"
        sub, _ = self.c5(n1, cid, props=KEEP)
        self.subscribe(n1, sub, "rv/q/#")
        p3, _ = self.c5(n3, "rv-q-p3")
        self.probe(p3, sub, "rv/q/probe")
        sub.disconnect()
        down = "node n1 (%s) is down" % self.incarnation(n1)
        self.cl.kill9(n1)
        try:
            self.cl.wait_log(n2, down, 1)
            ld = cu.Load(n3.port, "rv-q-l3", [("rv/q/x", b"q%d" % i) for i in range(2500)],
                         window=50)
            self.addCleanup(ld.stop)
            ld.start()
            ld.wait_acked(2500, 60)
            sub, ack = self.back(n2, cid)
            self.assertTrue(ack.session_present, "the dead node's session revived on n2")
            want = {pl for _, pl in ld.acked()}
            self.all_arrive(sub, want, 60)
        finally:
            self.restore(n1)

    def test_expired_session_of_a_dead_node_is_not_revived(self):
        """A session with expiry 3 s, connected to n1 when n1 is killed: its
        expiry counts from n1's death, and once it is over n2 gives the
        client a new session instead of reviving it."""
        n1, n2 = self.cl[1], self.cl[2]
        cid = "rv-x"
        sub, _ = self.c5(n1, cid, props=[(raw5.SESSION_EXPIRY, 3)])
        self.subscribe(n1, sub, "rv/x/#")
        down = "node n1 (%s) is down" % self.incarnation(n1)
        self.cl.kill9(n1)
        try:
            self.cl.wait_log(n2, down, 1)
            seen = time.monotonic()  # n2 counts the expiry from no later than this
            # the expiry is a deadline in time: wait it out, with a margin
            time.sleep(max(0.0, seen + 4.0 - time.monotonic()))
            c0, log0 = n2.metric(REVIVED, 0), n2.count("SLUICE-CLUSTER-SESSION-EXPIRED")
            sub, ack = self.back(n2, cid)
            self.assertFalse(ack.session_present, "an expired session is not revived")
            self.cl.wait_log(n2, "SLUICE-CLUSTER-SESSION-EXPIRED", log0 + 1)
            self.assertEqual(n2.metric(REVIVED, 0), c0)
        finally:
            self.restore(n1)

    def test_shared_group_messages_of_a_dead_node_go_to_a_living_member(self):
        """$share/gsd/sd/# has a member on n1 that receives without
        acknowledging and one on n2; n3 publishes 100 QoS 1 messages and n1
        is killed: n2 (on duty, the lowest living id) picks the group's
        messages that were n1's again, and every acknowledged message
        reaches n2's member."""
        n1, n3 = self.cl[1], self.cl[3]
        m1, m2 = self.group("sd")
        ld = cu.Load(n3.port, "rv-s-pub", [("sd/x", b"s%d" % i) for i in range(100)], window=10)
        self.addCleanup(ld.stop)
        ld.start()
        ld.wait_acked(100, 30)
        m1.recv_publish(10, ack=False)  # n1 took some of them, unconfirmed
        self.cl.kill9(n1)
        try:
            want = {pl for _, pl in ld.acked()}
            self.all_arrive(m2, want, 40)
        finally:
            self.restore(n1)

    def test_shared_group_messages_picked_for_a_node_already_dead(self):
        """n1, with a member of $share/gsk/sk/#, is killed first; n3 goes on
        picking n1 for some messages until it sees n1 down: n2 (on duty)
        gives those to its own member too, while they arrive and in its
        replay."""
        n1, n3 = self.cl[1], self.cl[3]
        m1, m2 = self.group("sk")
        self.cl.kill9(n1)
        try:
            ld = cu.Load(n3.port, "rv-k-pub", [("sk/x", b"k%d" % i) for i in range(200)],
                         window=10)
            self.addCleanup(ld.stop)
            ld.start()
            ld.wait_acked(200, 30)
            want = {pl for _, pl in ld.acked()}
            self.all_arrive(m2, want, 40)
        finally:
            self.restore(n1)

    def test_connected_subscriber_under_load_loses_nothing_acknowledged(self):
        """A subscriber on n1 reads QoS 1 streams from n3 and from n1; n1 is
        killed mid-stream and the client goes on n2 at once (its claim goes
        unanswered) while n3's stream goes on: every message acknowledged
        to n3's publisher, and to n1's before the kill, arrives over the two
        connections together."""
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        cid = "rv-b"
        old, _ = self.c5(n1, cid, props=KEEP)
        self.subscribe(n1, old, "rv/b/#")
        p3, _ = self.c5(n3, "rv-b-p3")
        self.probe(p3, old, "rv/b/probe")
        self.cl.mock.rtt(RTT)
        self.addCleanup(self.cl.mock.rtt, 0)
        ld3 = cu.Load(n3.port, "rv-b-l3", [("rv/b/c", b"c%d" % i) for i in range(2 * N)], window=2)
        ld1 = cu.Load(n1.port, "rv-b-l1", [("rv/b/a", b"a%d" % i) for i in range(N)], window=4)
        got = set()
        for ld in (ld3, ld1):  # both running, the subscriber reading
            self.addCleanup(ld.stop)
            ld.start()
            self.read_until(old, got, lambda: ld.n_acked() >= N // 10,
                            lambda: "%d of %d acked (%r)" % (ld.n_acked(), len(ld.msgs), ld.error))
        self.cl.kill9(n1)
        try:
            try:  # what the old connection still has
                while True:
                    got.add(old.recv_publish(10, ack=True).payload)
            except (Closed, OSError):
                pass
            ld1.join(10)
            self.assertLess(ld1.n_acked(), N, "n1 was killed before its stream ended")
            c0, log0 = n2.metric(REVIVED, 0), n2.count(REVIVED_LOG)
            new, ack = self.back(n2, cid)
            running, at = ld3.is_alive(), ld3.n_acked()
            self.assertTrue(ack.session_present, "the dead node's session revived on n2")
            self.assertTrue(running, "n3's stream ended before the session came back")
            # n3's stream goes on into the revived session a little, then ends
            self.read_until(new, got, lambda: ld3.n_acked() >= at + 50 or not ld3.is_alive(),
                            lambda: "n3's stream: %d acked (%r)" % (ld3.n_acked(), ld3.error))
            ld3.stop()
            self.assertIsNone(ld3.error)
            p3.publish("rv/b/c", b"end", qos=1, pid=1)  # after n3's stream
            want = {pl for ld in (ld1, ld3) for _, pl in ld.acked()}
            self.read_until(new, got, lambda: b"end" in got and want <= got,
                            lambda: "sentinel %s; acknowledged and never delivered %d: %r" % (
                                b"end" in got, len(want - got), sorted(want - got)[:10]))
            self.revived(n2, c0, log0)
        finally:
            self.restore(n1)

    def test_v311_session_comes_back_on_a_third_node(self):
        """The same for a 3.1.1 client (clean session 0) whose session was on
        n2, with messages from n1 and from n2 itself: it reconnects to n3 at
        once after the kill."""
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        cid = "rv-c"
        sub = rawmqtt.RawClient(n2.port, timeout=10)
        self.clients.append(sub)
        ack = sub.connect(cid, clean=False)
        self.assertEqual(ack.rc, 0)
        self.subscribe(n2, sub, "rv/c/#")
        p1, _ = self.c5(n1, "rv-c-p1")
        self.probe(p1, sub, "rv/c/probe")
        sub.disconnect()
        p2, _ = self.c5(n2, "rv-c-p2")
        want = set()
        for pub, tag in ((p1, b"n1"), (p2, b"n2")):
            for i in range(10):
                want.add(b"%s-%d" % (tag, i))
                pub.publish("rv/c/" + tag.decode(), b"%s-%d" % (tag, i), qos=1, pid=1 + i)
        self.cl.kill9(n2)
        try:
            self.comes_back(n3, cid, want, p1, "rv/c/live", v5=False)
        finally:
            self.restore(n2)


class Acl(ReviveCase):
    """With an ACL, what a replay gives a revived session is asked of its
    ACL before it is sent (the replay itself asks none)."""
    node_cfg = {"auth": {"allow_anonymous": True, "acl": [
        {"topic": "ra/#", "access": "read"},
        {"topic": "ra/secret/#", "access": "deny"},
        {"user": "pub", "topic": "ra/#"}]}}

    def test_replay_delivers_only_what_the_acl_lets_the_client_read(self):
        n1, n2, n3 = self.cl[1], self.cl[2], self.cl[3]
        cid = "ra-sub"
        sub, _ = self.c5(n1, cid, props=KEEP)
        self.subscribe(n1, sub, "ra/#")
        pub = raw5.Client5(n3.port, timeout=10)
        self.clients.append(pub)
        self.assertEqual(pub.connect("ra-pub", username="pub").rc, 0)
        self.probe(pub, sub, "ra/ok/probe")
        sub.disconnect()
        for i in range(10):
            for t in ("ok", "secret"):
                self.assertEqual(pub.publish("ra/%s/%d" % (t, i), b"%s-%d" % (t.encode(), i),
                                             qos=1, pid=1 + i).rc, 0)
        down = "node n1 (%s) is down" % self.incarnation(n1)
        self.cl.kill9(n1)
        try:
            self.cl.wait_log(n2, down, 1)
            sub, ack = self.back(n2, cid)
            self.assertTrue(ack.session_present)
            self.cl.wait_log(n2, "SLUICE-CLUSTER-SESSION-REPLAYED", 1)
            pub.publish("ra/ok/end", b"end", qos=1, pid=20)  # after the replay, in order
            got = set()
            self.read_until(sub, got, lambda: b"end" in got, lambda: "no end: %r" % sorted(got))
            self.assertEqual({p for p in got if p.startswith(b"secret")}, set(),
                             "a replay gave the client what its ACL denies")
            self.assertTrue({b"ok-%d" % i for i in range(10)} <= got, sorted(got))
        finally:
            self.restore(n1)


class NoCheckpoints(ReviveCase):
    """cluster.checkpoint_ms 0: no checkpoints, the old behaviour."""
    cluster_cfg = {"checkpoint_ms": 0}

    def test_holder_dead_gives_a_new_session(self):
        n1, n2 = self.cl[1], self.cl[2]
        cid = "mv-dead"
        c, _ = self.c5(n2, cid, props=KEEP)
        self.assertEqual(c.subscribe([("mv/d/#", 1)]), [1])
        c.disconnect()
        self.cl.kill9(n2)
        try:
            late = n1.metric(CLAIMS_FAILED, 0)
            revived = n1.metric(REVIVED, 0)
            # before n1 has noticed, its claim goes unanswered until
            # cluster.node_timeout_ms; after, it asks nobody: a new session
            # either way (the CONNACK's wait is bounded by the client's)
            c, ack = self.c5(n1, cid, clean=False, props=KEEP, timeout=15)
            self.assertFalse(ack.session_present)
            self.assertIn(n1.metric(CLAIMS_FAILED, 0), (late, late + 1))
            self.assertEqual(n1.metric(REVIVED, 0), revived)
        finally:
            self.restore(n2)


if __name__ == "__main__":
    unittest.main()
