"""MQTT over TLS (mqtts) under sustained load: connections live past the
handshake's timers and lose nothing.

lws 4.1.6 arms a 5 s "establish" timeout when it finishes a TLS handshake
and never clears it on a raw (mqtts) connection: sluice closed every mqtts
connection a few seconds after it opened, with no log line, and a QoS 1
publisher's acknowledged messages were lost with it (docs/BENCHMARKS.md,
"mqtts defect"). Here 24 publishers send QoS 1 at full speed, each to its
own subscriber, for longer than that timeout: no connection may close, and
every acknowledged message must arrive; a sentinel on each pair proves
that nothing is still on its way."""
import os
import ssl
import subprocess
import threading
import time
import unittest

import rawmqtt as R
from harness import ConfigBroker, free_port, is_mosquitto

PAIRS = 24
DURATION = 7.0  # seconds of traffic: past lws's 5 s timeout
WINDOW = 32     # unacknowledged PUBLISHes per publisher
SENTINEL = b"sentinel"


class Pair:
    """One publisher and its subscriber, each on its own thread (an SSL
    socket is read and written by one thread)."""

    def __init__(self, port, ctx, i):
        self.port, self.ctx, self.i = port, ctx, i
        self.topic = "tlsload/%d" % i
        self.acked, self.got = set(), set()
        self.sentinel_acked = self.sentinel_got = False
        self.errors = []

    def client(self, role):
        c = R.RawClient(self.port, tls=self.ctx, timeout=10)
        ack = c.connect("tlsload-%s-%d" % (role, self.i), timeout=10)
        if ack.rc != 0:
            raise AssertionError("CONNACK %d" % ack.rc)
        return c

    def subscribe(self):
        self.sub = self.client("sub")
        self.sub.subscribe([(self.topic, 1)], timeout=10)

    def run_sub(self, deadline):
        try:
            while time.monotonic() < deadline:
                p = self.sub.recv_packet(max(deadline - time.monotonic(), 0.01))
                if p.type != R.PUBLISH:
                    continue
                self.sub.send(R.puback(p.pid))
                if p.payload == SENTINEL:
                    self.sentinel_got = True
                    return
                self.got.add(int(p.payload))
            self.errors.append("sub %d: no sentinel by the deadline" % self.i)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append("sub %d: %r" % (self.i, e))
        finally:
            self.sub.close()

    def run_pub(self, stop_at, deadline):
        try:
            c = self.client("pub")
        except Exception as e:  # noqa: BLE001
            self.errors.append("pub %d connect: %r" % (self.i, e))
            return
        inflight, seq = {}, 0  # pid -> sequence number
        try:
            while time.monotonic() < stop_at:
                while len(inflight) < WINDOW:
                    seq += 1
                    pid = seq % 65535 + 1
                    inflight[pid] = seq
                    c.send(R.publish(self.topic, b"%d" % seq, qos=1, pid=pid))
                self.read_acks(c, inflight, 0.05)
            while inflight and time.monotonic() < deadline:
                self.read_acks(c, inflight, 0.1)
            if inflight:
                self.errors.append("pub %d: %d PUBACKs missing" % (self.i, len(inflight)))
            # after every acknowledged PUBLISH: once it arrives, nothing is
            # still on its way to the subscriber (QoS 1 order, MQTT 4.6)
            c.send(R.publish(self.topic, SENTINEL, qos=1, pid=1))
            c.wait_for(R.PUBACK, pid=1, timeout=max(deadline - time.monotonic(), 0.1))
            self.sentinel_acked = True
            c.send(R.disconnect())
        except Exception as e:  # noqa: BLE001
            self.errors.append("pub %d after %d messages: %r" % (self.i, seq, e))
        finally:
            c.close()

    def read_acks(self, c, inflight, timeout):
        try:
            p = c.recv_packet(timeout)
        except R.Timeout:
            return
        if p.type == R.PUBACK and p.pid in inflight:
            self.acked.add(inflight.pop(p.pid))


@unittest.skipIf(is_mosquitto(), "sluice-specific listener config")
class TlsLoadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        def config(tmp):
            cls.cert = os.path.join(tmp, "cert.pem")
            key = os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                            "-out", cls.cert, "-days", "2", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost"],
                           check=True, capture_output=True, timeout=60)
            cls.port = free_port()
            return {"listeners": [{"protocol": "mqtts", "bind": "127.0.0.1:%d" % cls.port,
                                   "cert": cls.cert, "key": key}]}, [cls.port]
        cls.broker = ConfigBroker(config)

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop_clean()

    def test_qos1_pairs_keep_their_connections_and_messages(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        pairs = [Pair(self.port, ctx, i) for i in range(PAIRS)]
        for p in pairs:
            p.subscribe()
        stop_at = time.monotonic() + DURATION
        deadline = stop_at + 8.0
        threads = []
        for p in pairs:
            threads.append(threading.Thread(target=p.run_sub, args=(deadline,), daemon=True))
            threads.append(threading.Thread(target=p.run_pub, args=(stop_at, deadline),
                                            daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(deadline + 2.0 - time.monotonic(), 0.1))
        self.assertFalse([t for t in threads if t.is_alive()], "client threads still running")
        errors = [e for p in pairs for e in p.errors]
        self.assertEqual(errors, [], "connections lost (broker log:\n%s)"
                         % self.broker.log_tail(20))
        for p in pairs:
            self.assertTrue(p.sentinel_acked and p.sentinel_got, "pair %d" % p.i)
            lost = p.acked - p.got
            self.assertFalse(lost, "pair %d: %d acknowledged messages never arrived"
                             % (p.i, len(lost)))
        total = sum(len(p.acked) for p in pairs)
        self.assertGreater(total, PAIRS * WINDOW, "the load did not happen")


if __name__ == "__main__":
    unittest.main()
