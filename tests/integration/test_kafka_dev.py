"""`sluice --dev-kafka`: an in-process mock cluster, its bootstrap address
printed at start, and a catch-all rule into Kafka topic "mqtt" when no
bridge rules are configured (issue 6, docs/KAFKA.md "Development Kafka")."""

import re
import time
import unittest

import harness
import kafka_util as ku


class DevKafka(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        ku.require_tools(cls)

    def test_dev_kafka_prints_bootstrap_and_mirrors(self):
        b = ku.KBroker(None, None, sync="none", extra_args=["--dev-kafka"])
        try:
            b.start()
            addr = ku.wait_until(
                lambda: re.search(r"development Kafka .* at (\S+:\d+)",
                                  b.log_text()), 10,
                what="the bootstrap line").group(1)
            ku.log("\n[dev] %s" % addr)
            c = b.client("dev-c")
            c.publish("hello/dev", b"from mqtt", qos=1)
            c.disconnect()
            recs = ku.wait_count(addr, "mqtt", 1, 20)
            self.assertEqual([(r.key, r.value) for r in recs],
                             [(b"hello/dev", b"from mqtt")])
            self.assertEqual(recs[0].header("mqtt.topic"), "hello/dev")
        except Exception:
            ku.log("--- sluice log:\n" + b.log_tail())
            raise
        finally:
            self.assertEqual(b.stop(), 0)
            b.cleanup()

    def test_dev_kafka_keeps_configured_rules(self):
        b = ku.KBroker(None, {"to_kafka": [{"match": "only/#",
                                            "topic": "mine"}]},
                       sync="none", extra_args=["--dev-kafka"])
        try:
            b.start()
            addr = ku.wait_until(
                lambda: re.search(r"development Kafka .* at (\S+:\d+)",
                                  b.log_text()), 10,
                what="the bootstrap line").group(1)
            c = b.client("dev-c2")
            c.publish("other/x", b"not mirrored", qos=1)
            c.publish("only/x", b"mirrored", qos=1)
            c.disconnect()
            recs = ku.wait_count(addr, "mine", 1, 20)
            self.assertEqual([r.value for r in recs], [b"mirrored"])
            self.assertEqual(ku.consume(addr, "mqtt"), [])
        finally:
            b.stop()
            b.cleanup()


if __name__ == "__main__":
    unittest.main()
