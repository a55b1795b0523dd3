"""Cluster through Kafka: three sluice nodes (n1, n2, n3) that behave as one
broker, joined only through Kafka topics (sluice.msgs, .retained,
.interest, .nodes, .sessions on a 3-broker sluice-kafka-mock).  Black box:
real clients (raw 3.1.1 and 5, paho MQTT 5) on the nodes' MQTT ports,
/metrics and /readyz on their http ports, the Kafka topics read with kcat.

One cluster for the module (starting one costs seconds; CI is tight),
classes named as in docs/CLUSTER.md; load_tests runs them cheap ones
first, destructive ones last, but each test starts from a clean slate
(setUp: every node alive, 3 nodes seen, no remote filters left) and works
in any order.  Sync points, never sleeps: a node knows the others'
subscriptions once sluice_cluster_remote_filters says so (wait_interest);
a retained record was applied once sluice_cluster_retained_applied_total
grew; "nothing arrived" is proved by a sentinel that travels the same path
(same MQTT topic, hence same Kafka partition, after the moment of
interest).

Not tested (not in the first slice): sessions that move to another node,
wills of dead nodes fired by survivors, cluster-wide shared subscriptions.

Brief -> tests: 1 seed: SeedScenario; 2 no duplicates: NoDuplicates;
3 no traffic without interest: NoRemoteInterest; 4 retained: Retained;
5 kill -9 under load: KillPublisher; 6 Kafka down under load: KafkaDown;
7 restart rejoins: Rejoin; 8 from_kafka loop: FromKafkaLoop.  Also:
Startup (readyz, metrics, $SYS, log ids of the started cluster) and
LateNode (a node started while Kafka is down: /readyz 503 while it loads,
no client served before retained messages and interest are loaded)."""

import sys
import time
import unittest

import cluster_util as cu
import harness
import kafka_util as ku
import raw5
import rawmqtt

# consumer group timing for the from_kafka rules (FromKafkaLoop; a restarted
# node's group must not hold its partitions for librdkafka's 45 s)
PROPS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}

# FromKafkaLoop: n1 mirrors loop/# to Kafka "loop" and reads it back (records
# without a template go to their mqtt.topic header); n2 reads "loop" too,
# under n2/<mqtt.topic> so that what n2 injects is told apart from what n1
# injects; n3 reads it with "cluster_records" (this cluster's records too),
# under n3/<mqtt.topic>.  Each node has its own consumer group (default
# sluice-<node_id>): all read every record.
BRIDGES = {
    1: {"to_kafka": [{"match": "loop/#", "topic": "loop"}],
        "from_kafka": [{"topic": "loop", "qos": 1}]},
    2: {"from_kafka": [{"topic": "loop", "mqtt_topic": "n2/{header.mqtt.topic}",
                        "qos": 1}]},
    3: {"from_kafka": [{"topic": "loop", "mqtt_topic": "n3/{header.mqtt.topic}",
                        "qos": 1, "cluster_records": True}]},
}

SYS_NAMES = ["ready", "nodes", "remote_filters", "msgs_produced",
             "msgs_acked", "msgs_failed", "msgs_consumed", "msgs_delivered",
             "msgs_skipped", "retained_produced", "retained_applied",
             "interest_produced", "lag", "lag_msgs", "lag_retained",
             "lag_interest", "lag_nodes", "lag_sessions"]
METRIC_NAMES = [cu.READY, cu.NODES_ALIVE, cu.REMOTE_FILTERS, cu.MSGS_PRODUCED,
                cu.MSGS_ACKED, cu.MSGS_FAILED, cu.MSGS_CONSUMED,
                cu.MSGS_DELIVERED, cu.MSGS_SKIPPED, cu.RETAINED_PRODUCED,
                cu.RETAINED_APPLIED, cu.INTEREST_PRODUCED, cu.LAG] + [
                    cu.LAG + "_" + t for t in ("msgs", "retained", "interest", "nodes",
                                               "sessions")]


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def pubs(c, n, timeout=15.0):
    """The next n PUBLISHes on raw client c, each acknowledged."""
    return [c.recv_publish(timeout=timeout) for _ in range(n)]


