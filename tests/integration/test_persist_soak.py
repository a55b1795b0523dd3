"""Soak (issue 5): deletes and compaction keep the disk flat.  Three times,
20,000 QoS 1 messages of 1 KiB are queued for an offline persistent
subscriber (sync "always") and drained; the data dir size after the last
drain must not exceed the bound below.

The bound.  One round writes about 20,000 x (1 KiB body + keys) ~ 21 MB.
A store that kept deleted records (no deletes, or tombstones never
compacted) would be ~2 rounds (> 40 MB) bigger after the third drain than
after the first.  A store that deletes and compacts holds, once drained,
one session plus LevelDB overhead: at most about two write-ahead logs of
write_buffer_size (4 MiB each) and small tables, however many rounds ran.
So: after the 3rd drain <= max(2 x after the 1st drain, after the 1st +
8 MiB), and both well under one round's bytes; each size is taken once it
stops shrinking (compaction runs in the background), waiting at most 20 s.
"""

import os
import time
import unittest

from persist_util import (PersistCase, PipelinedPublisher, Receiver,
                          before_sentinel, log)

N = int(os.environ.get("SLUICE_PERSIST_SOAK_N", "20000"))
ROUNDS = 3
PAYLOAD = 1024
MiB = 1 << 20


def settled_size(b, max_wait=20.0, step=0.5):
    """Data dir size once it has not shrunk for 3 polls (bounded)."""
    best = b.data_size()
    calm = 0
    deadline = time.monotonic() + max_wait
    while calm < 3 and time.monotonic() < deadline:
        time.sleep(step)
        now = b.data_size()
        if now < best:
            best, calm = now, 0
        else:
            calm += 1
    return b.data_size()


class Soak(PersistCase, unittest.TestCase):

    def test_disk_flat_after_repeated_drains(self):
        b = self.broker(sync="always", mqtt={"max_queued": N + 1000})
        b.start()
        topic = "soak/%d" % os.getpid()
        sub_id = "soak-sub-%d" % os.getpid()
        s = b.client(sub_id, clean=False)
        s.subscribe([(topic, 1)])
        s.disconnect()
        sizes = []
        round_bytes = N * PAYLOAD
        for r in range(ROUNDS):
            t0 = time.monotonic()
            # random bytes: LevelDB compresses tables (Snappy), and the
            # sizes must measure what is kept, not how well it packs
            payloads = [b"%d-%06d-" % (r, i) + os.urandom(PAYLOAD - 10)
                        for i in range(N)]
            pub = self.track(b.client("soak-pub-%d" % os.getpid()))
            pp = PipelinedPublisher(pub, topic, payloads, qos=1, window=256)
            pp.run(timeout=240)
            pub.disconnect()
            self.assertEqual(len(pp.acked), N)
            t1 = time.monotonic()
            full = b.data_size()
            self.assertGreater(full, round_bytes // 2,
                               "round %d: %d messages queued with sync "
                               "always but the data dir is only %d B"
                               % (r, N, full))
            s = self.track(b.client(sub_id, clean=False, present=1))
            rv = Receiver(s).until_all(payloads, quiet=0.5, timeout=240)
            # the acknowledgements are committed: the drained state is
            # what a kill -9 leaves (checked at the end)
            b.disconnect_settled(s)
            self.assertEqual(rv.missing, 0, "round %d: %d not delivered"
                             % (r, rv.missing))
            t2 = time.monotonic()
            sizes.append(settled_size(b))
            log("round %d: publish %.1fs, drain %.1fs; data dir %.1f MB "
                "queued, %.1f MB drained"
                % (r, t1 - t0, t2 - t1, full / 1e6, sizes[-1] / 1e6))
            self.assertTrue(b.alive())
        first, last = sizes[0], sizes[-1]
        bound = max(2 * first, first + 8 * MiB)
        self.assertLess(first, round_bytes,
                        "after the first drain the data dir (%d B) still "
                        "holds a round's worth of messages (%d B)"
                        % (first, round_bytes))
        self.assertLessEqual(last, bound,
                             "disk not flat: %s B after drains, bound %d"
                             % (sizes, bound))
        # and the drained state is what a restart sees
        b.kill9()
        b.start()
        s = self.track(b.client(sub_id, clean=False, present=1))
        self.assertEqual(before_sentinel(s, b.sentinel(topic)), [],
                         "drained messages came back")


if __name__ == "__main__":
    unittest.main()
