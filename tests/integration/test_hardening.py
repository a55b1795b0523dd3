"""Hardening (issue 11): defects found by outside testing, and the limits a
client cannot exceed.  Every test talks to the real broker over loopback with
raw packets (rawmqtt.py / raw5.py), and waits on real sync points: a packet,
a $SYS value, a PUBACK that the store had to write first.

Run by hand:
  cd tests/integration && SLUICE_BIN=../../build/sluice python3 -m unittest -v test_hardening
"""

import os
import resource
import threading
import time
import unittest

import harness
import raw5
import rawmqtt
from raw5 import (DISCONNECT, PUBACK, PUBREC, SESSION_EXPIRY, SUBACK, Client5,
                  M5TestCase)
from rawmqtt import CONNACK, PUBLISH

LIMITS = "$SYS/broker/limits/#"  # 4 levels: within TestLimits' limit
DEEP = "/" * 65535  # 65,536 levels: one recursion frame each crashed the matcher


class SysWatch:
    """A 3.1.1 client subscribed to one $SYS topic (sys_interval is 1 s in
    the harness): wait_for(pred) reads its updates until pred(value) holds
    for an update published after `after` (monotonic), within a deadline."""

    def __init__(self, tc, topic, flt=None):
        self.topic = topic
        self.c = tc.client(tc.uid("sys"))
        tc.assertEqual(self.c.subscribe([(flt or topic, 0)]), [0])

    def wait_for(self, pred, after=0.0, timeout=12.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                p = self.c.wait_for(PUBLISH, max(0.1, deadline - time.monotonic()))
            except rawmqtt.Timeout:
                break
            if p.topic != self.topic:
                continue
            last = int(p.payload)
            if time.monotonic() >= after and pred(last):
                return last
        raise AssertionError("%s: no fitting value within %.0fs (last %r)"
                             % (self.topic, timeout, last))


class TestDeepTopicDefault(M5TestCase):
    """Defect 1 with the defaults: 128 levels, 65535 bytes."""

    def test_deep_filter_refused_and_deep_publish_closed(self):
        c = self.c4()
        self.assertEqual(c.subscribe([(DEEP, 0)]), [0x80])
        c.send(rawmqtt.publish(DEEP, b"x"))
        self.assertTrue(c.is_closed(5), "3.1.1 PUBLISH over the level limit not closed")
        self.assertServes()

    def test_v5_codes(self):
        deep = "a/" * 128 + "b"  # 129 levels
        c = self.c5()
        self.assertEqual(c.subscribe([(deep, 0), ("a/" * 127 + "b", 0)]), [0x8F, 0])
        self.assertEqual(c.publish(deep, b"x", qos=1, pid=3).rc, 0x90)
        self.assertEqual(c.publish(deep, b"x", qos=2, pid=4).rc, 0x90)
        # still connected: a normal QoS 1 PUBLISH is acknowledged
        self.assertLess(c.publish(self.uid("t"), b"y", qos=1, pid=5).rc, 0x80)
        c.send(raw5.publish5(deep, b"x", qos=0))
        self.assertDisconnect(c, 0x90)
        self.assertServes()


class TestDeepTopicMatcher(M5TestCase):
    """Defect 1 itself: the 65,535-'/' filter and PUBLISH that overflowed the
    worker stack, with the level limit raised so the matcher sees them."""

    broker_mqtt = {"max_topic_levels": 65536}

    @classmethod
    def setUpClass(cls):
        # glibc sizes thread stacks from RLIMIT_STACK: with 1 MiB the old
        # matcher (one frame per level) crashed on this every time, while
        # the default 8 MiB only sometimes overflowed
        old = resource.getrlimit(resource.RLIMIT_STACK)
        resource.setrlimit(resource.RLIMIT_STACK, (1024 * 1024, old[1]))
        try:
            super().setUpClass()
        finally:
            resource.setrlimit(resource.RLIMIT_STACK, old)

    def test_deep_filter_and_publish(self):
        s = self.c4()
        self.assertEqual(s.subscribe([(DEEP, 0), (DEEP[:-1] + "#", 0)]), [0, 0])
        p = self.c4()
        p.publish(DEEP, b"deep", qos=1)
        got = s.recv_publish(10)
        self.assertEqual((got.topic, got.payload), (DEEP, b"deep"))
        self.assertServes()


class TestLimits(M5TestCase):
    broker_mqtt = {"max_topic_levels": 4, "max_topic_length": 64,
                   "max_subscriptions": 3, "max_retained": 2,
                   "max_retained_bytes": 100000}

    def test_topic_length(self):
        long_f = "a" * 65
        self.assertEqual(self.c4().subscribe([(long_f, 1), ("a" * 64, 1)]), [0x80, 1])
        c = self.c5()
        self.assertEqual(c.subscribe([(long_f, 1)]), [0x8F])
        self.assertEqual(c.publish(long_f, b"x", qos=1).rc, 0x90)
        p = self.c4()
        p.send(rawmqtt.publish(long_f, b"x", qos=1))
        self.assertTrue(p.is_closed(5))
        w = SysWatch(self, "$SYS/broker/limits/topic_length/refused", LIMITS)
        w.wait_for(lambda v: v >= 4)

    def test_topic_levels_counted(self):
        c = self.c5()
        self.assertEqual(c.subscribe([("a/b/c/d/e", 0), ("a/b/c/d", 0)]), [0x8F, 0])
        w = SysWatch(self, "$SYS/broker/limits/topic_levels/refused", LIMITS)
        w.wait_for(lambda v: v >= 1)

    def test_subscriptions_per_session(self):
        c = self.c5()
        t = self.uid("t")
        codes = c.subscribe([(t + "/1", 1), (t + "/2", 1), (t + "/3", 1), (t + "/4", 1)])
        self.assertEqual(codes, [1, 1, 1, 0x97])
        # replacing one it has is no new subscription
        self.assertEqual(c.subscribe([(t + "/2", 0)], pid=2), [0])
        c.unsubscribe([t + "/1"], pid=3)
        self.assertEqual(c.subscribe([(t + "/4", 1)], pid=4), [1])
        o = self.c4()
        self.assertEqual(o.subscribe([("x/1", 0), ("x/2", 0), ("x/3", 0), ("x/4", 0)]),
                         [0, 0, 0, 0x80])
        w = SysWatch(self, "$SYS/broker/limits/subscriptions/refused", LIMITS)
        w.wait_for(lambda v: v >= 2)

    def test_retained_count(self):
        t = self.uid("r")
        # the broker's own retained $SYS tree exists by now; it does not count
        w = SysWatch(self, "$SYS/broker/limits/retained/refused", LIMITS)
        w.wait_for(lambda v: True)
        c = self.c5()
        try:
            self.assertEqual(c.publish(t + "/1", b"a", qos=1, retain=True, pid=1).rc, 0x10)
            self.assertEqual(c.publish(t + "/2", b"b", qos=1, retain=True, pid=2).rc, 0x10)
            # a third topic: refused whole with 0x97, and not kept
            s = self.c5()
            self.assertEqual(s.subscribe([(t + "/#", 1)]), [1])
            s.publishes(2)
            self.assertEqual(c.publish(t + "/3", b"c", qos=1, retain=True, pid=3).rc, 0x97)
            # replacing a kept one still works
            self.assertLess(c.publish(t + "/1", b"a2", qos=1, retain=True, pid=4).rc, 0x80)
            self.assertEqual(s.recv_publish().payload, b"a2")  # /3 never went out
            n = self.c5()
            self.assertEqual(n.subscribe([(t + "/#", 1)]), [1])
            got = sorted((m.topic, m.payload) for m in n.publishes(2))
            self.assertEqual(got, [(t + "/1", b"a2"), (t + "/2", b"b")])
            self.assertTrue(n.no_packet(0.5))
            w.wait_for(lambda v: v >= 1)
        finally:
            for i in (1, 2, 3):
                c.publish(t + "/%d" % i, b"", qos=1, retain=True, pid=10 + i)


class TestRetainedBytes(M5TestCase):
    broker_mqtt = {"max_retained_bytes": 3000}

    def test_bytes(self):
        t = self.uid("rb")
        w = SysWatch(self, "$SYS/broker/limits/retained_bytes/refused", LIMITS)
        w.wait_for(lambda v: True)  # $SYS is retained by now and does not count
        c = self.c5()
        self.assertEqual(c.publish(t + "/1", b"x" * 2000, qos=1, retain=True, pid=1).rc, 0x10)
        self.assertEqual(c.publish(t + "/2", b"x" * 2000, qos=1, retain=True, pid=2).rc, 0x97)
        # 3.1.1 cannot be told: delivered live, not kept
        s = self.c4()
        self.assertEqual(s.subscribe([(t + "/#", 1)]), [1])
        self.assertEqual(s.recv_publish().payload, b"x" * 2000)  # /1, retained
        p = self.c4()
        p.publish(t + "/3", b"y" * 2000, qos=1, retain=True)
        self.assertEqual(s.recv_publish().payload, b"y" * 2000)
        n = self.c5()
        self.assertEqual(n.subscribe([(t + "/#", 1)]), [1])
        self.assertEqual(n.recv_publish().topic, t + "/1")
        self.assertTrue(n.no_packet(0.5))
        w.wait_for(lambda v: v >= 2)


class TestMaxConnections(M5TestCase):
    broker_mqtt = {"max_connections": 3}

    def held_client(self, v5):
        """A client that counts against the limit: accepted once the broker
        has reaped the sockets the harness opened to see the port up (each
        counts until its worker has seen it close; slow under sanitizers)."""
        deadline = time.monotonic() + 10
        while True:
            c = self.raw5() if v5 else self.raw()
            if c.connect(self.uid("h")).rc == 0:
                return c
            c.close()
            self.assertLess(time.monotonic(), deadline, "the limit never had room")
            time.sleep(0.05)

    def test_refused_beyond(self):
        held = [self.held_client(True), self.held_client(True), self.held_client(False)]
        v5 = self.raw5()
        self.assertEqual(v5.connect(self.uid("x")).rc, 0x97)
        self.assertTrue(v5.is_closed(5))
        v4 = self.raw()
        self.assertEqual(v4.connect(self.uid("y")).rc, 0x03)
        self.assertTrue(v4.is_closed(5))
        held.pop().disconnect()
        # the slot comes back once the broker has seen the close
        deadline = time.monotonic() + 10
        while True:
            c = self.raw5()
            rc = c.connect(self.uid("z")).rc
            if rc == 0 or time.monotonic() > deadline:
                break
            c.close()
            time.sleep(0.05)
        self.assertEqual(rc, 0)


class TestDuplicateClientIds(M5TestCase):
    """Defect 2: a clean-start CONNECT ended the old session while the old
    connection still sent SUBSCRIBEs; the ended session went back into the
    index and was freed with it (use-after-free at the next PUBLISH)."""

    broker_workers = 2

    def test_takeovers_while_subscribing(self):
        cid, t = self.uid("dup"), self.uid("t")
        watch = SysWatch(self, "$SYS/broker/subscriptions/count")
        base = watch.wait_for(lambda v: True)
        old = self.raw()
        old.send(rawmqtt.connect(cid, True) + rawmqtt.subscribe(1, [(t, 1)]))
        devices = [old]
        for i in range(60):
            new = self.raw()
            # the new device connects while the old one is still subscribing
            new.send(rawmqtt.connect(cid, True) + rawmqtt.subscribe(1, [(t, 1)]))
            old.try_send(rawmqtt.subscribe(2, [(t + "/%d" % i, 1)]))
            devices.append(new)
            old = new
        # workers take CONNECTs in any order: once every device has its
        # CONNACK, a last one is surely the one that keeps the id
        for d in devices:
            self.assertEqual(d.expect(CONNACK).rc, 0)
        old = self.raw()
        self.assertEqual(old.connect(cid, True).rc, 0)
        self.assertEqual(old.subscribe([(t, 1)]), [1])
        pub = self.client(self.uid("pub"))
        for i in range(20):
            pub.publish(t, b"m%d" % i, qos=1, pid=i + 1)
        for i in range(20):
            self.assertEqual(old.recv_publish().payload, b"m%d" % i)
        old.disconnect()
        pub.disconnect()
        # every session of that id ended: no subscription of theirs is left
        watch.wait_for(lambda v: v == base, after=time.monotonic() + 1.2)
        self.assertServes()


class TestDisconnectExpiryCap(M5TestCase):
    """Defect 5: a v5 DISCONNECT's Session Expiry Interval is clamped to
    mqtt.max_session_expiry like the CONNECT's."""

    broker_mqtt = {"max_session_expiry": 1}

    def test_disconnect_expiry_clamped(self):
        watch = SysWatch(self, "$SYS/broker/clients/total")
        base = watch.wait_for(lambda v: True)
        cid = self.uid("cap")
        c = self.c5(cid, clean=True, props=[(SESSION_EXPIRY, 3600)])
        self.assertEqual(c.subscribe([(self.uid("t"), 1)]), [1])
        c.disconnect(0, [(SESSION_EXPIRY, 3600)])
        # the session goes within the cap (1 s), not after an hour
        watch.wait_for(lambda v: v == base, after=time.monotonic() + 1.5, timeout=8)
        again = self.c5(cid, clean=False, props=[(SESSION_EXPIRY, 1)])
        self.assertFalse(again.connack.session_present)


class TestStoreBackPressure(M5TestCase):
    """Store writes no acknowledgement waits for (retained QoS 0, SUBSCRIBE
    records) pause the connection at mqtt.max_store_pending instead of
    queueing without bound; nothing is lost or reordered."""

    broker_persistence = {"sync": "batch"}
    broker_mqtt = {"max_store_pending": 1}

    def test_retained_qos0_and_subscribes_all_stored(self):
        t = self.uid("bp")
        p = self.c4(self.uid("pub"), clean=False)
        burst = b"".join(rawmqtt.publish("%s/%d" % (t, i), b"v%d" % i, retain=True)
                         for i in range(300))
        burst += b"".join(rawmqtt.subscribe(i + 1, [("%s/f%d" % (t, i), 1)])
                          for i in range(100))
        p.send(burst)
        for i in range(100):
            p.wait_for(SUBACK, 15, pid=i + 1)
        # the PUBACK is queued behind every silent store write before it
        p.publish(t + "/sentinel", b"s", qos=1, pid=1000)
        p.close()
        self.broker.restart()
        c = self.c4()
        self.assertEqual(c.subscribe([(t + "/+", 0)]), [0])
        got = {m.topic: m.payload for m in (c.recv_publish(10) for _ in range(300))}
        self.assertEqual(got, {"%s/%d" % (t, i): b"v%d" % i for i in range(300)})
        self.assertTrue(c.no_packet(0.5))


def dir_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


class TestCleanFanoutWritesNothing(M5TestCase):
    """Defect 10: QoS 1 fan-out to clean sessions wrote every body to the
    store (5.2 MB for 300 x 16 KiB to two clean subscribers)."""

    broker_persistence = {"sync": "batch"}
    broker_mqtt = {"max_queued": 1000}

    def test_two_clean_subscribers(self):
        t, sentinel = self.uid("fan"), self.uid("sent")
        data = os.path.join(self.broker.tmp, "data")
        subs = [self.c4(clean=True), self.c4(clean=True)]
        for s in subs:
            self.assertEqual(s.subscribe([(t, 1)]), [1])
        # a persistent subscriber of another topic: its PUBACK waits for the
        # store write, and the store writes in order (the sync point)
        durable = self.c4(self.uid("dur"), clean=False)
        self.assertEqual(durable.subscribe([(sentinel, 1)]), [1])
        pub = self.c4()
        pub.publish(sentinel, b"before", qos=1, pid=1)
        before = dir_bytes(data)
        got = [[], []]

        def read(i):
            for _ in range(300):
                got[i].append(subs[i].recv_publish(15).payload)

        readers = [threading.Thread(target=read, args=(i,)) for i in (0, 1)]
        for r in readers:
            r.start()
        body = b"z" * 16384
        for i in range(300):
            pub.publish(t, body, qos=1, pid=(i % 60000) + 2)
        for r in readers:
            r.join(60)
        self.assertEqual([len(g) for g in got], [300, 300])
        pub.publish(sentinel, b"after", qos=1, pid=1)
        self.assertEqual(durable.recv_publish().payload, b"before")
        self.assertEqual(durable.recv_publish().payload, b"after")
        grown = dir_bytes(data) - before
        # one body is 16 KiB; the 300 of them are 4.9 MB
        self.assertLess(grown, 256 * 1024, "clean fan-out wrote %d bytes" % grown)


if __name__ == "__main__":
    unittest.main()
