"""The HTTP listener: GET /healthz, GET /metrics (Prometheus text), 404,
and hostile HTTP input that must not disturb MQTT service.  The endpoints
answer on `http` listeners only: a ws listener is a device port and says
404 to everything but the MQTT upgrade on its path."""
import socket
import unittest
import urllib.error
import urllib.request

import rawmqtt as R
from harness import ConfigBroker, free_port, is_mosquitto


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError("metric %s missing in:\n%s" % (name, text))


@unittest.skipIf(is_mosquitto(), "sluice-specific listener")
class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        def config(tmp):
            ports = set()
            while len(ports) < 3:
                ports.add(free_port())
            cls.port, cls.http, cls.ws = sorted(ports)
            return {"listeners": [
                {"protocol": "mqtt", "bind": "127.0.0.1:%d" % cls.port},
                {"protocol": "http", "bind": "127.0.0.1:%d" % cls.http},
                {"protocol": "ws", "bind": "127.0.0.1:%d" % cls.ws, "path": "/mqtt"}]}, \
                [cls.port, cls.http, cls.ws]
        cls.broker = ConfigBroker(config)

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop_clean()

    def get(self, path, port=None):
        url = "http://127.0.0.1:%d%s" % (port or self.http, path)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_healthz(self):
        self.assertEqual(self.get("/healthz"), (200, "ok\n"))

    def test_unknown_path_is_404(self):
        self.assertEqual(self.get("/nope")[0], 404)

    def test_metrics_count_publishes_and_clients(self):
        before = metric(self.get("/metrics")[1], "sluice_messages_received_total")
        c = R.RawClient(self.port)
        c.connect("http-metrics")
        for i in range(3):
            c.publish("m/t", b"x", qos=1, pid=i + 1)
        status, text = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertIn("# TYPE sluice_messages_received_total counter", text)
        self.assertGreaterEqual(metric(text, "sluice_messages_received_total"), before + 3)
        self.assertGreaterEqual(metric(text, "sluice_clients_connected"), 1)
        c.disconnect()

    def test_ws_listener_serves_no_http_endpoints(self):
        for path in ("/metrics", "/healthz", "/readyz", "/mqtt", "/"):
            status, body = self.get(path, self.ws)
            self.assertEqual(status, 404, "GET %s on the ws listener" % path)
            self.assertNotIn("sluice_", body)
        # the device port still does its job: MQTT over WebSocket on /mqtt
        c = R.RawClient(self.ws, ws=True, path="/mqtt")
        self.assertEqual(c.connect("ws-after-404").rc, 0)
        c.disconnect()
        self.assertEqual(self.get("/healthz"), (200, "ok\n"))

    def test_garbage_http_does_not_disturb_mqtt(self):
        for junk in (b"\x00\xff" * 100, b"GET " + b"A" * 10000 + b" HTTP/1.1\r\n\r\n",
                     b"POST /metrics HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc"):
            s = socket.create_connection(("127.0.0.1", self.http), timeout=5)
            try:
                s.sendall(junk)
                s.settimeout(2)
                try:
                    s.recv(4096)
                except (socket.timeout, ConnectionResetError):
                    pass
            finally:
                s.close()
        self.assertEqual(self.get("/healthz")[0], 200)
        c = R.RawClient(self.port)
        self.assertEqual(c.connect("after-junk").rc, 0)
        c.disconnect()


if __name__ == "__main__":
    unittest.main()
