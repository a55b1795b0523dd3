"""End-to-end flow control for QoS 1/2 (mqtt.queue_full).

A subscriber that does not acknowledge fills its in-flight window
(max_inflight) and then its queue (max_queued). With "backpressure" (the
default) the broker keeps queueing and holds the publisher's PUBACKs until
the subscriber's queue has room: nothing acknowledged is dropped. With
"drop" the excess is dropped and counted. A subscriber that stays over the
mark longer than queue_full_timeout_ms is disconnected (v5: 0x97) so that it
cannot stall its publishers forever.

Every "not yet" is proved by a sentinel: the publisher's PINGREQ is answered
at once, so the PUBACKs that came before the PINGRESP are exactly the ones
not held."""
import time
import unittest

import rawmqtt as R
import raw5
from harness import BrokerTestCase

INFLIGHT, QUEUED, N = 5, 10, 30


def fill_inflight(pub, sub, t, payload=b"m"):
    """Publish INFLIGHT messages one at a time and let the subscriber read
    them without acknowledging: its in-flight window is full, so whatever
    comes next waits in its queue. Returns them."""
    first = []
    for i in range(1, INFLIGHT + 1):
        pub.publish(t, payload + b"%d" % i, qos=1, pid=i)
        first.append(sub.recv_publish(ack=False))
    return first


def pubacks_before_pingresp(pub):
    """PUBACK packet ids received before the PINGRESP (the sentinel)."""
    pub.send(R.pingreq())
    got = []
    while True:
        p = pub.recv_packet()
        if p.type == R.PINGRESP:
            return got
        if p.type == R.PUBACK:
            got.append(p.pid)


class Backpressure(BrokerTestCase):
    broker_mqtt = {"max_inflight": INFLIGHT, "max_queued": QUEUED,
                   "queue_full_timeout_ms": 0}

    def setUp(self):
        super().setUp()
        self.skipForMosquitto("sluice's mqtt.queue_full")

    def test_acks_wait_for_a_full_subscriber_queue_and_nothing_is_lost(self):
        t = self.uid("flow")
        sub = self.client(self.uid("sub"))
        self.assertEqual(sub.subscribe([(t, 1)]), [1])
        pub = self.client(self.uid("pub"))
        first = fill_inflight(pub, sub, t)
        for i in range(INFLIGHT + 1, N + 1):
            pub.send(R.publish(t, b"m%d" % i, qos=1, pid=i))
        # QUEUED wait in the queue: the PUBLISH that found it full and every
        # one after it are not acknowledged yet
        acked = pubacks_before_pingresp(pub)
        self.assertEqual(acked, list(range(INFLIGHT + 1, INFLIGHT + QUEUED + 1)))
        # the subscriber acknowledges: everything arrives, in order
        got = [p.payload for p in first]
        for p in first:
            sub.ack(p)
        while len(got) < N:
            got.append(sub.recv_publish().payload)
        self.assertEqual(got, [b"m%d" % i for i in range(1, N + 1)])
        rest = [pub.wait_for(R.PUBACK, pid=i).pid for i in range(INFLIGHT + QUEUED + 1, N + 1)]
        self.assertEqual(rest, list(range(INFLIGHT + QUEUED + 1, N + 1)))
        self.assertServes()

    def test_subscriber_leaving_releases_held_publishers(self):
        t = self.uid("flow")
        sub = self.client(self.uid("sub"))
        sub.subscribe([(t, 1)])
        pub = self.client(self.uid("pub"))
        fill_inflight(pub, sub, t)
        for i in range(INFLIGHT + 1, N + 1):
            pub.send(R.publish(t, b"x", qos=1, pid=i))
        self.assertEqual(len(pubacks_before_pingresp(pub)), QUEUED)
        sub.disconnect()  # a clean session: its queue ends with it
        for i in range(INFLIGHT + QUEUED + 1, N + 1):
            pub.wait_for(R.PUBACK, pid=i)

    def test_a_publisher_with_more_held_acks_than_receive_maximum_is_not_read(self):
        # 3.1.1 has no Receive Maximum: the broker stops reading a client
        # once receive_maximum (64) of its acks wait, and reads on after
        t = self.uid("flow")
        sub = self.client(self.uid("sub"))
        sub.subscribe([(t, 1)])
        pub = self.client(self.uid("pub"))
        first = fill_inflight(pub, sub, t)
        total = INFLIGHT + QUEUED + 64 + 20
        for i in range(INFLIGHT + 1, total + 1):
            pub.send(R.publish(t, b"y", qos=1, pid=i))
        pub.send(R.pingreq())  # behind 20 unread PUBLISHes: no answer yet
        got = []
        while len(got) < QUEUED:
            p = pub.recv_packet()
            self.assertEqual(p.type, R.PUBACK, "PINGRESP before the held PUBLISHes were read")
            got.append(p.pid)
        for p in first:
            sub.ack(p)
        n = INFLIGHT
        while n < total:
            sub.recv_publish()
            n += 1
        seen_ping = False
        acks = INFLIGHT + len(got)
        while acks < total or not seen_ping:
            p = pub.recv_packet()
            if p.type == R.PINGRESP:
                seen_ping = True
                # without the pause it comes right after the first 15; with
                # it, reading resumed only once a held ack went (how many
                # of the 20 PUBLISHes behind it were held again depends on
                # how fast the subscriber drained meanwhile)
                self.assertGreaterEqual(acks, INFLIGHT + QUEUED + 1,
                                        "PINGREQ read while acks were held")
            else:
                acks += 1


