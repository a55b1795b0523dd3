"""Kafka -> MQTT (bridge.from_kafka): records produced with kcat reach MQTT
subscribers on the mapped topics ({key}, {header.NAME}, {partition}, the
mqtt.topic header); Kafka headers come back as MQTT 5 properties; a restart
of sluice mid-stream loses nothing (offsets are committed only after the
hand-off) (issue 6, docs/KAFKA.md "Rules: Kafka -> MQTT")."""

import threading
import time
import unittest

import kafka_util as ku
import raw5

# a restarted member must get its partitions back quickly (docs/KAFKA.md)
PROPS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
RULES = {"from_kafka": [
    {"topic": "commands", "group": "g-cmd",
     "mqtt_topic": "devices/{key}/commands", "qos": 1},
    {"topic": "sitecmd", "group": "g-site",
     "mqtt_topic": "site/{header.site}/p{partition}", "qos": 1},
    {"topic": "bytopic", "group": "g-bytopic", "qos": 0}]}


def wait_consuming(tc, col, topic, key_topic, timeout=30):
    """Produce probe records until one reaches the subscriber: the rule's
    consumer has its partitions."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n += 1
        ku.produce(tc.mock.bootstrap, topic, [("probe", "probe-%d" % n, {})])
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            if any(t == key_topic for t, _p in col.snapshot()):
                return
            time.sleep(0.05)
    tc.fail("from_kafka consumer of %r never delivered a probe" % topic)


class BatchProducer(threading.Thread):
    """Produces records in batches of `batch`, one kcat each (kcat -P
    sends only at EOF of its stdin), so the stream lasts a few seconds."""

    def __init__(self, bootstrap, topic, records, batch=5, pause=0.2):
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.records, self.batch, self.pause = records, batch, pause
        self.sent = 0
        self.error = None

    def run(self):
        try:
            for i in range(0, len(self.records), self.batch):
                chunk = self.records[i:i + self.batch]
                ku.produce(self.bootstrap, self.topic,
                           [(k, v, {}) for k, v in chunk])
                self.sent += len(chunk)
                time.sleep(self.pause)
        except Exception as e:   # reported by finish()
            self.error = e

    def finish(self, timeout=60):
        self.join(timeout)
        if self.error:
            raise self.error


class FromKafka(ku.KafkaCase):

    def collector(self, b, cid, filters, clean=True):
        c = ku.Collector(b.port, cid, filters, clean=clean)
        self.clients.append(c)
        return c

    def test_key_template_reaches_subscribers(self):
        b = self.broker(RULES, kafka_props=PROPS)
        col = self.collector(b, "cmd-sub", ["devices/+/commands"])
        wait_consuming(self, col, "commands", "devices/probe/commands")
        recs = [("d%d" % (i % 4), "cmd-%03d" % i, {}) for i in range(40)]
        ku.produce(self.mock.bootstrap, "commands", recs)
        col.wait(lambda m: len([x for x in m if b"cmd-" in x[1]]) >= 40, 20,
                 "40 commands")
        got = [(t, p) for t, p in col.snapshot() if p.startswith(b"cmd-")]
        self.assertEqual(sorted(got), sorted(
            ("devices/%s/commands" % k, v.encode()) for k, v, _h in recs))
        # per key in record order (one partition per key)
        for k in ("d0", "d1", "d2", "d3"):
            mine = [p for t, p in got if t == "devices/%s/commands" % k]
            self.assertEqual(mine, sorted(mine), "order of key %s" % k)
        stats = ku.sys_counters(b.port, 2.5)
        self.assertGreaterEqual(stats.get("consumed", 0), 40)
        self.assertGreaterEqual(stats.get("delivered", 0), 40)

    def test_header_template_and_properties(self):
        b = self.broker(RULES, kafka_props=PROPS)
        c5 = b.client5("hdr-sub")
        self.clients.append(c5)
        self.assertEqual(c5.subscribe([("site/#", 1), ("free/#", 1)]),
                         [1, 1])
        col = self.collector(b, "hdr-probe", ["site/#"])
        deadline = time.monotonic() + 30
        while not col.snapshot():
            self.assertLess(time.monotonic(), deadline, "no probe delivered")
            ku.produce(self.mock.bootstrap, "sitecmd",
                       [("probe", "probe", {"site": "probe"})])
            time.sleep(1.0)
        ku.produce(self.mock.bootstrap, "sitecmd", [
            ("k1", "open", [("site", "berlin"), ("x-trace", "abc"),
                            ("mqtt.content_type", "text/plain")])])
        deadline = time.monotonic() + 20
        while True:
            m = c5.recv_publish(max(0.1, deadline - time.monotonic()))
            if m.payload == b"open":
                break
        self.assertRegex(m.topic, r"^site/berlin/p[0-9]+$")
        self.assertIn(("x-trace", "abc"), m.user)
        self.assertEqual(m.props.get(raw5.CONTENT_TYPE), "text/plain")
        self.assertEqual(m.qos, 1)
        # no template: the record's mqtt.topic header is the MQTT topic; a
        # record without one is dropped and counted
        ku.produce(self.mock.bootstrap, "bytopic",
                   [("k", "nohdr", {})])
        ku.produce(self.mock.bootstrap, "bytopic",
                   [("k", "via-header", {"mqtt.topic": "free/form/topic"})])
        deadline = time.monotonic() + 30
        while True:
            m = c5.recv_publish(max(0.1, deadline - time.monotonic()))
            if m.payload in (b"via-header", b"nohdr"):
                break
        self.assertEqual((m.topic, m.payload, m.qos),
                         ("free/form/topic", b"via-header", 0))
        ku.wait_until(lambda: ku.sys_counters(b.port, 1.5).get(
            "dropped", 0) >= 1, 10, what="dropped counter")

    def _restart_mid_stream(self, kill):
        b = self.broker(RULES, kafka_props=PROPS, sync="always")
        col = self.collector(b, "persist-sub", ["devices/+/commands"],
                             clean=False)
        wait_consuming(self, col, "commands", "devices/probe/commands")
        n = 50
        recs = [("d%d" % (i % 5), "cmd-%03d" % i) for i in range(n)]
        prod = BatchProducer(self.mock.bootstrap, "commands", recs)
        prod.start()
        cmds = lambda m: {p for _t, p in m if p.startswith(b"cmd-")}
        col.wait(lambda m: len(cmds(m)) >= 20, 30, "20 commands")
        if kill:
            b.kill9()
        else:
            self.assertEqual(b.stop(), 0)
        col.close(disconnect=False)
        first = cmds(col.snapshot())
        ku.log("\n[from] %s after %d delivered (%d produced)"
               % ("kill -9" if kill else "stop", len(first), prod.sent))
        self.assertLess(len(first), n, "not mid-stream: all delivered "
                        "before the %s" % ("kill" if kill else "stop"))
        # not a sync: the producer goes on meanwhile, so some records are
        # written while the broker is down
        time.sleep(0.5)
        b.start()
        col2 = self.collector(b, "persist-sub", None, clean=False)
        self.assertTrue(col2.session_present)
        t0 = time.monotonic()
        col2.wait(lambda m: len(first | cmds(m)) >= n, 60,
                  "all %d commands across the restart" % n)
        prod.finish()
        both = first | cmds(col2.snapshot())
        self.assertEqual(both, {v.encode() for _k, v in recs})
        total = len([1 for _t, p in col.snapshot() + col2.snapshot()
                     if p.startswith(b"cmd-")])
        ku.log("[from] all %d after the restart in %.1fs (%d duplicates)"
               % (n, time.monotonic() - t0, total - n))

    def test_restart_mid_stream_loses_nothing(self):
        self._restart_mid_stream(kill=False)

    def test_kill9_mid_stream_loses_nothing(self):
        self._restart_mid_stream(kill=True)


if __name__ == "__main__":
    unittest.main()