def node_client5(tc, node, what):
    """A raw MQTT 5 client on node, closed by tc's tearDown."""
    c = node.client5(tc.cid(what))
    tc.clients.append(c)
    return c


def wait_all(col, want, timeout):
    """Wait until Collector col has every (topic, payload) of want; else
    fail naming what is missing."""
    try:
        col.wait(lambda ms: want <= set(ms), timeout)
    except AssertionError:
        missing = sorted(want - set(col.snapshot()))
        raise AssertionError("%d of %d acknowledged messages never arrived within "
                             "%.0fs, e.g. %r" % (len(missing), len(want), timeout,
                                                 missing[:5])) from None


def brief(msgs):
    return [(m.topic, bytes(m.payload), m.qos, bool(m.retain)) for m in msgs]


CLUSTER = None  # the module's cluster (setUpModule)
CORE = 3        # n1..n3; a test may add n4


def setUpModule():
    global CLUSTER
    ku.require_tools(None)
    CLUSTER = cu.Cluster(CORE, bridges=BRIDGES, extra_topics=["loop"],
                         kafka_props=PROPS)


def tearDownModule():
    if CLUSTER is not None:
        CLUSTER.close()


class ClusterCase(unittest.TestCase):
    """One test on the module's cluster; setUp makes the clean slate."""

    @property
    def cl(self):
        return CLUSTER

    def setUp(self):
        self.fails_before = harness.fail_count(self)
        self.clients = []
        self.seq = 0
        cl = self.cl
        for node in cl.nodes[:CORE]:
            if not node.alive():
                log("%s: %s was not running (an earlier test?): restarting"
                    % (self.id(), node.node_id))
                node.start()
        for node in cl.nodes[:CORE]:
            cl.wait_nodes(node, CORE, 20)
            cl.wait_metric(node, cu.REMOTE_FILTERS, lambda v: v == 0, 15,
                           "== 0 (clean slate: the last test's clients are gone)")

    def tearDown(self):
        for c in reversed(self.clients):
            try:
                if hasattr(c, "loop_stop"):
                    harness.paho_stop(c)
                elif isinstance(c, ku.Collector):
                    c.close()
                else:
                    c.disconnect()
            except Exception:
                pass
        if harness.fail_count(self) != self.fails_before:
            log("\n=== %s failed; node logs:\n%s\n===" % (self.id(),
                                                        self.cl.log_tails(80)))

    # -- clients (closed by tearDown)
    def cid(self, what):
        self.seq += 1
        return "%s-%s-%d" % (type(self).__name__[:10], what, self.seq)

    def raw(self, node, what="raw"):
        c = node.client(self.cid(what))
        self.clients.append(c)
        return c

    def collector(self, node, filters, what="col"):
        c = ku.Collector(node.port, self.cid(what), filters)
        self.clients.append(c)
        return c

    def paho5(self, node, what="p5"):
        c = raw5.paho5(node.port, self.cid(what))
        self.clients.append(c)
        return c

    def publish(self, node, msgs, what="pub", window=20, timeout=30.0):
        """QoS 1 publishes from a new client on node, each acknowledged."""
        ku.publish_all(node.port, self.cid(what), msgs, window=window,
                       timeout=timeout).close()

    def clear_retained(self, node, topic):
        c = node.client(self.cid("clear"))
        c.publish(topic, b"", 1, retain=True)
        c.disconnect()


