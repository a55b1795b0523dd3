"""MQTT over TLS (mqtts) and secure WebSocket (wss), with real clients:
mosquitto_pub/mosquitto_sub over mqtts and paho over wss, against a
self-signed certificate made by the test with openssl."""
import os
import ssl
import subprocess
import threading
import time
import unittest

import paho.mqtt.client as mqtt

from harness import ConfigBroker, free_port, is_mosquitto


@unittest.skipIf(is_mosquitto(), "sluice-specific listener config")
class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        def config(tmp):
            cls.cert = os.path.join(tmp, "cert.pem")
            cls.key = os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", cls.key, "-out", cls.cert, "-days", "2",
                            "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                           check=True, capture_output=True, timeout=60)
            cls.port, cls.wss = free_port(), free_port()
            return {"listeners": [
                {"protocol": "mqtts", "bind": "127.0.0.1:%d" % cls.port,
                 "cert": cls.cert, "key": cls.key},
                {"protocol": "wss", "bind": "127.0.0.1:%d" % cls.wss,
                 "cert": cls.cert, "key": cls.key, "path": "/mqtt"}]}, [cls.port, cls.wss]
        cls.broker = ConfigBroker(config)

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop_clean()

    def test_mosquitto_clients_over_tls(self):
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port),
                                "--cafile", self.cert, "-t", "tls/t", "-q", "1", "-C", "1",
                                "-W", "10"], stdout=subprocess.PIPE)
        # not a sync (mosquitto_sub does not say when it is subscribed
        # unless -d, and a run with -d lost its connection: not looked into)
        time.sleep(0.5)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port),
                        "--cafile", self.cert, "-t", "tls/t", "-m", "over-tls", "-q", "1"],
                       check=True, timeout=10)
        out, _ = sub.communicate(timeout=15)
        self.assertEqual(out.strip(), b"over-tls")

    def test_plain_tcp_client_is_refused_on_tls_port(self):
        # a client speaking MQTT without TLS must not get a CONNACK
        import socket
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 0]))
        s.settimeout(5)
        try:
            data = s.recv(16)
        except (ConnectionResetError, socket.timeout):
            data = b""
        s.close()
        self.assertFalse(data.startswith(b"\x20\x02"), "CONNACK over plain TCP on a TLS port")

    def test_paho_over_secure_websocket(self):
        got = []
        subscribed, arrived = threading.Event(), threading.Event()
        c = mqtt.Client(client_id="wss-1", transport="websockets")
        c.ws_set_options(path="/mqtt")
        c.tls_set(ca_certs=self.cert, cert_reqs=ssl.CERT_REQUIRED)
        c.on_message = lambda cl, ud, m: (got.append(m.payload), arrived.set())
        c.on_subscribe = lambda *a: subscribed.set()
        c.connect("127.0.0.1", self.wss, 30)
        c.loop_start()
        try:
            c.subscribe("wss/t", 1)
            self.assertTrue(subscribed.wait(10), "no SUBACK over wss")
            c.publish("wss/t", b"over-wss", 1)
            arrived.wait(10)
        finally:
            c.loop_stop()
            c.disconnect()
        self.assertEqual(got, [b"over-wss"])


if __name__ == "__main__":
    unittest.main()
