"""Helpers for the cluster tests (test_cluster.py): N sluice nodes that act
as one broker, joined only through Kafka topics (docs: "cluster" config
section).

- Cluster: one sluice-kafka-mock (3 brokers) with the cluster's internal
  topics pre-created (<prefix>.msgs, .retained, .interest, .nodes,
  .sessions, 4 partitions each), and N nodes "n1".."nN", each a Node with its own MQTT
  port, http port (/metrics, /readyz), data dir and log.
- Node: a kafka_util.KBroker whose config adds the "cluster" section and an
  "http" listener; start waits for the http listener, then for the MQTT
  listener (a node opens it only once it has loaded the cluster state).
  Only the PID a Node started is ever signalled (stop = SIGTERM, kill9).
- Sync points: wait_metric (any /metrics value), wait_interest (the
  publishing node knows the other nodes' subscriptions: the metric
  sluice_cluster_remote_filters), wait_nodes (sluice_cluster_nodes),
  wait_ready (/readyz), wait_log (stable log ids SLUICE-CLUSTER-*).
- Load: a pipelined QoS 1 publisher (kafka_util.Publisher) in a thread that
  records which messages were acknowledged, for kill -9 / outage tests.

Every wait is bounded."""

import json
import os
import threading
import time
import unittest
import urllib.error
import urllib.request

import harness
import kafka_util as ku

HOST = harness.HOST
CLUSTER_ID = "c1"
PREFIX = "sluice"
PARTITIONS = 4
MSGS = PREFIX + ".msgs"
RETAINED = PREFIX + ".retained"
INTEREST = PREFIX + ".interest"
NODES = PREFIX + ".nodes"
SESSIONS = PREFIX + ".sessions"
INTERNAL_TOPICS = [MSGS, RETAINED, INTEREST, NODES, SESSIONS]

# metric names (spec: /metrics; the same under $SYS/broker/cluster/<name>
# without the sluice_cluster_ prefix and the _total suffix)
READY = "sluice_cluster_ready"
NODES_ALIVE = "sluice_cluster_nodes"
REMOTE_FILTERS = "sluice_cluster_remote_filters"
MSGS_PRODUCED = "sluice_cluster_msgs_produced_total"
MSGS_ACKED = "sluice_cluster_msgs_acked_total"
MSGS_FAILED = "sluice_cluster_msgs_failed_total"
MSGS_CONSUMED = "sluice_cluster_msgs_consumed_total"
MSGS_DELIVERED = "sluice_cluster_msgs_delivered_total"
MSGS_SKIPPED = "sluice_cluster_msgs_skipped_total"
RETAINED_PRODUCED = "sluice_cluster_retained_produced_total"
RETAINED_APPLIED = "sluice_cluster_retained_applied_total"
INTEREST_PRODUCED = "sluice_cluster_interest_produced_total"
LAG = "sluice_cluster_lag"

LOADED = "SLUICE-CLUSTER-LOADED"
NODE_UP = "SLUICE-CLUSTER-NODE-UP"
NODE_DOWN = "SLUICE-CLUSTER-NODE-DOWN"
START_MARK = "=== test: start "  # what Node.spawn writes to the log first


def two_ports():
    a = harness.free_port()
    b = harness.free_port()
    while b == a:
        b = harness.free_port()
    return a, b


