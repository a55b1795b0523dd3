"""Loop prevention: a topic mirrored out (to_kafka) and back (from_kafka of
the same Kafka topic) does not echo; records of other nodes still come back
(issue 6, docs/KAFKA.md "Loop prevention")."""

import time
import unittest

import kafka_util as ku

PROPS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


class LoopPrevention(ku.KafkaCase):

    def test_mirrored_topic_does_not_echo(self):
        b = self.broker({
            "to_kafka": [{"match": "loop/#", "topic": "mirror",
                          "key": "{topic}"}],
            # no template: the record's mqtt.topic header is used
            "from_kafka": [{"topic": "mirror", "group": "g-loop", "qos": 1}]},
            kafka_props=PROPS, node_id="loopnode")
        col = ku.Collector(b.port, "loop-sub", ["loop/#"])
        self.clients.append(col)
        # the from_kafka rule works: a record from another node comes back
        deadline = time.monotonic() + 30
        while not any(p == b"foreign" for _t, p in col.snapshot()):
            self.assertLess(time.monotonic(), deadline,
                            "records of another node never delivered")
            ku.produce(self.mock.bootstrap, "mirror", [
                ("loop/in", "foreign", {"sluice.node": "othernode",
                                        "mqtt.topic": "loop/in"})])
            time.sleep(1.0)
        n_foreign = len([1 for _t, p in col.snapshot() if p == b"foreign"])
        # now our own publishes: each arrives once (local routing), the
        # mirrored records carrying sluice.node=loopnode are skipped
        msgs = [("loop/own/%d" % (i % 3), b"own-%02d" % i) for i in range(20)]
        ku.publish_all(b.port, "loop-pub", msgs).close()
        ku.wait_records(self.mock.bootstrap, "mirror",
                        lambda rs: len([r for r in rs if
                                        r.value.startswith(b"own-")]) >= 20,
                        20, "20 mirrored records")
        # an echo of an own record would be delivered before a record that
        # follows it in its partition: one foreign sentinel per partition
        # holding own records proves none is still to come
        parts = sorted({r.partition for r in ku.consume(self.mock.bootstrap,
                                                          "mirror")
                        if r.value.startswith(b"own-")})
        sentinels = {b"sentinel-%d" % part for part in parts}
        for part in parts:
            ku.produce(self.mock.bootstrap, "mirror", [
                ("sentinel", "sentinel-%d" % part,
                 {"sluice.node": "othernode", "mqtt.topic": "loop/sentinel"})],
                partition=part)
        ku.wait_until(lambda: sentinels <= {p for _t, p in col.snapshot()},
                      30, what="a sentinel from every partition")
        got = [(t, p) for t, p in col.snapshot() if p not in sentinels]
        own = sorted(p for _t, p in got if p.startswith(b"own-"))
        self.assertEqual(own, sorted(p for _t, p in msgs),
                         "each message exactly once, no echo")
        self.assertEqual(len([1 for _t, p in got if p == b"foreign"]),
                         n_foreign, "foreign record echoed")
        recs = ku.consume(self.mock.bootstrap, "mirror")
        self.assertEqual(len([r for r in recs if r.value.startswith(b"own-")]),
                         20, "no record mirrored twice")
        self.assertTrue(all(r.header("sluice.node") == "loopnode"
                            for r in recs if r.value.startswith(b"own-")))
        stats = ku.sys_counters(b.port, 2.5)
        self.assertGreaterEqual(stats.get("consumed", 0), 20)


if __name__ == "__main__":
    unittest.main()
