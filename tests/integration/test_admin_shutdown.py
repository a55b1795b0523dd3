"""Graceful shutdown (issue 15 item 4): on SIGTERM connected MQTT 5 clients
(plain TCP and WebSocket) receive DISCONNECT 0x8B (server shutting down)
before the connection closes, 3.1.1 clients are closed, the broker logs
SLUICE-SHUTDOWN and exits 0. A session that persists keeps its messages:
a QoS 1 message queued for it before the shutdown is delivered after the
restart (the store was synced)."""
import os
import shutil
import signal
import tempfile
import unittest

import raw5
import rawmqtt
from admin_util import AdminBroker
from harness import is_mosquitto

T = 10.0


@unittest.skipIf(is_mosquitto(), "sluice-specific")
class ShutdownTest(unittest.TestCase):
    def test_sigterm_sends_0x8b_and_exits_0(self):
        b = AdminBroker(extra={"persistence": {"sync": "always"}})
        try:
            tcp = raw5.Client5(b.port)
            self.assertEqual(tcp.connect("sd-tcp").rc, 0)
            ws = raw5.Client5(b.ws, ws=True)
            self.assertEqual(ws.connect("sd-ws").rc, 0)
            v3 = rawmqtt.RawClient(b.port)
            self.assertEqual(v3.connect("sd-v3").rc, 0)
            os.kill(b.pid, signal.SIGTERM)
            for c in (tcp, ws):
                d = c.expect_disconnect(T)
                self.assertIsNotNone(d, "closed without DISCONNECT")
                self.assertEqual(d.rc, 0x8B)
            self.assertTrue(v3.is_closed(T))
            self.assertEqual(b.proc.wait(20), 0)
            self.assertIn("SLUICE-SHUTDOWN", b.log_text())
        finally:
            b.stop()

    def test_persistent_session_survives_shutdown(self):
        keep = tempfile.mkdtemp(prefix="sluice-keep-")
        self.addCleanup(shutil.rmtree, keep, True)
        data = {"dir": os.path.join(keep, "data")}
        b = AdminBroker(extra={"persistence": {"sync": "always"}, "data_dir": data["dir"]})
        try:
            s = raw5.Client5(b.port)
            self.assertEqual(s.connect("sd-keep", clean=False, props=[(0x11, 600)]).rc, 0)
            s.subscribe([("keep/#", 1)])
            s.disconnect()
            st, _, body = b.api("POST", "/api/v1/publish", {"topic": "keep/1", "payload": "kept",
                                                            "qos": 1})
            self.assertEqual(st, 200, body)
            os.kill(b.pid, signal.SIGTERM)
            self.assertEqual(b.proc.wait(20), 0)
        finally:
            b.stop()
        # a second broker on the same data dir
        b2 = AdminBroker(extra={"persistence": {"sync": "always"}, "data_dir": data["dir"]})
        try:
            s = raw5.Client5(b2.port)
            ack = s.connect("sd-keep", clean=False, props=[(0x11, 600)])
            self.assertEqual(ack.rc, 0)
            p = s.recv_publish(T)
            self.assertEqual((p.topic, p.payload), ("keep/1", b"kept"))
            s.disconnect()
        finally:
            b2.stop_clean()


if __name__ == "__main__":
    unittest.main()
