"""Bounded resources of the store (issue 5), black-box:

- a message fanned out to many offline sessions is stored once (the data
  dir grows by one copy, not one per subscriber) and stays until its last
  reference is gone, across a kill -9;
- per-session queue limits (mqtt.max_queued) apply to the stored queue;
- queued messages are loaded lazily: a restart with a large stored queue
  does not hold every queued body in memory.
"""

import os
import time
import unittest

import harness
from persist_util import PersistCase, PipelinedPublisher, Receiver, log

MiB = 1 << 20


def under_asan(pid):
    """True when the broker process has the AddressSanitizer runtime."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


class StoreLimits(PersistCase, unittest.TestCase):

    def offline_subs(self, b, prefix, topic, n, qos=1):
        ids = []
        for i in range(n):
            cid = "%s-%d-%d" % (prefix, i, os.getpid())
            s = b.client(cid, clean=False)
            s.subscribe([(topic, qos)])
            b.disconnect(s)  # offline from here on
            ids.append(cid)
        return ids

    def test_fanout_body_stored_once_and_refcounted(self):
        """10 offline subscribers x 300 messages of 8 KiB (random, so that
        compression does not hide copies): one copy is 2.4 MB, ten would be
        24 MB.  Bound: 2 copies + 2 MiB (the WAL holds the bodies before
        a memtable flush writes them to a table once more, plus 3,000 queue
        references of ~40 B)."""
        b = self.broker(sync="always")
        b.start()
        topic = "fan/%d" % os.getpid()
        ids = self.offline_subs(b, "fan", topic, 10)
        n, size = 300, 8192
        payloads = [b"%04d-" % i + os.urandom(size - 5) for i in range(n)]
        base = b.data_size()
        p = self.track(b.client("fan-pub-%d" % os.getpid()))
        pp = PipelinedPublisher(p, topic, payloads, qos=1).run(timeout=60)
        self.assertEqual(len(pp.acked), n)
        grown = b.data_size() - base
        one = n * size
        log("fan-out: one copy %d B, data dir grew %d B (%.1f copies)"
            % (one, grown, grown / one))
        self.assertGreater(grown, one // 2, "queued messages not on disk")
        self.assertLess(grown, 2 * one + 2 * MiB,
                        "data dir grew %d B for %d B of messages queued to "
                        "10 sessions: bodies stored per session?"
                        % (grown, one))
        # drain 9 of them; the 10th still needs every body, also after
        # a kill -9 (references are recounted at open)
        for cid in ids[:9]:
            s = self.track(b.client(cid, clean=False, present=1))
            rv = Receiver(s).until_all(payloads, quiet=0.5, timeout=60)
            # acknowledgements handled and committed before the kill
            b.disconnect_settled(s)
            self.assertEqual(rv.missing, 0, cid)
        b.kill9()
        b.start()
        s = self.track(b.client(ids[9], clean=False, present=1))
        rv = Receiver(s).until_all(payloads, quiet=0.5, timeout=60)
        self.assertEqual(rv.missing, 0, "last subscriber lost %d messages "
                         "after the others drained and a kill -9"
                         % rv.missing)
        s.disconnect()

    def test_queue_limit_applies_to_stored_queue(self):
        b = self.broker(sync="always", mqtt={"max_queued": 50})
        b.start()
        topic = "qlim/%d" % os.getpid()
        (cid,) = self.offline_subs(b, "qlim", topic, 1)
        payloads = [b"qlim-%04d" % i for i in range(200)]
        p = self.track(b.client("qlim-pub-%d" % os.getpid()))
        PipelinedPublisher(p, topic, payloads, qos=1).run(timeout=60)
        b.kill9()
        b.start()
        s = self.track(b.client(cid, clean=False, present=1))
        rv = Receiver(s).until(quiet=1.0, timeout=30)
        got = rv.payloads()
        log("max_queued 50: %d of 200 delivered after restart" % len(got))
        self.assertGreater(len(got), 0, "the stored queue was lost")
        self.assertLessEqual(len(set(got)), 50,
                             "the stored queue ignored max_queued")

    @staticmethod
    def rss_sample(b, every=0.25):
        time.sleep(every)  # sampling period, not a sync point
        return harness.vmrss_kb(b.pid) * 1024

    def test_restart_with_large_queue_loads_lazily(self):
        """20,000 x 4 KiB (80 MB, random) queued for one offline session;
        after kill -9 and restart the broker's RSS stays below its RSS
        with an empty database + 60 MiB (LevelDB block cache 8 MiB, write
        buffer 4 MiB, table cache and compaction buffers, malloc arenas of
        LevelDB's threads, reference counts ~32 B x 20,000, queue
        references: measured 29 or 53 MB above empty depending on where the
        kill caught the log), which it cannot if every queued body is read
        into memory (82 MB of payloads alone).  The
        subscriber then still gets all 20,000."""
        n, size = 20000, 4096
        b = self.broker(sync="always", mqtt={"max_queued": n + 100})
        b.start()
        empty_rss = harness.vmrss_kb(b.pid) * 1024
        topic = "lazy/%d" % os.getpid()
        (cid,) = self.offline_subs(b, "lazy", topic, 1)
        payloads = [b"%05d-" % i + os.urandom(size - 6) for i in range(n)]
        p = self.track(b.client("lazy-pub-%d" % os.getpid()))
        pp = PipelinedPublisher(p, topic, payloads, qos=1, window=256)
        pp.run(timeout=240)
        p.disconnect()
        self.assertEqual(len(pp.acked), n)
        b.kill9()
        b.start(timeout=120)
        # LevelDB's start-up work (log replay, a compaction) comes and goes
        # in bursts of tens of MB: the smallest RSS over 3 s is what the
        # broker keeps. A queue held in memory would keep all 80 MB.
        rss = min(self.rss_sample(b) for _ in range(12))
        log("RSS: %.1f MB with an empty database, %.1f MB after restart "
            "with %d MB queued" % (empty_rss / 1e6, rss / 1e6,
                                   n * size // 1000000))
        s = self.track(b.client(cid, clean=False, present=1))
        rv = Receiver(s).until_all(payloads, quiet=0.5, timeout=240)
        self.assertEqual(rv.missing, 0)
        if under_asan(b.pid):
            # ASan keeps freed memory in quarantine (LevelDB's reads during
            # recovery), so RSS says nothing about what sluice holds; the
            # plain build checks the bound, the delivery check above stands
            log("RSS bound not checked: the broker runs under AddressSanitizer")
            return
        self.assertLess(rss, empty_rss + 60 * MiB,
                        "restart holds the stored queue in memory: RSS "
                        "%.1f MB for %.1f MB queued (empty: %.1f MB)"
                        % (rss / 1e6, n * size / 1e6, empty_rss / 1e6))


if __name__ == "__main__":
    unittest.main()
