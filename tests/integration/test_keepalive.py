"""Keepalive: 1.5x timeout, PINGREQ keeps the connection."""

import time
import unittest

import rawmqtt as R
from harness import BrokerTestCase


class KeepaliveTest(BrokerTestCase):

    def test_idle_client_disconnected_after_one_and_a_half_keepalive(self):
        c = self.client(self.uid(), keepalive=2)
        t0 = time.monotonic()
        got = c.wait_closed(10)
        elapsed = time.monotonic() - t0
        self.assertEqual(got, [])
        # 1.5 x 2 s = 3 s; never before the keepalive itself has passed
        self.assertGreaterEqual(elapsed, 2.0, "closed too early")
        self.assertLess(elapsed, 8.0)

    def test_pingreq_keeps_connection_alive(self):
        c = self.client(self.uid(), keepalive=2)
        t = self.uid("ka")
        c.subscribe([(t, 0)])
        for _ in range(6):  # 6 s, twice the 1.5 x keepalive
            c.send(R.pingreq())
            r = c.expect(R.PINGRESP, 3)
            self.assertEqual((r.first_byte, r.body), (0xD0, b""))
            self.assertTrue(c.no_packet(1.0))
        c.publish(t, b"alive")
        self.assertEqual(c.recv_publish().payload, b"alive")

    def test_other_traffic_also_counts_as_activity(self):
        c = self.client(self.uid(), keepalive=2)
        t = self.uid("kat")
        for i in range(6):
            c.publish(t, b"x", qos=1, pid=i + 1)
            self.assertTrue(c.no_packet(1.0))
        c.send(R.pingreq())
        self.assertEqual(c.expect(R.PINGRESP).type, R.PINGRESP)

    def test_keepalive_zero_never_times_out(self):
        c = self.client(self.uid(), keepalive=0)
        self.assertTrue(c.no_packet(4.0))
        c.send(R.pingreq())
        self.assertEqual(c.expect(R.PINGRESP).type, R.PINGRESP)


if __name__ == "__main__":
    unittest.main()