class Node(ku.KBroker):
    """One cluster node.  cluster: overrides of the "cluster" section;
    extra: more top-level sections (e.g. "auth")."""

    def __init__(self, bootstrap, node_id, bridge=None, kafka_props=None,
                 cluster=None, sync="batch", extra=None):
        super().__init__(bootstrap, bridge, kafka_props=kafka_props,
                         node_id=node_id, sync=sync)
        self._name_tmp()
        self.port, self.http = two_ports()
        self.cluster = {"enabled": True, "id": CLUSTER_ID,
                        "topic_prefix": PREFIX, "partitions": PARTITIONS,
                        "load_timeout_ms": 30000, "heartbeat_ms": 500,
                        "node_timeout_ms": 3000}
        self.cluster.update(cluster or {})
        self.extra = dict(extra or {})

    def _name_tmp(self):
        # KBroker's temp dir is "sluice-kafka-*"; name the node in it too
        # so that SLUICE_TEST_KEEP leaves dirs one can tell apart
        new = self.tmp + "-" + self.node_id
        os.rename(self.tmp, new)
        self.tmp = new
        self.data_dir = os.path.join(new, "data")
        self.log_path = os.path.join(new, "broker.log")
        self.cfg_path = os.path.join(new, "sluice.json")

    def __repr__(self):
        return "<Node %s mqtt %s http %s pid %s>" % (
            self.node_id, self.port, self.http, self.pid)

    def config(self):
        cfg = super().config()
        cfg["listeners"].append({"protocol": "http",
                                 "bind": "%s:%d" % (HOST, self.http)})
        cfg["cluster"] = dict(self.cluster)
        cfg.update(self.extra)
        return cfg

    # -- lifecycle (same ports and data dir on every start)
    def start(self, timeout=30.0):
        return super().start(timeout)

    def new_ports(self):
        self.port, self.http = two_ports()

    def spawn(self):
        """Start the process and return at once (see wait_http /
        wait_mqtt): for a node that cannot load yet."""
        self.write_config()
        with open(self.log_path, "ab") as f:
            f.write(("%s%s\n" % (START_MARK, time.strftime("%H:%M:%S"))).encode())
        self._spawn([harness.sluice_bin(), "-c", self.cfg_path]
                    + self.extra_args, self.tmp)

    def _launch(self, timeout):
        self.spawn()
        self.wait_http(timeout)
        self.wait_mqtt(timeout)
        self.wait_loaded(timeout)

    def wait_loaded(self, timeout=30.0):
        """The node has loaded the cluster state (sluice_cluster_ready 1):
        until then it answers CONNECT with "server unavailable"."""
        ku.wait_until(lambda: self.metric(READY) == 1, timeout, step=0.05,
                      what="%s: %s == 1" % (self.node_id, READY))

    def wait_http(self, timeout=15.0):
        self._wait_listening([self.http], timeout)

    def wait_mqtt(self, timeout=30.0):
        self._wait_listening([self.port], timeout)

    # -- http
    def get(self, path, timeout=5.0):
        url = "http://%s:%d%s" % (HOST, self.http, path)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def readyz(self):
        """(status, parsed JSON body)."""
        status, body = self.get("/readyz")
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {"unparsed": body}

    def metrics(self):
        """/metrics as {name: value} (harness.parse_metrics)."""
        status, text = self.get("/metrics")
        if status != 200:
            raise AssertionError("%s: /metrics answered %d" % (self, status))
        return harness.parse_metrics(text)

    def metric(self, name, default=None):
        return self.metrics().get(name, default)

    def count(self, msg_id):
        """How often the log says msg_id (over every start)."""
        return self.log_text().count(msg_id)


class Cluster:
    """A mock Kafka cluster and n nodes.  bridges: {node number: "bridge"
    section}; extra_topics: more topics for the mock (4 partitions)."""

    def __init__(self, n=3, bridges=None, extra_topics=(), kafka_props=None,
                 cluster=None, extra=None):
        self.mock = ku.Mock(brokers=3, topics=INTERNAL_TOPICS + list(extra_topics))
        self.kafka_props = kafka_props
        self.cluster_cfg = cluster
        self.extra = extra
        self.nodes = []
        try:
            for i in range(1, n + 1):
                self.add_node((bridges or {}).get(i))
            # spawn all, then wait: the loads overlap
            for node in self.nodes:
                node.spawn()
            for node in self.nodes:
                node.wait_http(15)
                node.wait_mqtt(30)
                node.wait_loaded(30)
        except BaseException:
            ku.log("\n=== the cluster did not start; node logs:\n%s\n==="
                   % self.log_tails(80))
            self.close()
            raise

    def add_node(self, bridge=None, start=False):
        """A new node "n<k>" (k = how many there are + 1)."""
        node = Node(self.mock.bootstrap, "n%d" % (len(self.nodes) + 1),
                    bridge, self.kafka_props, self.cluster_cfg, extra=self.extra)
        # free_port() can hand two nodes the same port before either binds
        # it: the second would then fail to start ("address in use")
        taken = {p for n in self.nodes for p in (n.port, n.http)}
        while node.port in taken or node.http in taken:
            node.new_ports()
        self.nodes.append(node)
        if start:
            node.start()
        return node

    def __getitem__(self, k):
        """cluster[1] is node "n1"."""
        return self.nodes[k - 1]

    # -- sync points
    def wait_metric(self, node, name, pred, timeout=15.0, what=None):
        """Poll node's /metrics until pred(value) (value None if the metric
        is missing); returns the value."""
        last = [None]

        def check():
            last[0] = node.metric(name)
            return pred(last[0])
        try:
            ku.wait_until(check, timeout, step=0.05)
        except AssertionError:
            raise AssertionError("%s: %s never %s within %.0fs (last value %r)"
                                 % (node.node_id, name, what or "as wanted",
                                    timeout, last[0]))
        return last[0]

    def wait_interest(self, node, n, timeout=15.0):
        """node knows >= n subscription filters of the other nodes
        (sluice_cluster_remote_filters): publish on it only after this."""
        return self.wait_metric(node, REMOTE_FILTERS,
                                lambda v: v is not None and v >= n, timeout,
                                ">= %d" % n)

    def wait_nodes(self, node, n, timeout=15.0):
        return self.wait_metric(node, NODES_ALIVE, lambda v: v == n, timeout,
                                "== %d" % n)

    def wait_ready(self, node, status, check=None, timeout=30.0):
        """/readyz answers status (and, if check, names that check among
        its reasons); returns the body."""
        last = [None]

        def ok():
            try:
                s, body = node.readyz()
            except OSError as e:
                last[0] = repr(e)
                return None
            last[0] = (s, body)
            if s != status:
                return None
            if check and check not in [r.get("check") for r in
                                       body.get("reasons", [])]:
                return None
            return body or True
        try:
            return ku.wait_until(ok, timeout, step=0.1)
        except AssertionError:
            raise AssertionError("%s: /readyz never %d %s within %.0fs; last %r"
                                 % (node.node_id, status, check or "",
                                    timeout, last[0]))

    def wait_log(self, node, msg_id, n=1, timeout=15.0):
        """node's log says msg_id at least n times (over all its starts)."""
        ku.wait_until(lambda: node.count(msg_id) >= n, timeout,
                      what="%s: %d x %s in its log" % (node.node_id, n, msg_id))

    # -- processes (only the PIDs the nodes started)
    def kill9(self, node):
        node.kill9()

    def stop(self, node, timeout=10.0):
        return node.stop(timeout)

    def restart(self, node, timeout=30.0):
        """Start again (same node id, ports, data dir) after stop/kill9."""
        if node.alive():
            node.stop()
        return node.start(timeout)

    # -- reporting and teardown
    def log_tails(self, n=80):
        return "\n".join("--- %s (%s, pid %s, %s):\n%s" % (
            node.node_id, node.tmp, node.pid,
            "alive" if node.alive() else "exit %s" % (
                node.proc.returncode if node.proc else None),
            node.log_tail(n)) for node in self.nodes)

    def close(self):
        """SIGTERM every node (kill -9 after 10 s), remove its temp dir,
        stop the mock.  Raises if a node printed a sanitizer report."""
        reports = []
        for node in self.nodes:
            try:
                node.stop(10)
                node.cleanup()
            except AssertionError as e:
                reports.append(str(e))
        self.mock.close()
        if reports:
            raise AssertionError("\n".join(reports))


