"""Crash tests (issue 5): with persistence.sync "always", every QoS 1/2
PUBLISH the broker acknowledged before a kill -9 reaches a persistent
subscriber that was offline, after a restart on the same data_dir.

Each test runs several rounds on one broker and one data dir; in each round
a publisher pipelines N messages, the broker is killed with SIGKILL after a
random 20-80% of them were sent (seeded, printed), restarted, and the
subscriber reconnects (without resubscribing) and must receive every
acknowledged message.  QoS 1 allows duplicates, QoS 2 does not (counted
across all rounds).

  SLUICE_PERSIST_SEED=n    replay the kill points
  SLUICE_PERSIST_ROUNDS=n  rounds per test (default 5)
  SLUICE_PERSIST_N=n       messages per round (default 2000)
"""

import collections
import os
import random
import threading
import unittest

from persist_util import (PersistCase, PipelinedPublisher, Receiver, log,
                          seed)

ROUNDS = int(os.environ.get("SLUICE_PERSIST_ROUNDS", "5"))
N = int(os.environ.get("SLUICE_PERSIST_N", "2000"))


class CrashRounds(PersistCase):
    """The round logic (no tests here; test_persist_online uses it too)."""

    def crash_rounds(self, qos):
        rng = random.Random(seed("crash qos%d" % qos))
        b = self.broker(sync="always")
        b.start()
        sub_id = "crash-sub-q%d-%d" % (qos, os.getpid())
        topic = "crash/q%d/%d" % (qos, os.getpid())
        s = b.client(sub_id, clean=False)
        self.assertEqual(s.subscribe([(topic, qos)]), [qos])
        # SUBSCRIBE is not in the "acknowledged only after fsync" contract:
        # wait until the session's records are committed before the first kill.
        b.disconnect_settled(s)
        ever = collections.Counter()   # payload -> deliveries, all rounds
        total_acked = 0
        published = set()
        for r in range(ROUNDS):
            k = rng.randint(N * 2 // 10, N * 8 // 10)
            payloads = [b"r%d-%05d" % (r, i) for i in range(N)]
            pub = self.track(b.client("crash-pub-q%d-%d" % (qos, os.getpid())))
            published.update(payloads)
            pp = PipelinedPublisher(pub, topic, payloads, qos=qos)
            pp.run(stop_after=k, on_stop=b.kill9)
            pub.close()
            want = {payloads[i] for i in pp.acked}
            total_acked += len(want)
            b.start()
            s = self.track(b.client(sub_id, clean=False, present=1))
            # everything stored comes before a sentinel published now
            rv = Receiver(s).until_sentinel(b.sentinel(topic, qos=qos),
                                            timeout=120)
            # its acknowledgements are committed before the next kill
            b.disconnect_settled(s)
            got = rv.payloads()
            ever.update(got)
            mine = [p for p in got if p.startswith(b"r%d-" % r)]
            missing = sorted(want - set(mine))
            foreign = [p for p in got if p not in published]
            dup_flags = sum(1 for _pl, p in rv.delivered if p.dup)
            log("round %d: killed after %d sent, %d acked, %d delivered "
                "(%d distinct, %d with DUP), %d acked missing"
                % (r, pp.sent, len(want), len(mine), len(set(mine)),
                   dup_flags, len(missing)))
            self.assertFalse(foreign, "payloads never published: %r"
                             % foreign[:5])
            self.assertFalse(missing, "round %d: %d acknowledged messages "
                             "lost across kill -9, e.g. %r"
                             % (r, len(missing), missing[:5]))
            if qos == 2:
                dups = sorted(p for p, c in ever.items() if c > 1)
                self.assertFalse(dups, "QoS 2 delivered more than once: %r"
                                 % dups[:5])
            for pl, p in rv.delivered:
                self.assertEqual(p.qos, qos, "delivered %r at QoS %d"
                                 % (pl, p.qos))
        log("qos%d: %d rounds, %d acknowledged messages all delivered"
            % (qos, ROUNDS, total_acked))
        self.assertGreater(total_acked, 0, "no PUBLISH was ever acknowledged")

    def online_rounds(self, qos):
        """The subscriber is connected and acknowledging while the broker
        is killed: what it got before plus what it gets after reconnecting
        covers every acknowledged message (in flight and queued copies)."""
        rng = random.Random(seed("crash online qos%d" % qos))
        b = self.broker(sync="always")
        b.start()
        sub_id = "crash-on-q%d-%d" % (qos, os.getpid())
        topic = "crashon/q%d/%d" % (qos, os.getpid())
        s = self.track(b.client(sub_id, clean=False))
        self.assertEqual(s.subscribe([(topic, qos)]), [qos])
        b.settle()  # the subscription was submitted before the SUBACK
        rv = Receiver(s)
        rounds = max(1, ROUNDS - 2)
        for r in range(rounds):
            k = rng.randint(N * 2 // 10, N * 8 // 10)
            payloads = [b"o%d-%05d" % (r, i) for i in range(N)]
            stop = threading.Event()

            def reader():
                while not stop.is_set() and not rv.closed:
                    rv.step(0.2)
            th = threading.Thread(target=reader, daemon=True)
            th.start()
            pub = self.track(b.client("crash-onpub-q%d-%d"
                                      % (qos, os.getpid())))
            pp = PipelinedPublisher(pub, topic, payloads, qos=qos)
            pp.run(stop_after=k, on_stop=b.kill9)
            pub.close()
            stop.set()
            th.join(10)
            self.assertFalse(th.is_alive())
            before = len(rv.delivered)
            want = {payloads[i] for i in pp.acked}
            b.start()
            s = self.track(b.client(sub_id, clean=False, present=1))
            rv.reattach(s).until_sentinel(b.sentinel(topic, qos=qos),
                                          timeout=60)
            got = [pl for pl, _p in rv.delivered if pl.startswith(b"o%d-" % r)]
            missing = sorted(want - set(got))
            redelivered = [p for _pl, p in rv.delivered[before:] if p.dup]
            log("online round %d: killed after %d sent, %d acked; %d "
                "delivered so far before the kill, %d after (%d with DUP); %d "
                "acked missing" % (r, pp.sent, len(want), before,
                                   len(rv.delivered) - before,
                                   len(redelivered), len(missing)))
            # The same payload again under the same packet id without DUP:
            # the broker lost the in-flight record and sends it from the
            # stored queue as a first delivery (reusing the id).  A plain
            # duplicate at QoS 1 (allowed; logged); at QoS 2 the receiver
            # cannot tell, so it is an error there.
            pre = {(pl, p.pid) for pl, p in rv.delivered[:before]}
            nodup = [(pl, p.pid) for pl, p in rv.delivered[before:]
                     if (pl, p.pid) in pre and not p.dup]
            if nodup:
                log("online round %d: %d sent again with the same packet id "
                    "but DUP=0, e.g. %r" % (r, len(nodup), nodup[:3]))
            if qos == 2:
                self.assertFalse(nodup, "round %d: re-sent under the same "
                                 "id without DUP: %r" % (r, nodup[:5]))
            sw = {pl: p.pid for pl, p in rv.swallowed}
            self.assertFalse(missing, "round %d: %d acknowledged messages "
                             "lost, e.g. %r; %d of them arrived under a "
                             "packet id the subscriber still held awaiting "
                             "PUBREL (id reused by the broker): %r"
                             % (r, len(missing), missing[:5],
                                sum(1 for m in missing if m in sw),
                                [(m, sw[m]) for m in missing if m in sw][:5]))
            if qos == 2:
                c = collections.Counter(rv.payloads())
                dups = sorted(p for p, n in c.items() if n > 1)
                how = [(d, [(p.pid, int(p.dup)) for pl, p in rv.delivered
                            if pl == d]) for d in dups[:3]]
                self.assertFalse(dups, "QoS 2 delivered more than once "
                                 "(%d): %r; (packet id, DUP) of each "
                                 "delivery: %r - a PUBLISH re-sent after its "
                                 "flow was completed (PUBREL/PUBCOMP) or "
                                 "under a new id" % (len(dups), dups[:5], how))
        self.assertGreater(len(rv.seen), 0)



class CrashOfflineSubscriber(CrashRounds, unittest.TestCase):

    def test_qos1_online_subscriber_kill9(self):
        self.online_rounds(1)

    # QoS 2 with an online subscriber: test_persist_online.py

    def test_qos1_acknowledged_messages_survive_kill9(self):
        self.crash_rounds(1)

    def test_qos2_acknowledged_messages_survive_kill9_exactly_once(self):
        self.crash_rounds(2)


if __name__ == "__main__":
    unittest.main()
