"""MQTT over TLS (mqtts) and secure WebSocket (wss), with real clients:
mosquitto_pub/mosquitto_sub over mqtts and paho over wss, against a
self-signed certificate made by the test with openssl."""
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest

import paho.mqtt.client as mqtt

from harness import free_port, port_open, sluice_bin, is_mosquitto


@unittest.skipIf(is_mosquitto(), "sluice-specific listener config")
class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sluice-tls-")
        cls.cert = os.path.join(cls.tmp, "cert.pem")
        cls.key = os.path.join(cls.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", cls.key, "-out", cls.cert, "-days", "2",
                        "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        cls.port, cls.wss = free_port(), free_port()
        cfg = {"listeners": [
            {"protocol": "mqtts", "bind": "127.0.0.1:%d" % cls.port,
             "cert": cls.cert, "key": cls.key},
            {"protocol": "wss", "bind": "127.0.0.1:%d" % cls.wss,
             "cert": cls.cert, "key": cls.key, "path": "/mqtt"}],
            "data_dir": os.path.join(cls.tmp, "data"), "persistence": {"sync": "none"}}
        path = os.path.join(cls.tmp, "sluice.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        cls.log = open(os.path.join(cls.tmp, "log"), "wb")
        cls.proc = subprocess.Popen([sluice_bin(), "-c", path], stdout=cls.log,
                                    stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while not (port_open(cls.port) and port_open(cls.wss)):
            if cls.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("sluice did not start")
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        try:
            cls.proc.wait(10)
        except subprocess.TimeoutExpired:
            cls.proc.kill()
            cls.proc.wait()
        cls.log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_mosquitto_clients_over_tls(self):
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port),
                                "--cafile", self.cert, "-t", "tls/t", "-q", "1", "-C", "1",
                                "-W", "10"], stdout=subprocess.PIPE)
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
        c = mqtt.Client(client_id="wss-1", transport="websockets")
        c.ws_set_options(path="/mqtt")
        c.tls_set(ca_certs=self.cert, cert_reqs=ssl.CERT_REQUIRED)
        c.on_message = lambda cl, ud, m: got.append(m.payload)
        c.connect("127.0.0.1", self.wss, 30)
        c.loop_start()
        try:
            c.subscribe("wss/t", 1)
            time.sleep(0.5)
            c.publish("wss/t", b"over-wss", 1)
            deadline = time.time() + 10
            while not got and time.time() < deadline:
                time.sleep(0.05)
        finally:
            c.loop_stop()
            c.disconnect()
        self.assertEqual(got, [b"over-wss"])


if __name__ == "__main__":
    unittest.main()
