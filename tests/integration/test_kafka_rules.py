"""MQTT -> Kafka rules and templates end to end (issue 6, docs/KAFKA.md):
record topic, key, headers, payload bytes and per-key order; the json
envelope; `final`; several matching rules; bad rules refused at start."""

import base64
import json
import os
import unittest

import kafka_util as ku

N_DEV = 5
N_METRIC = 40      # per device: 200 records in all


class RulesEndToEnd(ku.KafkaCase):

    def test_raw_records_topic_key_headers_payload_order(self):
        b = self.broker({"to_kafka": [
            {"match": "devices/+/telemetry/#", "topic": "telemetry",
             "key": "{2}", "format": "raw"}]})
        msgs = []
        for i in range(N_METRIC):
            for d in range(N_DEV):
                # binary payload, unique per message: device, seq, all bytes
                pl = bytes([d, i]) + bytes(range(256))[i:i + 30] + b"\x00\xff"
                msgs.append(("devices/dev%d/telemetry/m%d" % (d, i % 3), pl))
        p = ku.publish_all(b.port, "pub-raw", msgs, qos=1, window=20)
        p.close()
        n = len(msgs)
        recs = ku.wait_count(self.mock.bootstrap, "telemetry", n, 30)
        self.assertEqual(len(recs), n, "exactly one record per publish")
        by_payload = {r.value: r for r in recs}
        self.assertEqual(len(by_payload), n, "payloads unique, none lost")
        for topic, pl in msgs:
            r = by_payload.get(pl)
            self.assertIsNotNone(r, "payload of %s missing" % topic)
            dev = topic.split("/")[1]
            self.assertEqual(r.key, dev.encode())
            self.assertEqual(r.header("mqtt.topic"), topic)
            self.assertEqual(r.header("mqtt.qos"), "1")
            self.assertEqual(r.header("mqtt.retain"), "false")
            self.assertEqual(r.header("mqtt.clientid"), "pub-raw")
            self.assertEqual(r.header("sluice.node"), "kt1")
            self.assertIsNone(r.header("mqtt.username"))
        # documented header order: sluice.node, sluice.inc (no cluster
        # here), then mqtt.*; one incarnation for the whole run
        names = [h for h, _ in recs[0].headers]
        self.assertEqual(names[:6], ["sluice.node", "sluice.inc", "mqtt.topic", "mqtt.qos",
                                     "mqtt.retain", "mqtt.clientid"])
        incs = {r.header("sluice.inc") for r in recs}
        self.assertEqual(len(incs), 1, incs)
        int(incs.pop(), 16)  # hex
        # per key: one partition, publish order
        for d in range(N_DEV):
            key = ("dev%d" % d).encode()
            mine = [r for r in recs if r.key == key]
            self.assertEqual(len({r.partition for r in mine}), 1,
                             "key %s spread over partitions" % key)
            mine.sort(key=lambda r: r.offset)
            self.assertEqual([r.value[1] for r in mine], list(range(N_METRIC)),
                             "per-key order of %s" % key)
        # counters in $SYS
        vals = ku.wait_until(
            lambda: (lambda v: v if v.get("acknowledged", 0) >= n else None)(
                ku.sys_counters(b.port, 2.5)), 10, what="$SYS acknowledged")
        self.assertGreaterEqual(vals["produced"], n)
        self.assertEqual(vals.get("failed", 0), 0)

    def test_templates_headers_and_user_properties(self):
        b = self.broker({"to_kafka": [
            {"match": "site/+/+/#", "topic": "s-{2}", "key": "{clientid}-{3}",
             "headers": {"origin": "{node}", "lvl": "{4}|{topic}",
                         "who": "{username}"}}]})
        import raw5
        c = b.client5("tmpl-c")
        props = [(raw5.USER_PROPERTY, ("k1", "v1")),
                 (raw5.USER_PROPERTY, ("k2", "v2")),
                 (raw5.CONTENT_TYPE, "text/plain")]
        ack = c.publish("site/berlin/room1/x", b"p1", qos=1, props=props)
        self.assertEqual(ack.rc, 0)
        c.publish("site/paris/room2", b"p2", qos=1)
        c.disconnect()
        r1 = ku.wait_count(self.mock.bootstrap, "s-berlin", 1, 20)
        r2 = ku.wait_count(self.mock.bootstrap, "s-paris", 1, 20)
        self.assertEqual(len(r1), 1)
        self.assertEqual(len(r2), 1)
        r1, r2 = r1[0], r2[0]
        self.assertEqual(r1.key, b"tmpl-c-room1")
        self.assertEqual(r1.value, b"p1")
        self.assertEqual(r1.header("origin"), "kt1")
        self.assertEqual(r1.header("lvl"), "x|site/berlin/room1/x")
        self.assertEqual(r1.header("who"), "")
        self.assertEqual(r1.header("k1"), "v1")
        self.assertEqual(r1.header("k2"), "v2")
        self.assertEqual(r1.header("mqtt.content_type"), "text/plain")
        self.assertEqual(r2.key, b"tmpl-c-room2")
        self.assertEqual(r2.header("lvl"), "|site/paris/room2",
                         "a level past the end is empty")

    def test_json_envelope(self):
        b = self.broker({"to_kafka": [
            {"match": "j/#", "topic": "jtopic", "format": "json",
             "key": "{topic}", "headers": {"h": "x"}}]})
        c = b.client("json-c")
        c.publish("j/obj", b'{"t":21.5,"a":[1,2]}', qos=1, retain=True)
        c.publish("j/bin", b"\xff\x00\x01notjson", qos=1)
        c.publish("j/zero", b"plain text", qos=0)
        c.disconnect()
        recs = ku.wait_count(self.mock.bootstrap, "jtopic", 3, 20)
        self.assertEqual(len(recs), 3)
        env = {}
        for r in recs:
            e = json.loads(r.value)
            env[e["topic"]] = (r, e)
            self.assertEqual(r.header("sluice.node"), "kt1")
            self.assertEqual(r.header("h"), "x")
            self.assertEqual(r.key, e["topic"].encode())
            self.assertEqual(e["v"], 1)
            self.assertEqual(e["clientid"], "json-c")
            self.assertIsNone(e["username"])
            self.assertIsInstance(e["timestamp"], int)
            self.assertEqual(r.ts, e["timestamp"],
                             "Kafka timestamp = envelope timestamp")
        r, e = env["j/obj"]
        self.assertEqual(e["qos"], 1)
        self.assertIs(e["retain"], True)
        self.assertEqual(e["payload"], {"t": 21.5, "a": [1, 2]})
        r, e = env["j/bin"]
        self.assertNotIn("payload", e)
        self.assertEqual(base64.b64decode(e["payload_base64"]),
                         b"\xff\x00\x01notjson")
        r, e = env["j/zero"]
        self.assertEqual(e["qos"], 0)
        self.assertIs(e["retain"], False)
        self.assertEqual(base64.b64decode(e["payload_base64"]), b"plain text")

    def test_several_rules_and_final(self):
        b = self.broker({"to_kafka": [
            {"match": "a/#", "topic": "first"},
            {"match": "a/stop/#", "topic": "second", "final": True},
            {"match": "a/#", "topic": "third"}]})
        c = b.client("final-c")
        c.publish("a/go", b"go", qos=1)        # first + third
        c.publish("a/stop/x", b"stop", qos=1)  # first + second, not third
        c.publish("b/none", b"none", qos=1)    # nothing
        c.disconnect()
        first = ku.wait_count(self.mock.bootstrap, "first", 2, 20)
        second = ku.wait_count(self.mock.bootstrap, "second", 1, 20)
        third = ku.wait_count(self.mock.bootstrap, "third", 1, 20)
        self.assertEqual(sorted(r.value for r in first), [b"go", b"stop"])
        self.assertEqual([r.value for r in second], [b"stop"])
        self.assertEqual([r.value for r in third], [b"go"],
                         "final rule must stop later rules")
        # the default key is the MQTT topic
        self.assertEqual(sorted(r.key for r in first), [b"a/go", b"a/stop/x"])


