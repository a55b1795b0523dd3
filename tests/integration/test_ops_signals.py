"""Signals (issue 11 item 8): SIGHUP must not kill the broker. It reloads
the config file (issue 15; one log line SLUICE-RELOAD each, test_admin_reload
has the rest), and the broker keeps serving: a publish after the signal
reaches a subscriber connected before it."""
import os
import signal
import time
import unittest

import rawmqtt as R
from harness import ConfigBroker, free_port, is_mosquitto


@unittest.skipIf(is_mosquitto(), "sluice signal handling")
class SighupTest(unittest.TestCase):
    def setUp(self):
        def config(tmp):
            self.port = free_port()
            return {"listeners": [{"protocol": "mqtt", "bind": "127.0.0.1:%d" % self.port}]}, \
                [self.port]
        self.broker = ConfigBroker(config)

    def tearDown(self):
        self.broker.stop()

    def test_sighup_reloads_and_keeps_serving(self):
        sub = R.RawClient(self.port)
        self.assertEqual(sub.connect("hup-sub").rc, 0)
        sub.subscribe([("hup/t", 1)])
        for n in (1, 2):
            os.kill(self.broker.proc.pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while (self.broker.log_text().count("SLUICE-RELOAD ") < n and self.broker.alive()
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            self.assertTrue(self.broker.alive(), "SIGHUP killed the broker:\n%s"
                            % self.broker.log_tail())
            self.assertEqual(self.broker.log_text().count("SLUICE-RELOAD "), n)
        pub = R.RawClient(self.port)
        self.assertEqual(pub.connect("hup-pub").rc, 0)
        pub.publish("hup/t", b"after-hup", qos=1, pid=1)
        p = sub.recv_packet(10)
        self.assertEqual((p.type, bytes(p.payload)), (R.PUBLISH, b"after-hup"))
        pub.disconnect()
        sub.disconnect()
        self.assertEqual(self.broker.stop(), 0)


if __name__ == "__main__":
    unittest.main()
