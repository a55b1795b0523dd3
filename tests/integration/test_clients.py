"""Interop with mosquitto_pub / mosquitto_sub (TCP) and paho (TCP, WS)."""

import queue
import subprocess
import threading
import time
import unittest

import rawmqtt as R
from harness import (BrokerTestCase, HOST, paho_client, paho_subscribe,
                     paho_stop)

PUB = "/usr/bin/mosquitto_pub"
SUB = "/usr/bin/mosquitto_sub"


class LineReader:
    """mosquitto_sub running in the background; its stdout lines go to a
    queue.  Stopped (by its PID) at cleanup."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        self.lines = queue.Queue()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip(b"\n"))

    def get(self, timeout=5):
        return self.lines.get(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self.proc.stderr.close()


class ClientsTest(BrokerTestCase):

    def url(self, topic):
        return "mqtt://%s:%d/%s" % (HOST, self.broker.port, topic)

    def run_tool(self, argv, input=None, timeout=20):
        r = subprocess.run(argv, input=input, capture_output=True,
                           timeout=timeout)
        self.assertEqual(r.returncode, 0, "%s failed: %r %r" % (
            argv, r.stdout, r.stderr))
        return r.stdout

    def ready_sub(self, argv, topic):
        """Start mosquitto_sub, then publish pings until it prints one: from
        then on it is subscribed."""
        sub = LineReader(argv)
        self.addCleanup(sub.stop)
        p = self.client(self.uid())
        deadline = time.monotonic() + 10
        while True:
            p.publish(topic, b"__ping__")
            try:
                line = sub.get(0.2)
                if line.endswith(b"__ping__"):
                    break
            except queue.Empty:
                pass
            self.assertLess(time.monotonic(), deadline,
                            "mosquitto_sub never subscribed")
        return sub, p

    def next_real(self, sub, timeout=5):
        while True:
            line = sub.get(timeout)
            if not line.endswith(b"__ping__"):
                return line

    def test_mosquitto_pub_qos0_1_2_to_raw_subscriber(self):
        t = self.uid("mp")
        s = self.client(self.uid())
        s.subscribe([(t, 2)])
        for q in (0, 1, 2):
            self.run_tool([PUB, "-L", self.url(t), "-q", str(q), "-m",
                           "from-mosquitto_pub-q%d" % q])
            m = s.recv_publish()
            self.assertEqual((m.payload, m.qos),
                             (b"from-mosquitto_pub-q%d" % q, q))

    def test_raw_publish_to_mosquitto_sub(self):
        t = self.uid("ms")
        sub, p = self.ready_sub([SUB, "-L", self.url(t), "-q", "2", "-W",
                                 "30"], t)
        for q in (0, 1, 2):
            p.publish(t, b"to-mosquitto_sub-q%d" % q, qos=q, pid=q + 1)
            self.assertEqual(self.next_real(sub), b"to-mosquitto_sub-q%d" % q)

    def test_retained_via_mosquitto_tools(self):
        t = self.uid("mr")
        self.run_tool([PUB, "-L", self.url(t), "-q", "1", "-r", "-m",
                       "retained-by-tool"])
        out = self.run_tool([SUB, "-L", self.url(t), "-C", "1", "-v",
                             "-W", "10"])
        self.assertEqual(out.strip(), ("%s retained-by-tool" % t).encode())

    def test_mqtt31_via_mosquitto_tools(self):
        t = self.uid("m31")
        self.run_tool([PUB, "-V", "mqttv31", "-L", self.url(t), "-q", "1",
                       "-r", "-m", "v31"])
        out = self.run_tool([SUB, "-V", "mqttv31", "-L", self.url(t), "-C",
                             "1", "-W", "10"])
        self.assertEqual(out.strip(), b"v31")

    def test_mosquitto_pub_lines_in_order(self):
        t = self.uid("ml")
        s = self.client(self.uid())
        s.subscribe([(t, 1)])
        lines = "".join("line-%03d\n" % i for i in range(200)).encode()
        self.run_tool([PUB, "-L", self.url(t), "-q", "1", "-l"], input=lines)
        got = [s.recv_publish().payload for _ in range(200)]
        self.assertEqual(got, [b"line-%03d" % i for i in range(200)])

    def test_mosquitto_sub_persistent_session_gets_queued(self):
        t = self.uid("mps")
        cid = self.uid("mpsid")
        self.run_tool([SUB, "-L", self.url(t), "-q", "1", "-c", "-i", cid,
                       "-E"])
        self.run_tool([PUB, "-L", self.url(t), "-q", "1", "-m", "queued"])
        out = self.run_tool([SUB, "-L", self.url(t), "-q", "1", "-c", "-i",
                             cid, "-C", "1", "-W", "10"])
        self.assertEqual(out.strip(), b"queued")

    def test_paho_websocket_to_mosquitto_sub(self):
        # mosquitto clients 2.0.11 cannot speak WebSocket: paho does that side
        t = self.uid("pws")
        sub = LineReader([SUB, "-L", self.url(t), "-q", "1", "-W", "30"])
        self.addCleanup(sub.stop)
        ws = paho_client(self.broker.ws_port, self.uid("pw"), ws=True)
        self.addCleanup(paho_stop, ws)
        deadline = time.monotonic() + 10
        while True:
            ws.publish(t, b"__ping__", qos=1).wait_for_publish(5)
            try:
                if sub.get(0.2).endswith(b"__ping__"):
                    break
            except queue.Empty:
                pass
            self.assertLess(time.monotonic(), deadline)
        ws.publish(t, b"ws-to-tool", qos=1).wait_for_publish(5)
        self.assertEqual(self.next_real(sub), b"ws-to-tool")

    def test_mosquitto_pub_to_paho_websocket(self):
        t = self.uid("tws")
        ws = paho_client(self.broker.ws_port, self.uid("pw"), ws=True)
        self.addCleanup(paho_stop, ws)
        self.assertEqual(paho_subscribe(ws, t, 2), (2,))
        self.run_tool([PUB, "-L", self.url(t), "-q", "2", "-m", "tool-to-ws"])
        msg = ws.messages.get(timeout=5)
        self.assertEqual((msg.payload, msg.qos), (b"tool-to-ws", 2))


if __name__ == "__main__":
    unittest.main()
