"""The admin API with the Kafka bridge (issue 15 items 1 and 3): a message
published through POST /api/v1/publish reaches both an MQTT subscriber and
the Kafka topic of a matching to_kafka rule; GET /api/v1/bridge shows the
producer state, totals, spool and per-rule counters; GET
/api/v1/bridge/dead-letters lists the (empty) local quarantine."""
import http.client
import json
import os
import re
import unittest

import kafka_util
from admin_util import KEY, ports

T = 10.0


class AdminKBroker(kafka_util.KBroker):
    """KBroker with an http listener and an API key."""

    def config(self):
        cfg = kafka_util.KBroker.config(self)
        if not getattr(self, "http", None):
            self.http = ports(1)[0]
            while self.http == self.port:
                self.http = ports(1)[0]
        cfg["listeners"].append({"protocol": "http", "bind": "127.0.0.1:%d" % self.http})
        cfg["admin"] = {"api_keys": [KEY]}
        return cfg

    def api(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.http, timeout=10)
        h = {"Authorization": "Bearer " + KEY}
        try:
            c.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                      headers=h)
            r = c.getresponse()
            return r.status, json.loads(r.read().decode())
        finally:
            c.close()


class AdminKafkaTest(kafka_util.KafkaCase):
    def test_api_publish_reaches_mqtt_and_kafka(self):
        b = AdminKBroker(self.mock.bootstrap,
                         {"to_kafka": [{"match": "cmd/#", "topic": "tcmd", "key": "{2}"},
                                       {"match": "none/#", "topic": "tnone"}]})
        self.brokers.append(b)
        b.start()
        kafka_util.wait_until(lambda: kafka_util.harness.port_open(b.http), 10, what="http")
        col = kafka_util.Collector(b.port, "api-col", ["cmd/#"])
        self.clients.append(col)
        st, body = b.api("POST", "/api/v1/publish",
                         {"topic": "cmd/dev7/reboot", "payload": "now", "qos": 1,
                          "properties": {"user_properties": {"by": "ops"}}})
        self.assertEqual(st, 200, body)
        self.assertTrue(body["kafka"])
        self.assertEqual(body["subscribers"], 1)
        col.wait(lambda got: len(got) >= 1, T)
        self.assertEqual(col.snapshot()[0], ("cmd/dev7/reboot", b"now"))
        recs = kafka_util.wait_records(self.mock.bootstrap, "tcmd", lambda rs: len(rs) >= 1, 30)
        self.assertEqual((recs[0].key, recs[0].value), (b"dev7", b"now"))
        # bulk goes the same way
        st, body = b.api("POST", "/api/v1/publish/bulk",
                         [{"topic": "cmd/dev8/a", "payload": "b1"},
                          {"topic": "cmd/dev9/a", "payload": "b2"}])
        self.assertEqual(st, 200, body)
        kafka_util.wait_records(self.mock.bootstrap, "tcmd", lambda rs: len(rs) >= 3, 30)
        st, body = b.api("GET", "/api/v1/bridge")
        self.assertEqual(st, 200, body)
        self.assertTrue(body["enabled"])
        self.assertEqual(body["producer"], "up")
        self.assertEqual([r["matched"] for r in body["to_kafka"]], [3, 0])
        kafka_util.wait_until(
            lambda: b.api("GET", "/api/v1/bridge")[1]["to_kafka"][0]["acked"] >= 3, T,
            what="rule 0 acked")
        r0 = b.api("GET", "/api/v1/bridge")[1]["to_kafka"][0]
        self.assertEqual((r0["produced"], r0["acked"], r0["failed"], r0["spooled"]), (3, 3, 0, 0))
        self.assertEqual(body["to_kafka"][0]["topic"], "tcmd")
        self.assertIn("depth", body["spool"])
        kafka_util.wait_until(lambda: b.api("GET", "/api/v1/bridge")[1]["totals"]["acked"] >= 3,
                              T, what="acked")
        st, body = b.api("GET", "/api/v1/bridge/dead-letters")
        self.assertEqual((st, body["data"]), (200, []))
        # /metrics: Prometheus conventions, per-rule counters with a rule label
        c = http.client.HTTPConnection("127.0.0.1", b.http, timeout=10)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        types = dict(line.split()[2:4] for line in text.splitlines()
                     if line.startswith("# TYPE "))
        for name, typ in types.items():  # counters and only counters end in _total
            self.assertEqual(name.endswith("_total"), typ == "counter", name)
        self.assertEqual(types["sluice_kafka_produced_total"], "counter")
        self.assertEqual(types["sluice_kafka_spool_depth"], "gauge")
        self.assertNotIn("sluice_kafka_produced", types)
        self.assertIn('sluice_kafka_rule_matched_total{rule="0",match="cmd/#",topic="tcmd"} 3',
                      text)
        self.assertIn('sluice_kafka_rule_matched_total{rule="1",match="none/#",topic="tnone"} 0',
                      text)
        self.assertIn('sluice_kafka_rule_acked_total{rule="0",match="cmd/#",topic="tcmd"} 3', text)
        self.assertEqual(types["sluice_kafka_produce_seconds"], "histogram")
        n = int(re.search(r"^sluice_kafka_produce_seconds_count (\d+)$", text, re.M).group(1))
        self.assertGreaterEqual(n, 3)
        self.assertIn("process_open_fds", types)
        self.assertIn("process_resident_memory_bytes", types)
        # the Grafana dashboard is built on these names only
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                               "grafana-sluice.json")) as f:
            dash = json.load(f)
        exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
        used = {re.sub(r"_(bucket|sum|count)$", "", n)
                for n in re.findall(r"\b((?:sluice|process)_[a-z_]+)", exprs)}
        self.assertTrue(used)
        self.assertEqual(used - set(types), set())


if __name__ == "__main__":
    unittest.main()