class Startup(ClusterCase):

    def test_started_cluster_is_ready(self):
        """Every node loaded the cluster state once per start, is ready,
        sees 3 nodes and says so in /metrics, $SYS and its log."""
        cl = self.cl
        for node in cl.nodes[:CORE]:
            self.assertEqual(node.readyz(), (200, {"status": "ready"}), node)
            m = node.metrics()
            missing = [n for n in METRIC_NAMES if n not in m]
            self.assertEqual(missing, [], "%s: metrics missing" % node.node_id)
            self.assertEqual((m[cu.READY], m[cu.NODES_ALIVE]), (1, 3), node)
            starts = node.count(cu.START_MARK)
            cl.wait_log(node, cu.LOADED, starts, 5)
            self.assertEqual(node.count(cu.LOADED), starts, node)
            lines = node.log_text().splitlines()
            for other in cl.nodes[:CORE]:
                if other is not node:
                    self.assertTrue(any(cu.NODE_UP in ln and other.node_id in ln
                                        for ln in lines),
                                    "%s: no %s line naming %s" % (
                                        node.node_id, cu.NODE_UP, other.node_id))
        # $SYS/broker/cluster/<name> (sys_interval 1; the retained values
        # first sent may be a tick old: wait for a tick after the load)
        c = self.raw(cl[1], "sys")
        c.subscribe([("$SYS/broker/cluster/#", 0)])
        seen = {}
        deadline = time.monotonic() + 5

        def done():
            return (set(SYS_NAMES) <= set(seen)
                    and (seen["ready"], seen["nodes"]) == (b"1", b"3"))
        while not done() and time.monotonic() < deadline:
            try:
                p = c.recv_packet(max(0.01, deadline - time.monotonic()))
            except rawmqtt.Timeout:
                break
            if p.type == rawmqtt.PUBLISH:
                seen[p.topic[len("$SYS/broker/cluster/"):]] = bytes(p.payload)
        self.assertEqual(sorted(set(SYS_NAMES) - set(seen)), [],
                         "$SYS/broker/cluster names missing; got %r" % seen)
        self.assertEqual((seen["ready"], seen["nodes"]), (b"1", b"3"))


class SeedScenario(ClusterCase):

    def test_mqtt311_qos012(self):
        """A on n1 (QoS 2) and B on n2 (QoS 1) get what C publishes on n3 at
        QoS 0, 1, 2, at min(publish, subscription) QoS, in order, once."""
        cl = self.cl
        a = self.raw(cl[1], "A")
        self.assertEqual(a.subscribe([("seed/#", 2)]), [2])
        b = self.raw(cl[2], "B")
        self.assertEqual(b.subscribe([("seed/+", 1)]), [1])
        cl.wait_interest(cl[3], 2)
        c = self.raw(cl[3], "C")
        c.publish("seed/t", b"q0", 0)
        c.publish("seed/t", b"q1", 1, pid=1)
        c.publish("seed/t", b"q2", 2, pid=2)
        c.publish("seed/t", b"end", 1, pid=3)  # sentinel: no copy after q2
        for sub, qos in ((a, [0, 1, 2, 1]), (b, [0, 1, 1, 1])):
            self.assertEqual(brief(pubs(sub, 4)),
                             [("seed/t", pl, q, False) for pl, q in
                              zip([b"q0", b"q1", b"q2", b"end"], qos)])

    def test_mqtt5_properties(self):
        """The same with MQTT 5, C a paho client: user properties, content
        type, correlation data and response topic reach the other nodes
        intact; retain-as-published is honoured on the remote node.  A is
        a raw MQTT 5 client (it sees the wire order; paho hands a QoS 2
        message over only at PUBREL, after later QoS 1 ones), B is paho."""
        from paho.mqtt.subscribeoptions import SubscribeOptions
        cl = self.cl
        a = node_client5(self, cl[1], "A5")
        self.assertEqual(a.subscribe([("seed5/#", raw5.subopts(2, rap=True))]), [2])
        b = self.paho5(cl[2], "B5")
        self.assertEqual(raw5.paho5_subscribe(
            b, "seed5/+", SubscribeOptions(qos=1, retainAsPublished=False)), [1])
        cl.wait_interest(cl[3], 2)
        c = self.paho5(cl[3], "C5")
        user = [("k", "v"), ("k2", "v2"), ("k", "again")]
        props = raw5.publish_props(UserProperty=user, ContentType="text/plain",
                                   CorrelationData=b"\x00corr\xff",
                                   ResponseTopic="seed5/reply")
        for q in (0, 1, 2):
            c.publish("seed5/t", b"q%d" % q, q, properties=props).wait_for_publish(10)
        c.publish("seed5/ret", b"kept", 1, retain=True,
                  properties=props).wait_for_publish(10)
        c.publish("seed5/ret", b"", 1, retain=True).wait_for_publish(10)  # delete
        # one sentinel per topic (two topics may travel in two partitions)
        for t in ("seed5/t", "seed5/ret"):
            c.publish(t, b"end", 1).wait_for_publish(10)

        def until_ends(next_msg):
            got = []
            deadline = time.monotonic() + 20
            while len([m for m in got if m[1] == b"end"]) < 2:
                left = deadline - time.monotonic()
                self.assertGreater(left, 0, "sentinels missing; got %r" % got)
                got.append(next_msg(left))
            return got

        def from_raw(left):
            m = a.recv_publish(timeout=left)
            return (m.topic, bytes(m.payload), m.qos, int(m.retain), m.props.user,
                    m.props.get(raw5.CONTENT_TYPE), m.props.get(raw5.CORRELATION_DATA),
                    m.props.get(raw5.RESPONSE_TOPIC))

        def from_paho(left):
            m = b.messages.get(timeout=left)
            p = m.properties
            return (m.topic, m.payload, m.qos, m.retain, getattr(p, "UserProperty", []),
                    getattr(p, "ContentType", None), getattr(p, "CorrelationData", None),
                    getattr(p, "ResponseTopic", None))

        full = (user, "text/plain", b"\x00corr\xff", "seed5/reply")
        none = ([], None, None, None)
        for name, got, qos, rap in (("A on n1", until_ends(from_raw), [0, 1, 2], True),
                                    ("B on n2", until_ends(from_paho), [0, 1, 1], False)):
            on_t = [m for m in got if m[0] == "seed5/t"]
            self.assertEqual(on_t, [("seed5/t", b"q%d" % i, q, 0) + full
                                    for i, q in enumerate(qos)]
                             + [("seed5/t", b"end", 1, 0) + none], name)
            # the delete (empty payload) may be passed on to subscribers
            on_r = [m for m in got if m[0] == "seed5/ret" and m[1] != b""]
            self.assertEqual(on_r, [("seed5/ret", b"kept", 1, 1 if rap else 0) + full,
                                    ("seed5/ret", b"end", 1, 0) + none], name)
            self.assertLessEqual(len(got), 7, name)


