"""Reload (issue 15 item 3): POST /api/v1/reload and SIGHUP re-read the
config file. What can change live does (admin keys, mqtt limits, log
level, to_kafka rules) without dropping a connection; what cannot
(listeners, data_dir, ...) is reported as needs_restart and left as it
was; a bad file is refused whole with the loader's FILE: PATH: expected
message and the running configuration stays. Under load: a client
publishing QoS 1 throughout a reload that adds a to_kafka rule loses
nothing, is not disconnected, and every message published after the reload
is in Kafka (Kafka mock cluster)."""
import copy
import os
import signal
import time
import unittest

import harness
import kafka_util
import raw5
from admin_util import KEY, AdminBroker, ports
from harness import is_mosquitto

T = 5.0


@unittest.skipIf(is_mosquitto(), "sluice-specific")
class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.b = AdminBroker()
        self.c = raw5.Client5(self.b.port)
        self.assertEqual(self.c.connect("reload-sub").rc, 0)
        self.c.subscribe([("r/#", 1)])

    def tearDown(self):
        self.c.close()
        self.b.stop_clean()

    def still_connected(self, key):
        """The subscriber of before the reload still gets messages."""
        st, _, body = self.b.api("POST", "/api/v1/publish",
                                 {"topic": "r/after", "qos": 1}, key=key)
        self.assertEqual(st, 200, body)
        self.assertEqual(self.c.recv_publish(T).topic, "r/after")

    def test_live_changes_apply_and_restart_ones_are_kept(self):
        new = copy.deepcopy(self.b.cfg)
        new["admin"] = {"api_keys": ["rotated-key-1"]}
        new["mqtt"]["max_packet_size"] = 2048
        new["log"] = {"level": "debug"}
        extra_port = ports(1)[0]
        new["listeners"].append({"protocol": "mqtt", "bind": "127.0.0.1:%d" % extra_port})
        new["data_dir"] = os.path.join(self.b.tmp, "elsewhere")
        self.b.rewrite(new)
        st, _, body = self.b.api("POST", "/api/v1/reload")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["status"], "reloaded")
        self.assertEqual(sorted(body["applied"]), ["admin", "log.level", "mqtt"])
        self.assertEqual(sorted(body["needs_restart"]), ["data_dir", "listeners"])
        self.b.wait_log("SLUICE-RELOAD ")
        # the keys rotated: the old one is refused, the new one works
        self.assertEqual(self.b.api("GET", "/api/v1/stats")[0], 401)
        st, _, cfg = self.b.api("GET", "/api/v1/config", key="rotated-key-1")
        self.assertEqual(st, 200)
        self.assertEqual(cfg["mqtt"]["max_packet_size"], 2048)
        self.assertEqual(cfg["log"]["level"], "debug")
        self.assertEqual(len(cfg["listeners"]), 3)  # the running ones
        self.assertNotEqual(cfg["data_dir"], new["data_dir"])
        self.assertFalse(harness.port_open(extra_port))
        self.still_connected("rotated-key-1")
        # the new limit applies to new packets: a PUBLISH over 2048 bytes is refused
        p = raw5.Client5(self.b.port)
        self.assertEqual(p.connect("reload-big").rc, 0)
        p.send(raw5.publish5("r/big", b"x" * 4096, 0))
        d = p.expect_disconnect(T)
        self.assertEqual(d.rc if d else None, 0x95)  # packet too large
        p.close()

    def test_bad_file_refused_whole(self):
        good = copy.deepcopy(self.b.cfg)
        for text, want in (("{not json", "sluice.json"),
                           ('{"mqtt": {"max_inflight": "x"}, "admin": {"api_keys": ["k2"]}}',
                            "mqtt.max_inflight: expected"),
                           ('{"bridge": {"to_kafka": [{"match": "a/#", "topic": "t"}]},'
                            ' "admin": {"api_keys": ["k2"]}}', "kafka.bootstrap")):
            self.b.rewrite(text=text)
            st, _, body = self.b.api("POST", "/api/v1/reload")
            self.assertEqual(st, 400, body)
            self.assertEqual(body["error"], "bad_config")
            self.assertIn(want, body["message"])
            self.assertIn("sluice.json", body["message"])
        # SIGHUP with a bad file: refused, logged, the broker runs on
        os.kill(self.b.pid, signal.SIGHUP)
        self.b.wait_log("SLUICE-RELOAD-REFUSED", count=4)
        self.assertIn("kafka.bootstrap", self.b.log_tail(5))
        self.assertTrue(self.b.alive())
        self.assertEqual(self.b.api("GET", "/api/v1/stats", key="k2")[0], 401)
        self.still_connected(KEY)
        # and SIGHUP with a good file applies it
        good["admin"] = {"api_keys": ["k3"]}
        self.b.rewrite(good)
        os.kill(self.b.pid, signal.SIGHUP)
        self.b.wait_log("SLUICE-RELOAD ")
        self.assertEqual(self.b.api("GET", "/api/v1/stats", key="k3")[0], 200)
        self.still_connected("k3")


class ReloadUnderLoadTest(kafka_util.KafkaCase):
    N = 400

    def test_qos1_publisher_through_a_reload_adding_a_rule(self):
        b = self.broker({"to_kafka": [{"match": "other/#", "topic": "other"}]})
        col = kafka_util.Collector(b.port, "load-col", ["load/#"])
        self.clients.append(col)
        pub = kafka_util.Publisher(b.port, "load-pub", v5=True)
        self.clients.append(pub)
        deadline = time.monotonic() + 60
        first_after = None
        for i in range(self.N):
            pid = i + 1
            self.assertTrue(pub.pump_until(lambda: pid - 1 - len(pub.acks) < 20,
                                           deadline - time.monotonic()), "publisher stalled")
            pub.send(kafka_util.publish_packet("load/%d" % i, b"m%d" % i, 1, pid, v5=True), pid)
            if i == 100:  # reload while QoS 1 messages are in flight
                b.bridge = {"to_kafka": [{"match": "other/#", "topic": "other"},
                                         {"match": "load/#", "topic": "tload",
                                          "ack": "kafka"}]}
                b.write_config()
                os.kill(b.pid, signal.SIGHUP)
            if first_after is None and i > 100 and "SLUICE-RELOAD " in b.log_text():
                first_after = i + 1  # published after the reload was done
        self.assertTrue(pub.pump_until(lambda: len(pub.acks) >= self.N,
                                       deadline - time.monotonic()),
                        "only %d of %d PUBACKs" % (len(pub.acks), self.N))
        self.assertIsNotNone(first_after, "reload not logged:\n" + b.log_tail())
        self.assertLess(first_after, self.N - 50)
        self.assertFalse(pub.closed, "publisher disconnected")
        self.assertEqual(sorted(rc for _, rc in pub.acks.values())[-1], 0)
        # nothing lost for the MQTT subscriber, in order
        col.wait(lambda got: len(got) >= self.N, 20)
        self.assertEqual([p for _, p in col.snapshot()], [b"m%d" % i for i in range(self.N)])
        # every message published after the reload went through the new rule
        want = {b"m%d" % i for i in range(first_after, self.N)}
        recs = kafka_util.wait_records(self.mock.bootstrap, "tload",
                                       lambda rs: want <= {r.value for r in rs}, 30)
        self.assertTrue(want <= {r.value for r in recs})


if __name__ == "__main__":
    unittest.main()