class Drop(BrokerTestCase):
    broker_mqtt = {"max_inflight": INFLIGHT, "max_queued": QUEUED, "queue_full": "drop"}

    def test_drop_policy_acknowledges_and_drops_the_excess(self):
        self.skipForMosquitto("sluice's mqtt.queue_full")
        t = self.uid("flow")
        sub = self.client(self.uid("sub"))
        sub.subscribe([(t, 1)])
        pub = self.client(self.uid("pub"))
        first = fill_inflight(pub, sub, t, b"d")
        for i in range(INFLIGHT + 1, N + 1):
            pub.send(R.publish(t, b"d%d" % i, qos=1, pid=i))
        self.assertEqual(pubacks_before_pingresp(pub), list(range(INFLIGHT + 1, N + 1)))
        for p in first:
            sub.ack(p)
        got = [sub.recv_publish().payload for _ in range(QUEUED)]
        self.assertEqual(got, [b"d%d" % i for i in range(INFLIGHT + 1, INFLIGHT + QUEUED + 1)])
        pub.publish(t, b"sentinel", qos=1, pid=N + 1)
        self.assertEqual(sub.recv_publish().payload, b"sentinel")


class StuckSubscriber(BrokerTestCase):
    broker_mqtt = {"max_inflight": INFLIGHT, "max_queued": QUEUED,
                   "queue_full_timeout_ms": 500}

    def test_a_subscriber_over_the_mark_too_long_is_disconnected(self):
        self.skipForMosquitto("sluice's mqtt.queue_full_timeout_ms")
        t = self.uid("flow")
        sub = raw5.Client5(self.broker.port)
        self._my_clients.append(sub)
        sub.connect(self.uid("sub"))
        sub.subscribe([(t, raw5.subopts(qos=1))])
        pub = self.client(self.uid("pub"))
        for i in range(1, N + 1):
            pub.send(R.publish(t, b"s", qos=1, pid=i))
        d = sub.expect_disconnect(timeout=10)
        self.assertEqual(d.rc, 0x97)
        for i in range(1, N + 1):  # the held publisher goes on
            pub.wait_for(R.PUBACK, pid=i)
        self.assertIn("SLUICE-QUEUE-STUCK", self.broker.log_text())


class SlowSubscriber(BrokerTestCase):
    """A subscriber slower than its publisher but taking messages all the
    time is slowed, never disconnected: queue_full_timeout_ms counts time
    with no message out of its queue, not time over the mark (it used to,
    and under load a steady subscriber was cut off with its queue)."""
    broker_mqtt = {"max_inflight": INFLIGHT, "max_queued": QUEUED,
                   "queue_full_timeout_ms": 2000}

    def test_a_slow_subscriber_that_keeps_taking_stays(self):
        self.skipForMosquitto("sluice's mqtt.queue_full_timeout_ms")
        t = self.uid("flow")
        n = 40  # at one per 0.1 s: over the mark for about 4 s in all
        sub = self.client(self.uid("sub"))
        self.assertEqual(sub.subscribe([(t, 1)]), [1])
        pub = self.client(self.uid("pub"))
        for i in range(1, n + 1):
            pub.send(R.publish(t, b"%d" % i, qos=1, pid=i))
        got = []
        for _ in range(n):
            p = sub.recv_publish(ack=False, timeout=10)
            got.append(p.payload)
            time.sleep(0.1)  # the subscriber's own pace, not a wait for the broker
            sub.ack(p)
        self.assertEqual(got, [b"%d" % i for i in range(1, n + 1)])
        for i in range(1, n + 1):
            pub.wait_for(R.PUBACK, pid=i)
        sub.send(R.pingreq())  # still connected: the sentinel is answered
        sub.wait_for(R.PINGRESP)
        self.assertNotIn("SLUICE-QUEUE-STUCK", self.broker.log_text())


if __name__ == "__main__":
    unittest.main()