class NoDuplicates(ClusterCase):

    def test_overlap_and_order(self):
        """X on n1 with overlapping a/# and a/+, Y on the publishing node
        n3, Z on n2: 200 QoS 1 messages on two topics from n3 arrive at each
        exactly once, in order per topic.  Sentinels END3 (from n3) and END1
        (from n1) on both topics travel each path after the 200 records
        (same key, same partition): a duplicate would come before them."""
        cl = self.cl
        x = self.collector(cl[1], ["dup/#", "dup/+"], "X")
        z = self.collector(cl[2], ["dup/t0", "dup/t1"], "Z")
        y = self.collector(cl[3], ["+/t0", "+/t1"], "Y")
        cl.wait_interest(cl[3], 4)
        cl.wait_interest(cl[1], 4)
        msgs = [("dup/t%d" % (i % 2), b"m%03d" % i) for i in range(200)]
        base = cl[3].metric(cu.MSGS_PRODUCED)
        self.publish(cl[3], msgs, "P3", window=20, timeout=60)
        self.publish(cl[3], [("dup/t0", b"END3"), ("dup/t1", b"END3")], "E3")
        self.publish(cl[1], [("dup/t0", b"END1"), ("dup/t1", b"END1")], "E1")
        ends = {("dup/t0", b"END3"), ("dup/t1", b"END3"),
                ("dup/t0", b"END1"), ("dup/t1", b"END1")}
        for name, col in (("X", x), ("Y", y), ("Z", z)):
            col.wait(lambda ms: ends <= set(ms), 30, "%s: the four sentinels" % name)
            got = col.snapshot()
            for t in ("dup/t0", "dup/t1"):
                mine = [pl for tt, pl in got if tt == t and not pl.startswith(b"END")]
                self.assertEqual(mine, [pl for tt, pl in msgs if tt == t],
                                 "%s on %s: each once, in order" % (name, t))
                self.assertEqual(sorted(pl for tt, pl in got if tt == t and
                                        pl.startswith(b"END")), [b"END1", b"END3"],
                                 "%s on %s" % (name, t))
        # one record per message for the two remote nodes, not one per node
        self.assertEqual(cl[3].metric(cu.MSGS_PRODUCED) - base, 202)


