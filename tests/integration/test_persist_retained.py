"""Retained messages survive kill -9 (issue 5), sync "always": a retained
set/replace/delete acknowledged at QoS 1 is on disk, so after a restart a
new subscriber gets exactly the final state."""

import os
import random
import time
import unittest

from persist_util import (PersistCase, PipelinedPublisher, Receiver, log,
                          seed)


def retained_state(b, flt):
    """topic -> payload of the retained messages a new clean subscriber to
    flt ("base/#") receives (only PUBLISHes with the retain flag count).
    They are queued at SUBSCRIBE, so all came once a sentinel (not
    retained) published afterwards arrives."""
    s = b.client("ret-probe-%d-%f" % (os.getpid(), time.monotonic()))
    try:
        s.subscribe([(flt, 1)])
        sentinel = b.sentinel(flt.rstrip("#") + "zz-sentinel")
        rv = Receiver(s).until_sentinel(sentinel, timeout=30)
    finally:
        s.disconnect()
    state = {}
    for pl, p in rv.delivered:
        if p.retain:
            if p.topic in state:
                raise AssertionError("two retained messages for %r: %r, %r"
                                     % (p.topic, state[p.topic], pl))
            state[p.topic] = pl
    return state


class RetainedAcrossKill(PersistCase, unittest.TestCase):

    def test_set_replace_delete_final_state_after_kill9(self):
        b = self.broker(sync="always")
        b.start()
        base = "ret/%d" % os.getpid()
        pub = self.track(b.client("ret-pub-%d" % os.getpid()))
        steps = [("a", b"a1"), ("b", b"b1"), ("c", b"c1"), ("d", b"d1"),
                 ("b", b"b2"),             # replace
                 ("c", b"c2"), ("c", b"c3"),
                 ("d", b""),               # delete
                 ("e", b"e1"), ("e", b""), ("e", b"e2"),  # delete, set again
                 ("f", b"f1"), ("f", b"")]  # set then delete: gone
        for i, (t, pl) in enumerate(steps):
            pub.publish("%s/%s" % (base, t), pl, qos=1, retain=True,
                        pid=i + 1)
        want = {"%s/a" % base: b"a1", "%s/b" % base: b"b2",
                "%s/c" % base: b"c3", "%s/e" % base: b"e2"}
        self.assertEqual(retained_state(b, base + "/#"), want,
                         "before the kill (broker logic, not persistence)")
        b.kill9()
        b.start()
        self.assertEqual(retained_state(b, base + "/#"), want,
                         "retained state after kill -9 and restart")
        # and once more: the recovered state is itself durable
        b.kill9()
        b.start()
        self.assertEqual(retained_state(b, base + "/#"), want,
                         "retained state after a second kill -9")

    def test_retained_updates_killed_mid_stream(self):
        """Pipelined retained updates (with deletes) over a few topics,
        kill -9 after a random point; after restart each topic holds the
        last acknowledged update for it or a later one that was sent."""
        rng = random.Random(seed("retained mid-stream"))
        b = self.broker(sync="always")
        b.start()
        base = "retm/%d" % os.getpid()
        names = ["t%d" % i for i in range(8)]
        prev = {}
        for rnd in range(3):
            n = 1500
            topics, payloads = [], []
            for i in range(n):
                t = "%s/%s" % (base, rng.choice(names))
                topics.append(t)
                # every ~6th update deletes the retained message
                payloads.append(b"" if rng.random() < 0.16
                                else b"v%d-%d" % (rnd, i))
            k = rng.randint(n * 2 // 10, n * 8 // 10)
            pub = self.track(b.client("retm-pub-%d" % os.getpid()))
            pp = PipelinedPublisher(pub, topics, payloads, qos=1,
                                    retain=True)
            pp.run(stop_after=k, on_stop=b.kill9)
            pub.close()
            b.start()
            got = retained_state(b, base + "/#")
            for t in {"%s/%s" % (base, x) for x in names}:
                idx = [i for i in range(pp.sent) if topics[i] == t]
                acked = [i for i in idx if i in pp.acked]
                # allowed final values: the last acked update or any later
                # sent one; with none acked also the state before the round
                if acked:
                    allowed = {payloads[i] for i in idx if i >= acked[-1]}
                else:
                    allowed = {payloads[i] for i in idx} | \
                        {prev.get(t, b"")}
                have = got.get(t, b"")
                self.assertIn(have, allowed,
                              "round %d topic %s: retained %r, last acked "
                              "update #%s %r" % (
                                  rnd, t, have, acked[-1] if acked else None,
                                  payloads[acked[-1]] if acked else None))
            prev = got
            log("round %d: killed after %d sent, %d acked; %d topics "
                "retained, all consistent" % (rnd, pp.sent, len(pp.acked),
                                              len(got)))


if __name__ == "__main__":
    unittest.main()
