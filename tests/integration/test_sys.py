"""$SYS tree with sys_interval 1."""

import re
import time
import unittest

import rawmqtt as R
from harness import BrokerTestCase

REQUIRED = [
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
]


def first_int(payload):
    m = re.search(rb"\d+", payload)
    return int(m.group()) if m else None


class SysTest(BrokerTestCase):

    def collect(self, c, topics, within):
        """Latest payload per $SYS topic until all `topics` were seen or
        `within` seconds passed."""
        seen = {}
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and not set(topics) <= set(seen):
            try:
                m = c.recv_publish(max(0.05, deadline - time.monotonic()))
            except R.Timeout:
                break
            seen[m.topic] = m.payload
        return seen

    def test_sys_topics_within_3s(self):
        c = self.client(self.uid())
        self.assertEqual(c.subscribe([("$SYS/#", 0)]), [0])
        seen = self.collect(c, REQUIRED, 3.5)
        missing = [t for t in REQUIRED if t not in seen]
        self.assertEqual(missing, [], "got only %r" % sorted(seen))
        self.assertTrue(seen["$SYS/broker/version"].strip())
        for t in REQUIRED[1:]:
            self.assertIsNotNone(first_int(seen[t]),
                                 "%s = %r is not a number" % (t, seen[t]))
        self.assertGreaterEqual(first_int(
            seen["$SYS/broker/clients/connected"]), 1)
        self.assertGreaterEqual(first_int(
            seen["$SYS/broker/subscriptions/count"]), 1)

    def test_sys_published_periodically(self):
        c = self.client(self.uid())
        c.subscribe([("$SYS/broker/uptime", 0)])
        a = c.recv_publish(3.5)
        b = c.recv_publish(3.5)
        self.assertEqual((a.topic, b.topic), ("$SYS/broker/uptime",) * 2)
        self.assertGreaterEqual(first_int(b.payload), first_int(a.payload))

    def test_clients_connected_tracks_connections(self):
        c = self.client(self.uid())
        c.subscribe([("$SYS/broker/clients/connected", 0)])
        extra = [self.client(self.uid()) for _ in range(5)]
        deadline = time.monotonic() + 5
        value = None
        while time.monotonic() < deadline:
            value = first_int(c.recv_publish(3.5).payload)
            if value >= 6:
                break
        self.assertGreaterEqual(value, 6)
        for e in extra:
            e.disconnect()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            value = first_int(c.recv_publish(3.5).payload)
            if value < 6:
                break
        self.assertLess(value, 6)

    def test_retained_count_counts_retained(self):
        c = self.client(self.uid())
        c.subscribe([("$SYS/broker/retained messages/count", 0)])
        p = self.client(self.uid())
        base = self.uid("rc")
        for i in range(7):
            p.publish("%s/%d" % (base, i), b"r", qos=1, retain=True, pid=i + 1)
        deadline = time.monotonic() + 5
        value = None
        while time.monotonic() < deadline:
            value = first_int(c.recv_publish(3.5).payload)
            if value >= 7:
                break
        self.assertGreaterEqual(value, 7)

    def test_messages_received_grows(self):
        c = self.client(self.uid())
        c.subscribe([("$SYS/broker/messages/received", 0)])
        first = first_int(c.recv_publish(3.5).payload)
        p = self.client(self.uid())
        for i in range(20):
            p.publish(self.uid("mr"), b"x", qos=1, pid=i + 1)
        deadline = time.monotonic() + 5
        value = first
        while time.monotonic() < deadline:
            value = first_int(c.recv_publish(3.5).payload)
            if value >= first + 20:
                break
        self.assertGreaterEqual(value, first + 20)


if __name__ == "__main__":
    unittest.main()