class NoRemoteInterest(ClusterCase):

    def test_no_cluster_traffic(self):
        """100 messages on a topic nobody subscribes to are not produced to
        sluice.msgs; a sentinel a remote node wants is, and its arrival
        proves the 100 were handled: produced grew by exactly 1."""
        cl = self.cl
        s = self.collector(cl[2], ["int/s"], "S")
        cl.wait_interest(cl[1], 1)
        base = cl[1].metric(cu.MSGS_PRODUCED)
        self.publish(cl[1], [("nobody/%d" % (i % 5), b"n%03d" % i) for i in range(100)],
                     "P", window=20)
        pub_id = self.cid("P2")
        ku.publish_all(cl[1].port, pub_id, [("int/s", b"sentinel")]).close()
        s.wait(lambda ms: ("int/s", b"sentinel") in ms, 20, "the sentinel")
        self.assertEqual(cl[1].metric(cu.MSGS_PRODUCED) - base, 1)
        self.assertEqual(s.snapshot(), [("int/s", b"sentinel")])
        recs = ku.consume(cl.mock.bootstrap, cu.MSGS)
        self.assertEqual([r for r in recs if (r.key or b"").startswith(b"nobody/")], [])
        sent = [r for r in recs if r.key == b"int/s"]
        self.assertEqual(len(sent), 1, sent)
        r = sent[0]
        self.assertEqual(r.value, b"sentinel")
        self.assertEqual((r.header("sluice.v"), r.header("sluice.cluster"),
                          r.header("sluice.node")), ("1", cu.CLUSTER_ID, "n1"), r)
        self.assertTrue(r.header("sluice.inc"), r)
        self.assertEqual((r.header("mqtt.qos"), r.header("mqtt.retain"),
                          r.header("mqtt.clientid")), ("1", "0", pub_id), r)


class Retained(ClusterCase):

    def test_set_replace_delete_across_nodes(self):
        """A retained message set on n1 is what a new subscriber on n2 gets;
        replaced on n1, the new value; deleted on n1, a new subscriber on n3
        gets nothing for it (proved by a retained sentinel on another topic
        the same wildcard matches, then a live marker after the retained
        burst)."""
        cl = self.cl
        n1, n2, n3 = cl[1], cl[2], cl[3]
        base2 = n2.metric(cu.RETAINED_APPLIED)
        base3 = n3.metric(cu.RETAINED_APPLIED)
        r = self.raw(n1, "R")
        r.publish("ret/a", b"v1", 1, retain=True, pid=1)
        cl.wait_metric(n2, cu.RETAINED_APPLIED, lambda v: v >= base2 + 1, 15, "+1")
        s1 = self.raw(n2, "S1")
        s1.subscribe([("ret/a", 1)])
        self.assertEqual(brief(pubs(s1, 1)), [("ret/a", b"v1", 1, True)])

        r.publish("ret/a", b"v2", 1, retain=True, pid=2)
        cl.wait_metric(n2, cu.RETAINED_APPLIED, lambda v: v >= base2 + 2, 15, "+2")
        s2 = self.raw(n2, "S2")
        s2.subscribe([("ret/a", 1)])
        self.assertEqual(brief(pubs(s2, 1)), [("ret/a", b"v2", 1, True)])
        live = self.raw(n2, "L")
        live.publish("ret/a", b"live", 1, pid=1)  # not retained: v1 must not follow v2
        self.assertEqual(brief(pubs(s2, 1)), [("ret/a", b"live", 1, False)])

        r.publish("ret/a", b"", 1, retain=True, pid=3)   # delete
        r.publish("ret/s", b"sentinel", 1, retain=True, pid=4)
        # n3 applied v1, v2, the delete and the sentinel
        cl.wait_metric(n3, cu.RETAINED_APPLIED, lambda v: v >= base3 + 4, 15, "+4")
        s3 = self.raw(n3, "S3")
        s3.subscribe([("ret/#", 1)])
        marker = self.raw(n3, "M")
        marker.publish("ret/end", b"marker", 1, pid=1)  # after the retained burst
        self.assertEqual(brief(pubs(s3, 2)), [("ret/s", b"sentinel", 1, True),
                                              ("ret/end", b"marker", 1, False)])
        self.clear_retained(n1, "ret/s")  # leave no retained state


