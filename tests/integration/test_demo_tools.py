"""The demo's tools on their own (issue 16): sluice-devices against a plain
broker (status, wills, telemetry, commands and acks, MQTT 3.1.1 and 5,
clean shutdown), and sluice-analytics in the demo stack (windowed results
back on MQTT, the command relay, clean shutdown with its offsets
committed).  Clients are paho; every wait is bounded."""
import json
import os
import queue
import signal
import subprocess
import time
import unittest

import harness
from harness import ConfigBroker, free_port, is_mosquitto
from test_demo_browser import DemoStack, Proc, tool


def collect(q, pred, timeout, what):
    """The first message from queue q satisfying pred, within timeout."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        try:
            m = q.get(timeout=left)
        except queue.Empty:
            continue
        if pred(m):
            return m


def js(m):
    return json.loads(m.payload.decode())


class HelpTest(unittest.TestCase):
    def test_help_and_bad_arguments(self):
        for name in ("sluice-devices", "sluice-analytics"):
            r = subprocess.run([tool(name), "--help"], capture_output=True, timeout=10)
            self.assertEqual(r.returncode, 0, name)
            self.assertIn(b"usage: " + name.encode(), r.stdout)
        r = subprocess.run([tool("sluice-devices"), "--qos", "2"], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"see --help", r.stderr)
        r = subprocess.run([tool("sluice-analytics"), "--window", "0"], capture_output=True,
                           timeout=10)
        self.assertEqual(r.returncode, 2)


@unittest.skipIf(is_mosquitto(), "runs the sluice binary")
class DevicesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        def config(tmp):
            cls.port = free_port()
            return {"listeners": [{"protocol": "mqtt", "bind": "127.0.0.1:%d" % cls.port}]}, \
                [cls.port]
        cls.broker = ConfigBroker(config)

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop_clean()

    def sim(self, *args):
        p = Proc([tool("sluice-devices"), "-p", str(self.port)] + list(args),
                 self.broker.tmp + "/devices-%d.log" % time.monotonic_ns())
        self.addCleanup(p.stop)
        p.wait_line("READY", 15)
        return p

    def watcher(self, prefix):
        c = harness.paho_client(self.port, "w-" + prefix)
        self.addCleanup(c.loop_stop)
        c.subscribe("devices/#", 1)
        c.suback.get(timeout=5)
        # only this test's devices (tests share the broker)
        mine = queue.Queue()
        c.on_message = lambda cl, ud, m: (m.topic.startswith("devices/%s-" % prefix)
                                          and mine.put(m))
        c.messages = mine
        return c

    def test_telemetry_status_and_commands(self, version="5"):
        prefix = "t" + version
        w = self.watcher(prefix)
        self.sim("-n", "3", "-r", "5", "--prefix", prefix, "--mqtt", version)
        ids = {"%s-%03d" % (prefix, i) for i in (1, 2, 3)}
        online = set()
        while online != ids:
            m = collect(w.messages, lambda m: m.topic.endswith("/status"), 10, "status")
            if js(m)["online"]:
                online.add(m.topic.split("/")[1])
        for metric in ("temperature", "humidity", "battery"):
            m = collect(w.messages, lambda m: m.topic.endswith("/telemetry/" + metric), 10, metric)
            j = js(m)
            self.assertEqual((j["metric"], m.topic.split("/")[1]), (metric, j["id"]))
            self.assertIsInstance(j["value"], (int, float))
        dev = "%s-002" % prefix
        for cmd, ok in [({"cmd": "ping", "req": "a1"}, True),
                        ({"cmd": "set_rate", "rate": 2, "req": "a2"}, True),
                        ({"cmd": "set_rate", "rate": -1, "req": "a3"}, False),
                        ({"cmd": "selfdestruct", "req": "a4"}, False)]:
            w.publish("devices/%s/commands" % dev, json.dumps(cmd), qos=1)
            m = collect(w.messages, lambda m: m.topic == "devices/%s/events" % dev
                        and js(m).get("req") == cmd["req"], 10, "ack " + cmd["req"])
            self.assertEqual((js(m)["event"], js(m)["ok"], js(m)["cmd"]),
                             ("ack", ok, cmd["cmd"]))
        w.publish("devices/%s/commands" % dev, b"not json", qos=1)
        m = collect(w.messages, lambda m: m.topic == "devices/%s/events" % dev, 10, "bad ack")
        self.assertEqual((js(m)["ok"], js(m)["error"]), (False, "not JSON"))

    def test_mqtt311(self):
        self.test_telemetry_status_and_commands("3")

    def test_sigterm_is_clean_and_says_offline(self):
        w = self.watcher("st")
        p = self.sim("-n", "2", "--prefix", "st")
        self.assertEqual(p.stop(signal.SIGTERM, 10), 0)
        seen = set()
        while len(seen) < 2:
            m = collect(w.messages, lambda m: m.topic.endswith("/status")
                        and js(m).get("reason") == "shutdown", 10, "shutdown status")
            seen.add(m.topic)

    def test_kill9_fires_the_will(self):
        w = self.watcher("k9")
        p = self.sim("-n", "1", "--prefix", "k9")
        collect(w.messages, lambda m: m.topic == "devices/k9-001/status" and js(m)["online"],
                10, "online")
        p.stop(signal.SIGKILL)
        m = collect(w.messages, lambda m: m.topic == "devices/k9-001/status", 10, "will")
        self.assertEqual(js(m), {"online": False})
        late = harness.paho_client(self.port, "k9-late")
        self.addCleanup(late.loop_stop)
        late.subscribe("devices/k9-001/status", 1)
        m = collect(late.messages, lambda m: True, 10, "retained will")
        self.assertTrue(m.retain)
        self.assertEqual(js(m), {"online": False})


@unittest.skipIf(is_mosquitto(), "sluice-specific listener config")
class TlsDevicesTest(unittest.TestCase):
    """--tls against an mqtts listener with a self-signed certificate made
    here; the certificate is checked (--cafile), and refused without it."""

    @classmethod
    def setUpClass(cls):
        def config(tmp):
            cls.cert = os.path.join(tmp, "cert.pem")
            key = os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", key, "-out", cls.cert, "-days", "2", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                           check=True, capture_output=True, timeout=60)
            cls.port, cls.tls = free_port(), free_port()
            return {"listeners": [
                {"protocol": "mqtt", "bind": "127.0.0.1:%d" % cls.port},
                {"protocol": "mqtts", "bind": "127.0.0.1:%d" % cls.tls,
                 "cert": cls.cert, "key": key}]}, [cls.port, cls.tls]
        cls.broker = ConfigBroker(config)

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop_clean()

    def test_tls_with_cafile(self):
        w = harness.paho_client(self.port, "w-tls")
        self.addCleanup(w.loop_stop)
        w.subscribe("devices/tls-001/telemetry/+", 0)
        w.suback.get(timeout=5)
        p = Proc([tool("sluice-devices"), "-p", str(self.tls), "-n", "1", "--prefix", "tls",
                  "--cafile", self.cert, "-r", "5"], self.broker.tmp + "/tls.log")
        self.addCleanup(p.stop)
        p.wait_line("READY", 15)
        collect(w.messages, lambda m: True, 10, "telemetry over TLS")
        self.assertEqual(p.stop(), 0)

    def test_unknown_certificate_is_refused(self):
        log = self.broker.tmp + "/tls-refused.log"
        p = Proc([tool("sluice-devices"), "-p", str(self.tls), "-n", "1", "--prefix", "tlsno",
                  "--tls"], log)
        self.addCleanup(p.stop)
        def refused():
            with open(log) as f:
                return "TLS handshake" in f.read()
        deadline = time.monotonic() + 15
        while not refused():
            self.assertLess(time.monotonic(), deadline, "no TLS handshake failure reported")
            time.sleep(0.05)


class AnalyticsTest(unittest.TestCase):
    def test_results_relay_and_clean_shutdown(self):
        stack = DemoStack(devices=3, victim=False)
        try:
            stack.analytics.wait_line("ASSIGNED", 45)
            w = harness.paho_client(stack.mqtt, "a-watch")
            try:
                w.subscribe([("analytics/+", 0), ("devices/dev-002/events", 1)])
                w.suback.get(timeout=5)
                m = collect(w.messages, lambda m: m.topic == "analytics/dev-001"
                            and js(m)["metrics"].get("temperature", {}).get("count", 0) >= 3,
                            30, "analytics/dev-001 over 3 readings")
                t = js(m)["metrics"]["temperature"]
                self.assertLessEqual(t["min"], t["mean"])
                self.assertLessEqual(t["mean"], t["max"])
                self.assertLessEqual(t["p95"], t["max"])
                self.assertGreaterEqual(t["p95"], t["min"])
                # console -> Kafka console-commands -> relay -> Kafka commands -> device
                deadline = time.monotonic() + 30
                while True:
                    w.publish("console/commands/dev-002", json.dumps({"cmd": "ping", "req": "r"}), qos=1)
                    try:
                        collect(w.messages, lambda m: m.topic == "devices/dev-002/events", 3, "ack")
                        break
                    except AssertionError:
                        self.assertLess(time.monotonic(), deadline, "relay never delivered")
            finally:
                w.loop_stop()
            self.assertEqual(stack.analytics.stop(signal.SIGTERM, 15), 0)
            log = stack.log_text("analytics")
            self.assertRegex(log, r"stopped \(\d+ results, [1-9]\d* commands relayed, [1-9]\d* commits\)")
        finally:
            stack.stop()


if __name__ == "__main__":
    unittest.main()
