"""Dead letters: a record Kafka refuses for good is never lost: it goes to
bridge.dead_letter_topic (with sluice.error and sluice.original_topic
headers) when set, else into the local quarantine that `sluice dlq list`
shows and `sluice dlq replay` produces again (issue 6, docs/KAFKA.md "Dead
letters")."""

import unittest

import kafka_util as ku

SMALL_MAX = {"message.max.bytes": "2000"}
BIG = bytes((i * 7) % 251 for i in range(10 * 1024))   # 10 KB


class DeadLetters(ku.KafkaCase):

    def test_too_large_goes_to_quarantine_then_replay(self):
        rules = {"spool_after_ms": 2000, "to_kafka": [
            {"match": "dl/#", "topic": "dlsrc", "key": "{2}"}]}
        b = self.broker(rules, kafka_props=SMALL_MAX)
        c = b.client5("dl-c")
        ok = c.publish("dl/small", b"small", qos=1)
        self.assertEqual(ok.rc, 0)
        big = c.publish("dl/big", BIG, qos=1, pid=2, timeout=15)
        self.assertLess(big.rc, 0x80, "a quarantined record is safe and is "
                        "acknowledged as such (rc %#x)" % big.rc)
        c.disconnect()
        ku.wait_until(lambda: ku.sys_counters(b.port, 1.5).get(
            "dead_lettered", 0) >= 1, 15, what="$SYS dead_lettered")
        self.assertEqual(b.stop(), 0)
        recs = ku.wait_count(self.mock.bootstrap, "dlsrc", 1, 20)
        self.assertEqual([r.value for r in recs], [b"small"])
        rc, out, err = b.run(["dlq", "list"])
        ku.log("\n[dlq] list: rc %d\n%s%s" % (rc, out, err))
        self.assertEqual(rc, 0, err)
        self.assertIn("dlsrc", out)
        self.assertIn("MSG_SIZE_TOO_LARGE", out)
        self.assertIn(str(len(BIG)), out, "size listed")
        self.assertNotIn("small", out)
        # replay with a config that lets it through
        b.kafka_props = None
        rc, out, err = b.run(["dlq", "replay"], timeout=60)
        ku.log("[dlq] replay: rc %d\n%s%s" % (rc, out, err))
        self.assertEqual(rc, 0, err)
        recs = ku.wait_count(self.mock.bootstrap, "dlsrc", 2, 20)
        big_recs = [r for r in recs if r.value == BIG]
        self.assertEqual(len(big_recs), 1, "replayed record in Kafka")
        self.assertEqual(big_recs[0].key, b"big")
        self.assertEqual(big_recs[0].header("mqtt.topic"), "dl/big")
        self.assertEqual(big_recs[0].header("sluice.node"), "kt1")
        # replayed records are deleted from the quarantine
        rc, out, err = b.run(["dlq", "list"])
        self.assertEqual(rc, 0, err)
        self.assertNotIn("dlsrc", out)
        self.assertNotIn("MSG_SIZE_TOO_LARGE", out)

    def test_invalid_topic_goes_to_dead_letter_topic(self):
        rules = {"dead_letter_topic": "dead", "to_kafka": [
            {"match": "dt/+/x", "topic": "t-{2}", "key": "{2}"}]}
        b = self.broker(rules)
        c = b.client("dt-c")
        c.publish("dt/ok/x", b"fine", qos=1)
        # "t-bad name!" is not a legal Kafka topic
        c.publish("dt/bad name!/x", b"refused", qos=1, pid=2, timeout=15)
        c.disconnect()
        self.assertEqual([r.value for r in
                          ku.wait_count(self.mock.bootstrap, "t-ok", 1, 20)],
                         [b"fine"])
        recs = ku.wait_count(self.mock.bootstrap, "dead", 1, 20)
        self.assertEqual(len(recs), 1)
        r = recs[0]
        ku.log("\n[dlq] dead letter: %r" % r)
        self.assertEqual(r.value, b"refused")
        self.assertEqual(r.key, b"bad name!")
        self.assertEqual(r.header("sluice.original_topic"), "t-bad name!")
        self.assertTrue(r.header("sluice.error"), "sluice.error header")
        self.assertEqual(r.header("mqtt.topic"), "dt/bad name!/x")
        self.assertEqual(r.header("sluice.node"), "kt1")
        self.assertGreaterEqual(ku.sys_counters(b.port, 2.5).get(
            "dead_lettered", 0), 1)

    def test_too_large_with_dead_letter_topic_is_never_lost(self):
        # the dead-letter produce is refused too (same producer limit):
        # documented fallback is the local quarantine
        rules = {"dead_letter_topic": "dead2", "spool_after_ms": 2000,
                 "to_kafka": [{"match": "dl/#", "topic": "dlsrc2"}]}
        b = self.broker(rules, kafka_props=SMALL_MAX)
        c = b.client("dl2-c")
        c.publish("dl/big", BIG, qos=1, timeout=15)
        c.disconnect()
        ku.wait_until(lambda: ku.sys_counters(b.port, 1.5).get(
            "dead_lettered", 0) >= 1, 15, what="$SYS dead_lettered")
        self.assertEqual(b.stop(), 0)
        in_dlt = [r for r in ku.consume(self.mock.bootstrap, "dead2")
                  if r.value == BIG]
        rc, out, err = b.run(["dlq", "list"])
        self.assertEqual(rc, 0, err)
        ku.log("\n[dlq] with topic: %d in dead2, list:\n%s" % (len(in_dlt),
                                                              out))
        self.assertTrue(in_dlt or "dlsrc2" in out,
                        "refused record neither in the dead-letter topic nor "
                        "in the quarantine")


if __name__ == "__main__":
    unittest.main()