class FromKafkaLoop(ClusterCase):

    def test_exactly_once(self):
        """n1 mirrors loop/# to Kafka "loop" (to_kafka) and both n1 and n2
        read "loop" (from_kafka).  The record carries sluice.cluster, so n2
        skips it: a message published on n1 on loop/x reaches S1 on n1
        exactly once, not again through n2 (n2/loop/x).  Sentinels: a
        foreign record after it in its partition, seen by S1 (n1's consumer)
        and S2 (n2's consumer), then a publish on n2 on n2/loop/x, the key an
        echo through n2 would have had in sluice.msgs."""
        cl = self.cl
        n1, n2 = cl[1], cl[2]
        s1 = self.collector(n1, ["loop/#", "n2/loop/#", "ksent/1"], "S1")
        s2 = self.collector(n2, ["n2/ksent/#"], "S2")
        s3 = self.collector(cl[3], ["n3/loop/#", "n3/ksent/#"], "S3")
        cl.wait_interest(n2, 3)
        cl.wait_interest(n1, 1)
        self.publish(n1, [("loop/x", b"once")], "P1")
        recs = ku.wait_records(cl.mock.bootstrap, "loop",
                               lambda rs: any(r.value == b"once" for r in rs), 20,
                               "the mirrored record")
        rec = [r for r in recs if r.value == b"once"]
        self.assertEqual(len(rec), 1, rec)
        rec = rec[0]
        self.assertEqual((rec.header("sluice.cluster"), rec.header("sluice.node"),
                          rec.header("mqtt.topic")), (cu.CLUSTER_ID, "n1", "loop/x"), rec)
        ku.produce(cl.mock.bootstrap, "loop", [
            ("ksent", "ksent", {"sluice.node": "outside", "mqtt.topic": "ksent/1"})],
            partition=rec.partition)
        s1.wait(lambda ms: ("ksent/1", b"ksent") in ms, 30, "n1's from_kafka: the sentinel")
        s2.wait(lambda ms: ("n2/ksent/1", b"ksent") in ms, 30, "n2's from_kafka: the sentinel")
        # n3's rule takes this cluster's records ("cluster_records"): once
        s3.wait(lambda ms: ("n3/ksent/1", b"ksent") in ms, 30, "n3's from_kafka: the sentinel")
        self.assertEqual([m for m in s3.snapshot() if m[0] != "n3/ksent/1"],
                         [("n3/loop/x", b"once")])
        self.publish(n2, [("n2/loop/x", b"tail")], "P2")
        s1.wait(lambda ms: ("n2/loop/x", b"tail") in ms, 20, "the tail sentinel")
        got = [m for m in s1.snapshot() if m[0] != "ksent/1"]
        self.assertEqual(got, [("loop/x", b"once"), ("n2/loop/x", b"tail")])
        recs = ku.consume(cl.mock.bootstrap, "loop")
        self.assertEqual(len([r for r in recs if r.value == b"once"]), 1, recs)


class Rejoin(ClusterCase):

    def test_restarted_node_rejoins(self):
        """n2 stopped (SIGTERM) is seen down by n1; restarted (same node id
        and data dir) it loads again, is seen up, and messages flow both
        ways."""
        cl = self.cl
        n1, n2 = cl[1], cl[2]
        down0, up0, loaded0 = n1.count(cu.NODE_DOWN), n1.count(cu.NODE_UP), n2.count(cu.LOADED)
        rc = n2.stop(15)
        self.assertIn(rc, (0, -15), "n2 exit code on SIGTERM")
        cl.wait_nodes(n1, 2, 15)
        cl.wait_log(n1, cu.NODE_DOWN, down0 + 1, 5)
        n2.start()
        cl.wait_log(n2, cu.LOADED, loaded0 + 1, 5)
        cl.wait_nodes(n1, 3, 15)
        cl.wait_nodes(n2, 3, 15)
        cl.wait_log(n1, cu.NODE_UP, up0 + 1, 5)
        s2 = self.collector(n2, ["rj/#"], "S2")
        cl.wait_interest(n1, 1)
        self.publish(n1, [("rj/a", b"to-n2")], "P1")
        s2.wait(lambda ms: ("rj/a", b"to-n2") in ms, 20, "n1 -> n2")
        s1 = self.collector(n1, ["rj2/#"], "S1")
        cl.wait_interest(n2, 1)
        self.publish(n2, [("rj2/a", b"to-n1")], "P2")
        s1.wait(lambda ms: ("rj2/a", b"to-n1") in ms, 20, "n2 -> n1")


