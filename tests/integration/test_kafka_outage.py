"""Kafka outage: while the mock cluster is down, QoS 1 publishes matched by
an ack "kafka" rule are acknowledged from the LevelDB spool (after
bridge.spool_after_ms); when Kafka is back every acknowledged record is in
Kafka, per key in publish order.  Also across a kill -9 of sluice during the
outage and a restart on the same data_dir (issue 6, docs/KAFKA.md "The
spool")."""

import time
import unittest

import kafka_util as ku

KEYS = ("ka", "kb", "kc")
RULES = {"spool_after_ms": 1000, "to_kafka": [
    {"match": "o/+/#", "topic": "outage", "key": "{2}"}]}


def msgs(phase, n, start=0):
    """n messages round-robin over KEYS, payload key:phase:global seq."""
    out = []
    for i in range(start, start + n):
        k = KEYS[i % len(KEYS)]
        out.append(("o/%s/v" % k, ("%s:%s:%05d" % (k, phase, i)).encode()))
    return out


def check_key_order(tc, recs, expected_payloads):
    """Every expected payload is in recs; per key one partition and first
    occurrences in publish (sequence) order.  Returns the duplicate count."""
    vals = [r.value for r in recs]
    missing = [p for p in expected_payloads if p not in set(vals)]
    tc.assertEqual(missing, [], "acknowledged records missing from Kafka "
                   "(%d of %d)" % (len(missing), len(expected_payloads)))
    dups = len(vals) - len(set(vals))
    for k in KEYS:
        mine = [r for r in recs if r.key == k.encode()]
        tc.assertLessEqual(len({r.partition for r in mine}), 1)
        mine.sort(key=lambda r: r.offset)
        seen, order = set(), []
        for r in mine:
            if r.value not in seen:
                seen.add(r.value)
                order.append(int(r.value.split(b":")[2]))
        tc.assertEqual(order, sorted(order),
                       "key %s out of publish order: %s" % (k, order))
    return dups


class Outage(ku.KafkaCase):

    def warm(self, b):
        p = ku.publish_all(b.port, "warm", [("o/ka/v", b"ka:warm:-0001")])
        p.close()
        ku.wait_count(self.mock.bootstrap, "outage", 1, 20)

    def test_acks_from_spool_then_replay_in_key_order(self):
        b = self.broker(RULES)
        self.warm(b)
        before = msgs("up", 30)
        ku.publish_all(b.port, "pub-a", before, window=10).close()
        self.mock.down()
        t0 = time.monotonic()
        during = msgs("down", 60, 30)
        p = ku.publish_all(b.port, "pub-b", during, window=10, timeout=60)
        p.close()
        t_acked = time.monotonic() - t0
        lats = sorted(p.acks[i + 1][0] - p.sent_at[i + 1]
                      for i in range(len(during)))
        ku.log("\n[outage] 60 QoS 1 acks during the outage in %.2fs "
               "(ack latency min %.3f, median %.3f, max %.3f s)"
               % (t_acked, lats[0], lats[len(lats) // 2], lats[-1]))
        self.assertEqual(set(rc for _t, rc in p.acks.values()), {0})
        stats = ku.sys_counters(b.port, 2.5)
        ku.log("[outage] $SYS during outage: %r" % stats)
        self.assertGreaterEqual(stats.get("spooled", 0), 1)
        self.assertGreaterEqual(stats.get("spool/depth", 0), 1)
        # nothing of the outage is in Kafka yet (it is down)
        self.mock.up()
        after = msgs("after", 30, 90)
        ku.publish_all(b.port, "pub-c", after, window=10, timeout=60).close()
        want = [pl for _t, pl in before + during + after]
        recs = ku.wait_records(
            self.mock.bootstrap, "outage",
            lambda rs: set(want) <= {r.value for r in rs}, 60,
            "every acknowledged record")
        dups = check_key_order(self, recs, want)
        ku.log("[outage] %d records in Kafka, %d duplicates" % (len(recs),
                                                               dups))
        stats = ku.wait_until(
            lambda: (lambda v: v if v.get("spool/depth", 1) == 0 else None)(
                ku.sys_counters(b.port, 2.5)), 20, what="spool drained")
        self.assertEqual(stats.get("spool/bytes", 0), 0)

    def test_kill9_during_outage_spool_survives(self):
        b = self.broker(RULES, sync="always")
        self.warm(b)
        self.mock.down()
        during = msgs("down", 80)
        p = ku.Publisher(b.port, "pub-k9")
        self.clients.append(p)
        next_i = 0
        deadline = time.monotonic() + 40
        # pipelined, window 10; kill -9 once 40 are acknowledged
        while len(p.acks) < 40 and time.monotonic() < deadline:
            while next_i < len(during) and next_i - len(p.acks) < 10:
                t, pl = during[next_i]
                next_i += 1
                p.send(ku.publish_packet(t, pl, 1, next_i), next_i)
            p.pump(0.05)
        self.assertGreaterEqual(len(p.acks), 40, "acks stopped during outage")
        for _ in range(10):   # some in flight at the kill
            t, pl = during[next_i]
            next_i += 1
            p.send(ku.publish_packet(t, pl, 1, next_i), next_i)
        p.pump(0.005)
        b.kill9()
        p.pump(0.2)
        acked = [during[pid - 1][1] for pid in sorted(p.acks)
                 if p.acks[pid][1] == 0]
        ku.log("\n[outage] kill -9 with %d acknowledged, %d sent"
               % (len(acked), next_i))
        p.close()
        b.start()
        self.mock.up()
        recs = ku.wait_records(
            self.mock.bootstrap, "outage",
            lambda rs: set(acked) <= {r.value for r in rs}, 60,
            "every record acknowledged before the kill")
        dups = check_key_order(self, recs, acked)
        ku.log("[outage] after restart: %d records in Kafka, %d duplicates"
               % (len(recs), dups))

    def test_stop_during_outage_spool_replayed_at_start(self):
        # a clean stop during an outage spools what is in flight; the next
        # run replays it before newer records
        b = self.broker(RULES, sync="always")
        self.warm(b)
        self.mock.down()
        during = msgs("down", 20)
        ku.publish_all(b.port, "pub-s", during, window=10, timeout=60).close()
        rc = b.stop()
        self.assertEqual(rc, 0)
        b.start()
        self.mock.up()
        after = msgs("after", 9, 20)
        ku.publish_all(b.port, "pub-s2", after, window=5, timeout=60).close()
        want = [pl for _t, pl in during + after]
        recs = ku.wait_records(
            self.mock.bootstrap, "outage",
            lambda rs: set(want) <= {r.value for r in rs}, 60,
            "every acknowledged record")
        check_key_order(self, recs, want)


if __name__ == "__main__":
    unittest.main()