# ---------------------------------------------------------------- cases

class NodesCase(unittest.TestCase):
    """A class of tests on one Cluster of `nodes` nodes, started once every
    node sees all the others; a test's clients (self.clients) are closed
    after it.  cluster_cfg: overrides of every node's "cluster" section;
    node_cfg: more top-level sections of every node's configuration."""
    nodes = 3
    cluster_cfg = None
    node_cfg = None

    @classmethod
    def setUpClass(cls):
        ku.require_tools(cls)
        cls.cl = Cluster(cls.nodes, cluster=cls.cluster_cfg, extra=cls.node_cfg)
        try:
            for node in cls.cl.nodes:
                cls.cl.wait_nodes(node, cls.nodes, 20)
        except BaseException:
            cls.cl.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.cl.close()

    def setUp(self):
        self.clients = []

    def tearDown(self):
        harness.close_quietly(self.clients)


# ---------------------------------------------------------------- load

class Load(threading.Thread):
    """QoS 1 publishes of msgs [(topic, payload)] from a raw 3.1.1 client
    (kafka_util.Publisher: pid = index + 1) with at most `window`
    unacknowledged, in a thread, until every one is acknowledged, the
    connection closes, or stop().  acked(): the (topic, payload) pairs
    acknowledged so far."""

    def __init__(self, port, client_id, msgs, window=20):
        super().__init__(daemon=True)
        if len(msgs) > 65535:
            raise ValueError("packet ids would wrap")
        self.msgs = list(msgs)
        self.window = window
        self.p = ku.Publisher(port, client_id)
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.sent = 0
        self.error = None

    def run(self):
        p = self.p
        try:
            while not self.stop_ev.is_set() and not p.closed:
                with self.lock:
                    while (self.sent < len(self.msgs)
                           and self.sent - len(p.acks) < self.window):
                        t, pl = self.msgs[self.sent]
                        self.sent += 1
                        p.send(ku.publish_packet(t, pl, 1, self.sent),
                               self.sent)
                    if len(p.acks) >= len(self.msgs):
                        return
                    p.pump(0.02)
        except Exception as e:  # reported by the test, not swallowed
            self.error = e
        finally:
            p.close()

    def n_acked(self):
        with self.lock:
            return len(self.p.acks)

    def acked(self):
        with self.lock:
            pids = list(self.p.acks)
        return [self.msgs[pid - 1] for pid in sorted(pids)]

    def wait_acked(self, n, timeout):
        ku.wait_until(lambda: self.n_acked() >= n or not self.is_alive(),
                      timeout, what="%d PUBACKs" % n)
        if self.n_acked() < n:
            raise AssertionError("publisher ended after %d PUBACKs (wanted %d)%s"
                                 % (self.n_acked(), n,
                                    ": %r" % self.error if self.error else ""))

    def stop(self, timeout=5.0):
        self.stop_ev.set()
        self.join(timeout)