class KillPublisher(ClusterCase):

    def test_kill9_loses_no_acked_message(self):
        """QoS 1 load on n3 for S on n1; kill -9 of n3 mid-stream: S gets
        every message n3 acknowledged (PUBACK comes after Kafka has the
        record)."""
        cl = self.cl
        n1, n3 = cl[1], cl[3]
        s = self.collector(n1, ["k9/#"], "S")
        cl.wait_interest(n3, 1)
        msgs = [("k9/k%d" % (i % 4), b"k%05d" % i) for i in range(20000)]
        load = cu.Load(n3.port, self.cid("L"), msgs, window=20)
        load.start()
        try:
            load.wait_acked(150, 30)
            cl.kill9(n3)
            load.join(10)
        finally:
            load.stop()
        acked = load.acked()
        self.assertGreaterEqual(len(acked), 150)
        want = set(acked)
        wait_all(s, want, 30)
        got = s.snapshot()
        log("kill -9: %d sent, %d acknowledged, %d received"
            % (load.sent, len(acked), len(got)))
        # per topic, the acknowledged ones came in order (first copies)
        for k in range(4):
            t = "k9/k%d" % k
            first = []
            for tt, pl in got:
                if tt == t and (tt, pl) in want and pl not in first:
                    first.append(pl)
            self.assertEqual(first, [pl for tt, pl in acked if tt == t], t)
        cl.restart(n3)
        cl.wait_nodes(n3, 3, 20)


class KafkaDown(ClusterCase):

    def test_under_load(self):
        """Kafka (all 3 mock brokers) down under QoS 1 load on n1 for S on
        n2: /readyz 503 (check "cluster") and sluice_cluster_ready 0 while
        down, 200 and 1 after; no
        acknowledged message lost; the cluster carries messages again."""
        cl = self.cl
        n1, n2 = cl[1], cl[2]
        s = self.collector(n2, ["down/#"], "S")
        cl.wait_interest(n1, 1)
        msgs = [("down/k%d" % (i % 4), b"d%05d" % i) for i in range(600)]
        load = cu.Load(n1.port, self.cid("L"), msgs, window=10)
        self.addCleanup(cl.mock.up)
        load.start()
        try:
            load.wait_acked(50, 30)
            cl.mock.down()
            acked_at_down = load.n_acked()
            body = cl.wait_ready(n1, 503, "cluster", 20)
            self.assertEqual(body.get("status"), "not ready", body)
            cl.wait_ready(n2, 503, "cluster", 20)
            cl.wait_metric(n1, cu.READY, lambda v: v == 0, 5, "== 0 while Kafka is down")
            acked_while_down = load.n_acked()
            cl.mock.up()
            load.join(90)
            self.assertFalse(load.is_alive(), "publisher still waiting for PUBACKs")
        finally:
            load.stop()
        acked = load.acked()
        log("Kafka down: %d acked before down, %d by the time it came back, "
            "%d of %d in the end%s" % (acked_at_down, acked_while_down, len(acked),
                                       len(msgs), " (%r)" % load.error if load.error else ""))
        wait_all(s, set(acked), 30)
        for node in (n1, n2, cl[3]):
            self.assertEqual(cl.wait_ready(node, 200, None, 30), {"status": "ready"})
            cl.wait_metric(node, cu.READY, lambda v: v == 1, 5, "== 1 once Kafka is back")
        self.publish(n1, [("down/after", b"after")], "P")
        s.wait(lambda ms: ("down/after", b"after") in ms, 20, "n1 -> n2 after the outage")


