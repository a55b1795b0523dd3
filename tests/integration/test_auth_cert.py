"""Client certificates as identity (issue 13 item 5), black-box: the real
sluice binary with mqtts and wss listeners that require client
certificates (a "ca"), certificates made here with the openssl command,
MQTT 5 bytes built by raw5 over our own TLS socket (and our own WebSocket
framing). The user name becomes the certificate's CN (or first SAN): the
ACL section of that name applies, whatever the CONNECT says.
"""

import socket
import ssl
import time
import unittest

import raw5
import rawmqtt as R
from harness import ConfigBroker, free_port, is_mosquitto
from test_tls import make_ca, make_cert


def read_packet(t, deadline):
    buf = b""
    while time.monotonic() < deadline:
        if len(buf) >= 2:
            n, i, mul = 0, 1, 1
            while i < len(buf):
                n += (buf[i] & 0x7F) * mul
                mul *= 128
                i += 1
                if not buf[i - 1] & 0x80:
                    if len(buf) >= i + n:
                        return buf[0], buf[i:i + n]
                    break
        d = t.recv(max(0.01, deadline - time.monotonic()))
        if not d:
            return None, None
        buf += d
    return None, None


@unittest.skipIf(is_mosquitto(), "sluice-specific listener config")
class CertIdentity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        def config(tmp):
            cls.ca = make_ca(tmp, "ca")
            cls.server = make_cert(tmp, "localhost", cls.ca, san="DNS:localhost,IP:127.0.0.1")
            cls.good = make_cert(tmp, "device-good", cls.ca)
            cls.san = make_cert(tmp, "device-cn", cls.ca, san="DNS:dev-san.example")
            ports = []
            while len(set(ports)) < 3:
                ports = [free_port() for _ in range(3)]
            cls.cn_port, cls.san_port, cls.wss = ports
            tls = {"cert": cls.server[0], "key": cls.server[1], "ca": cls.ca[0]}
            cn_auth = {"use_identity_as_username": True,
                       "acl": [{"user": "device-good", "topic": "dev/device-good/#"}]}
            san_auth = {"cert_identity": "san",
                        "acl": [{"user": "dev-san.example", "topic": "san/#"}]}
            return {"listeners": [
                dict(tls, protocol="mqtts", bind="127.0.0.1:%d" % cls.cn_port, auth=cn_auth),
                dict(tls, protocol="mqtts", bind="127.0.0.1:%d" % cls.san_port, auth=san_auth),
                dict(tls, protocol="wss", bind="127.0.0.1:%d" % cls.wss, path="/mqtt",
                     auth=cn_auth)]}, ports
        cls.broker = ConfigBroker(config)

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop_clean()

    def session(self, port, cert, ws=False):
        ctx = ssl.create_default_context(cafile=self.ca[0])
        ctx.load_cert_chain(cert[0], cert[1])
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.addCleanup(s.close)
        if ws:
            t = R.WsTransport.__new__(R.WsTransport)
            t.sock = s
            key = "dGhlIHNhbXBsZSBub25jZQ=="
            t._upgrade("GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
                       % key, "localhost", port, key, 10)
            self.assertEqual(t.status, 101)
        else:
            t = R.TcpTransport.__new__(R.TcpTransport)
            t.sock = s
        return t

    def connack(self, t, user="mallory"):
        # the CONNECT claims another user name: the certificate wins
        t.send(raw5.connect5("cert-%d" % id(t), username=user, password=b"x"))
        typ, body = read_packet(t, time.monotonic() + 10)
        self.assertEqual(typ, 0x20)
        return body[1]

    def puback_rc(self, t, topic, pid):
        t.send(raw5.publish5(topic, b"p", qos=1, pid=pid))
        typ, body = read_packet(t, time.monotonic() + 10)
        self.assertEqual(typ & 0xF0, 0x40, (typ, body))
        self.assertEqual(body[:2], pid.to_bytes(2, "big"))
        return body[2] if len(body) > 2 else 0

    def test_cn_is_the_user_name(self):
        for ws, port in ((False, self.cn_port), (True, self.wss)):
            t = self.session(port, self.good, ws)
            self.assertEqual(self.connack(t), 0)
            # 0x10: accepted, nobody subscribed; 0x87: not device-good's
            self.assertEqual(self.puback_rc(t, "dev/device-good/t", 1), 0x10)
            self.assertEqual(self.puback_rc(t, "dev/mallory/t", 2), 0x87)

    def test_san_is_the_user_name(self):
        t = self.session(self.san_port, self.san)
        self.assertEqual(self.connack(t), 0)
        self.assertEqual(self.puback_rc(t, "san/x", 1), 0x10)
        self.assertEqual(self.puback_rc(t, "dev/device-good/t", 2), 0x87)

    def test_no_san_refused(self):
        t = self.session(self.san_port, self.good)  # CN only, no SAN
        self.assertEqual(self.connack(t), 0x87)
        self.assertIn("no identity in a verified client certificate",
                      self.broker.log_text())


if __name__ == "__main__":
    unittest.main()