class BadRules(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        ku.require_tools(cls)

    def refuse(self, rules, where, extra=None):
        bridge = {"to_kafka": rules}
        bridge.update(extra or {})
        b = ku.KBroker("127.0.0.1:9", bridge)   # never contacted
        try:
            b.write_config()
            import subprocess
            p = subprocess.run([ku.harness.sluice_bin(), "-c", b.cfg_path],
                               capture_output=True, timeout=20,
                               stdin=subprocess.DEVNULL, cwd=b.tmp)
            out = (p.stdout + p.stderr).decode("utf-8", "replace")
            self.assertEqual(p.returncode, 2, "exit code; output:\n" + out)
            self.assertIn(where, out)
            return out
        finally:
            b.cleanup()

    def test_unknown_placeholder_in_key(self):
        out = self.refuse([{"match": "a/#", "topic": "t"},
                           {"match": "b/#", "topic": "t", "key": "{nope}"}],
                          "bridge.to_kafka[1].key")
        self.assertIn("{nope}", out)

    def test_unclosed_brace_in_topic(self):
        self.refuse([{"match": "a/#", "topic": "t-{2"}],
                    "bridge.to_kafka[0].topic")

    def test_illegal_topic_characters(self):
        self.refuse([{"match": "a/#", "topic": "bad topic!"}],
                    "bridge.to_kafka[0].topic")

    def test_level_beyond_match_without_hash(self):
        self.refuse([{"match": "a/+", "topic": "t", "key": "{3}"}],
                    "bridge.to_kafka[0].key")

    def test_bad_header_template(self):
        self.refuse([{"match": "a/#", "topic": "t",
                      "headers": {"x": "{clientid"}}],
                    "bridge.to_kafka[0].headers")

    def test_bad_format_and_ack(self):
        self.refuse([{"match": "a/#", "topic": "t", "format": "xml"}],
                    "bridge.to_kafka[0].format")
        self.refuse([{"match": "a/#", "topic": "t"},
                     {"match": "a/#", "topic": "t", "ack": "never"}],
                    "bridge.to_kafka[1].ack")

    def test_bad_match_filter(self):
        self.refuse([{"match": "a/#/b", "topic": "t"}],
                    "bridge.to_kafka[0].match")


if __name__ == "__main__":
    unittest.main()
