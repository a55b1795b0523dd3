"""Kafka trouble is not silent (issue 11 item 9, issue 15 "Health"): each
state change is logged once with a stable id (SLUICE-KAFKA-DOWN, -UP,
-SPOOLING, -DRAINED, -SPOOL-HIGH, -SPOOL-OK, -DLQ), and GET /readyz on the
http listener answers 503 with a JSON body naming the reason while Kafka
has been unreachable longer than bridge.spool_after_ms or the spool is
above its high-water mark, 200 {"status":"ready"} otherwise. /healthz stays
liveness (200 throughout). The outage is the mock cluster's broker going
down and up (sluice-kafka-mock)."""

import json
import time
import unittest
import urllib.error
import urllib.request

import harness
import kafka_util as ku


def payload(phase, i, size=1024):
    """Printable (kcat -J must be able to show it), unique, `size` bytes."""
    head = ("%s:%05d:" % (phase, i)).encode()
    return head + b"x" * (size - len(head))


class HBroker(ku.KBroker):
    """A KBroker with an http listener too."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.http = harness.free_port()
        while self.http == self.port:
            self.http = harness.free_port()

    def config(self):
        cfg = super().config()
        cfg["listeners"].append({"protocol": "http", "bind": "%s:%d" % (ku.HOST, self.http)})
        return cfg

    def _launch(self, timeout):
        super()._launch(timeout)
        self._wait_listening([self.http], timeout)

    def get(self, path):
        url = "http://%s:%d%s" % (ku.HOST, self.http, path)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def readyz(self):
        status, body = self.get("/readyz")
        return status, json.loads(body)

    def count(self, msg_id):
        return self.log_text().count(msg_id)


class KafkaHealth(ku.KafkaCase):

    def hbroker(self, bridge, **kw):
        b = HBroker(kw.pop("bootstrap", self.mock.bootstrap), bridge, **kw)
        self.brokers.append(b)
        return b.start()

    def wait_log(self, b, msg_id, timeout=30, n=1):
        ku.wait_until(lambda: b.count(msg_id) >= n, timeout, what="log line " + msg_id)

    def wait_ready(self, b, status, check=None, timeout=30):
        def ok():
            s, body = b.readyz()
            if s != status:
                return None
            if check and check not in [r["check"] for r in body.get("reasons", [])]:
                return None
            return body
        return ku.wait_until(ok, timeout, what="/readyz %d %s" % (status, check or ""))

    def test_outage_is_logged_and_makes_readyz_503(self):
        rules = {"spool_after_ms": 1000,
                 "to_kafka": [{"match": "h/#", "topic": "health", "key": "{2}"}]}
        b = self.hbroker(rules)
        ku.publish_all(b.port, "warm", [("h/a", b"warm")]).close()
        ku.wait_count(self.mock.bootstrap, "health", 1, 20)
        self.wait_ready(b, 200)
        self.assertEqual(b.readyz(), (200, {"status": "ready"}))
        ids = ("SLUICE-KAFKA-DOWN", "SLUICE-KAFKA-UP", "SLUICE-KAFKA-SPOOLING",
               "SLUICE-KAFKA-DRAINED")
        # the warm-up may have spooled (first metadata slower than
        # spool_after_ms): count the outage's own lines
        ku.wait_until(lambda: b.count("SLUICE-KAFKA-SPOOLING") == b.count("SLUICE-KAFKA-DRAINED"),
                      30, what="warm-up spool drained")
        base = {i: b.count(i) for i in ids}
        self.assertEqual(base["SLUICE-KAFKA-DOWN"], 0)

        self.mock.down()
        self.wait_log(b, "SLUICE-KAFKA-DOWN")
        body = self.wait_ready(b, 503, "kafka")
        self.assertEqual(body["status"], "not ready")
        self.assertEqual(b.get("/healthz"), (200, "ok\n"))
        # publishes during the outage: acknowledged from the spool
        msgs = [("h/k%d" % (i % 3), payload("down", i)) for i in range(40)]
        p = ku.publish_all(b.port, "pub-down", msgs, window=10, timeout=60)
        p.close()
        self.assertEqual({rc for _t, rc in p.acks.values()}, {0})
        self.wait_log(b, "SLUICE-KAFKA-SPOOLING", n=base["SLUICE-KAFKA-SPOOLING"] + 1)

        self.mock.up()
        self.wait_log(b, "SLUICE-KAFKA-UP")
        self.wait_log(b, "SLUICE-KAFKA-DRAINED", 60, n=base["SLUICE-KAFKA-DRAINED"] + 1)
        self.wait_ready(b, 200)
        want = {pl for _t, pl in msgs}
        ku.wait_records(self.mock.bootstrap, "health",
                        lambda rs: want <= {r.value for r in rs}, 60, "every spooled record")
        for msg_id in ids:
            self.assertEqual(b.count(msg_id) - base[msg_id], 1, "%s logged %d times:\n%s"
                             % (msg_id, b.count(msg_id) - base[msg_id], b.log_tail()))

    def test_spool_above_high_water_makes_readyz_503(self):
        # spool_max_bytes is at least 1 MiB: 1% of it is 10,485 bytes
        rules = {"spool_after_ms": 500, "spool_max_bytes": 1 << 20, "spool_high_water": 1,
                 "to_kafka": [{"match": "s/#", "topic": "hw", "key": "{2}"}]}
        b = self.hbroker(rules)
        ku.publish_all(b.port, "warm", [("s/a", b"warm")]).close()
        ku.wait_count(self.mock.bootstrap, "hw", 1, 20)
        self.mock.down()
        self.wait_log(b, "SLUICE-KAFKA-DOWN")
        msgs = [("s/k%d" % (i % 3), payload("hw", i)) for i in range(20)]
        ku.publish_all(b.port, "pub-hw", msgs, window=10, timeout=60).close()
        self.wait_log(b, "SLUICE-KAFKA-SPOOL-HIGH")
        body = self.wait_ready(b, 503, "spool")
        self.assertIn("high-water", [r for r in body["reasons"] if r["check"] == "spool"][0]
                      ["detail"])
        self.mock.up()
        self.wait_log(b, "SLUICE-KAFKA-SPOOL-OK", 60)
        self.wait_ready(b, 200)
        self.assertEqual(b.count("SLUICE-KAFKA-SPOOL-HIGH"), 1)

    def test_unreachable_bootstrap_is_logged_and_not_ready(self):
        dead = harness.free_port()   # nothing listens there
        rules = {"spool_after_ms": 500,
                 "to_kafka": [{"match": "u/#", "topic": "never", "key": "{2}"}]}
        b = self.hbroker(rules, bootstrap="127.0.0.1:%d" % dead)
        self.wait_log(b, "SLUICE-KAFKA-DOWN")
        self.assertIn("127.0.0.1:%d" % dead, b.log_text())
        self.wait_ready(b, 503, "kafka")
        self.assertEqual(b.get("/healthz"), (200, "ok\n"))

    def test_dead_lettering_is_logged(self):
        rules = {"spool_after_ms": 2000,
                 "to_kafka": [{"match": "dl/#", "topic": "dlsrc", "key": "{2}"}]}
        b = self.hbroker(rules, kafka_props={"message.max.bytes": "2000"})
        c = b.client5("dl-c")
        self.clients.append(c)
        self.assertEqual(c.publish("dl/small", b"small", qos=1).rc, 0)
        self.assertEqual(b.count("SLUICE-KAFKA-DLQ"), 0)
        c.publish("dl/big", payload("big", 0, 10 * 1024), qos=1, pid=2, timeout=15)
        self.wait_log(b, "SLUICE-KAFKA-DLQ")
        self.assertIn("MSG_SIZE_TOO_LARGE", b.log_text())


if __name__ == "__main__":
    unittest.main()
