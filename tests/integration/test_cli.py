"""The command line: a bad config is refused at start with the file, the
JSON path and the expectation, exit status 2; --check; --repair; unknown
arguments; the offline tools refuse a data_dir a running broker holds.
Runs the real binary."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import rawmqtt as R
from harness import Broker, sluice_bin, is_mosquitto


@unittest.skipIf(is_mosquitto(), "sluice command line")
class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_sluice(self, *args):
        return subprocess.run([sluice_bin(), *args], capture_output=True, timeout=30, text=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_wrong_type_names_file_path_and_expectation(self):
        bad = self.write("bad.json", json.dumps(
            {"listeners": [{"protocol": "mqtt", "bind": "127.0.0.1:1883"},
                           {"protocol": "ws", "bind": 8083}]}))
        r = self.run_sluice("-c", bad)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("bad.json", r.stderr)
        self.assertIn("listeners[1].bind", r.stderr)
        self.assertIn("expected", r.stderr)

    def test_unknown_key_is_refused(self):
        bad = self.write("typo.json", '{"mqtt": {"max_inflght": 10}}')
        r = self.run_sluice("-c", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("mqtt.max_inflght", r.stderr)

    def test_syntax_error_gives_line(self):
        bad = self.write("syntax.json", '{\n  "workers": 2,\n  oops\n}')
        r = self.run_sluice("-c", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("syntax.json:3", r.stderr)

    def test_missing_file(self):
        r = self.run_sluice("-c", os.path.join(self.tmp, "nope.json"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("nope.json", r.stderr)

    def test_check_accepts_a_good_file(self):
        good = self.write("good.json", '{"workers": 1}')
        r = self.run_sluice("-c", good, "--check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_unknown_argument_is_refused(self):
        r = self.run_sluice("--frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown argument", r.stderr)

    def test_bridge_rules_without_kafka_are_refused(self):
        # they used to be ignored: nothing reached Kafka and nothing said so
        cfg = self.write("nokafka.json", json.dumps({"bridge": {"to_kafka": [
            {"match": "a/#", "topic": "t"}]}}))
        for args in (["--check"], []):
            r = self.run_sluice("-c", cfg, *args)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("nokafka.json: bridge.to_kafka: expected kafka.bootstrap", r.stderr)
        r = self.run_sluice("-c", cfg, "--dev-kafka", "--check")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_repair_on_a_fresh_directory(self):
        cfg = self.write("c.json", json.dumps({"data_dir": os.path.join(self.tmp, "data")}))
        os.makedirs(os.path.join(self.tmp, "data"))
        r = self.run_sluice("-c", cfg, "--repair")
        self.assertEqual(r.returncode, 0, r.stderr)


@unittest.skipIf(is_mosquitto(), "sluice command line")
@unittest.skipIf(is_mosquitto(), "sluice command line")
class PortInUseTest(unittest.TestCase):
    """A second broker on a port a running one listens on is refused at
    start (each worker binds with SO_REUSEPORT, which the kernel would also
    grant to another process of the same user: it would get half of the
    first broker's connections), and the first one keeps serving."""

    def test_second_broker_on_the_same_port_is_refused(self):
        first = Broker(ws=False).start()
        self.addCleanup(first.cleanup)
        tmp = tempfile.mkdtemp(prefix="sluice-port-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cfg = os.path.join(tmp, "sluice.json")
        with open(cfg, "w") as f:
            json.dump({"listeners": [{"protocol": "mqtt", "bind": "127.0.0.1:%d" % first.port}],
                       "data_dir": os.path.join(tmp, "data")}, f)
        r = subprocess.run([sluice_bin(), "-c", cfg], capture_output=True, timeout=30, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("cannot listen on 127.0.0.1:%d: address in use" % first.port, r.stderr)
        for i in range(8):  # every new connection still reaches the first broker
            c = R.RawClient(first.port)
            self.assertEqual(c.connect("port-%d" % i).rc, 0)
            c.disconnect()
        self.assertTrue(first.alive())


class OfflineToolsLockTest(unittest.TestCase):
    """`sluice --repair` and `sluice dlq list|replay` on the data_dir of a
    running broker: refused (exit != 0, the broker's pid named), and the
    data the broker acknowledged is all there after its next start."""

    def setUp(self):
        self.broker = Broker(persistence={"sync": "always"}, ws=False).start()

    def tearDown(self):
        self.broker.cleanup()

    def retained(self, topics):
        c = R.RawClient(self.broker.port)
        self.assertEqual(c.connect("lock-reader").rc, 0)
        c.subscribe([("lock/#", 1)])
        got = set()
        while got != set(topics):
            p = c.recv_packet(10)  # raises on timeout: a retained message is missing
            if p.type == R.PUBLISH:
                got.add(p.topic)
                if p.qos:
                    c.send(R.puback(p.pid))
        c.disconnect()

    def publish(self, topics):
        c = R.RawClient(self.broker.port)
        self.assertEqual(c.connect("lock-writer").rc, 0)
        for i, t in enumerate(topics):
            c.publish(t, b"acked", qos=1, retain=True, pid=i + 1)  # waits for the PUBACK
        c.disconnect()

    def test_offline_tools_refuse_a_running_brokers_data_dir(self):
        cfg = os.path.join(self.broker.tmp, "sluice.json")
        data = os.path.join(self.broker.tmp, "data")
        self.publish(["lock/a", "lock/b"])
        for args in (["--repair"], ["dlq", "list"], ["dlq", "replay"]):
            r = subprocess.run([sluice_bin(), "-c", cfg, *args], capture_output=True,
                               timeout=30, text=True)
            self.assertNotEqual(r.returncode, 0, "%s succeeded on a live data_dir" % args)
            self.assertIn("data_dir in use by a running sluice, pid %d" % self.broker.pid,
                          r.stderr, args)
        self.assertFalse(os.path.exists(os.path.join(data, "lost")),
                         "--repair moved the live database's files away")
        self.assertTrue(self.broker.alive())
        self.publish(["lock/c"])
        self.assertEqual(self.broker.restart(), 0)
        self.retained(["lock/a", "lock/b", "lock/c"])
        # stopped: the tools run again
        self.broker.stop()
        r = subprocess.run([sluice_bin(), "-c", cfg, "--repair"], capture_output=True,
                           timeout=30, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