class LateNode(ClusterCase):

    def test_started_while_kafka_down_serves_no_client_before_loading(self):
        """A node n4 started while Kafka is down answers /readyz 503 (check
        "cluster") and serves no MQTT client (its MQTT port is closed, or
        CONNECT is answered "server unavailable"); once Kafka is back it
        loads, and the first client it accepts finds the retained messages
        and the other nodes' subscriptions already there."""
        cl = self.cl
        n1, n2 = cl[1], cl[2]
        base2 = n2.metric(cu.RETAINED_APPLIED)
        r = self.raw(n1, "R")
        r.publish("boot/r", b"late", 1, retain=True, pid=1)
        self.addCleanup(self.clear_retained, n1, "boot/r")
        # in Kafka: n2 applied it
        cl.wait_metric(n2, cu.RETAINED_APPLIED, lambda v: v >= base2 + 1, 15, "+1")
        s = self.collector(n2, ["boot/#"], "S")
        cl.wait_interest(n1, 1)  # the interest record is in Kafka

        self.addCleanup(cl.mock.up)
        cl.mock.down()
        n4 = cl.add_node()
        self.addCleanup(n4.stop)
        n4.spawn()
        problems = []  # while loading; reported at the end, after the rest
        try:
            try:
                ku.wait_until(lambda: harness.port_open(n4.http) or not n4.alive(), 10)
            except AssertionError:
                pass
            if not n4.alive():
                self.fail("n4 exited while Kafka was down:\n" + n4.log_tail())
            if not harness.port_open(n4.http):
                problems.append("n4's http listener is not open while it loads (spec: "
                                "/readyz answers 503, check \"cluster\", until loaded)")
            else:
                try:
                    cl.wait_ready(n4, 503, "cluster", 10)
                except AssertionError as e:
                    problems.append(str(e))
                self.assertEqual(n4.metric(cu.READY), 0)
            rc = self.connect_rc(n4)
            self.assertIn(rc, (None, 3), "n4 answered CONNECT with rc %r before loading "
                          "(None: port closed; 3: server unavailable)" % rc)
        finally:
            cl.mock.up()
        # the first CONNECT it accepts
        deadline = time.monotonic() + 45
        while self.connect_rc(n4) != 0:
            self.assertLess(time.monotonic(), deadline, "n4 never accepted a client")
            time.sleep(0.05)  # pacing a bounded retry loop, not a sync
        c4 = self.raw(n4, "C4")
        self.assertGreaterEqual(n4.metric(cu.REMOTE_FILTERS), 1,
                                "n4 serves clients before knowing S's subscription")
        c4.subscribe([("boot/#", 1)])
        p4 = self.raw(n4, "P4")
        p4.publish("boot/end", b"marker", 1, pid=1)
        self.assertEqual(brief(pubs(c4, 2)), [("boot/r", b"late", 1, True),
                                              ("boot/end", b"marker", 1, False)])
        s.wait(lambda ms: ("boot/end", b"marker") in ms, 20, "n4 -> S on n2")
        self.assertEqual(cl.wait_ready(n4, 200, None, 10), {"status": "ready"})
        cl.wait_log(n4, cu.LOADED, 1, 5)
        self.assertEqual(problems, [])

    def connect_rc(self, node):
        """CONNACK return code of a 3.1.1 CONNECT to node, None if the port
        is closed or the connection ends without CONNACK."""
        try:
            c = rawmqtt.RawClient(node.port, timeout=5)
        except OSError:
            return None
        try:
            return c.connect(self.cid("probe"), True, 60).rc
        except (rawmqtt.Closed, rawmqtt.Timeout, OSError):
            return None
        finally:
            c.disconnect()


ORDER = [Startup, SeedScenario, NoDuplicates, NoRemoteInterest, Retained,
         FromKafkaLoop, Rejoin, KillPublisher, KafkaDown, LateNode]


def load_tests(loader, standard_tests, pattern):
    """The module's classes in this order (cheap and harmless first, the
    destructive ones last), not alphabetically; each works in any order."""
    suite = unittest.TestSuite()
    for cls in ORDER:
        suite.addTests(loader.loadTestsFromTestCase(cls))
    return suite


if __name__ == "__main__":
    unittest.main()
