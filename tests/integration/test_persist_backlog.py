"""mqtt.max_queued bounds a session's queue while part of it still waits in
the store (issue 5): after a restart only the first page (256) of a stored
queue is in memory, and deliveries made meanwhile must count the rest too,
not pile up behind it."""

import os
import unittest

from persist_util import PersistCase, PipelinedPublisher, Receiver, log


class BacklogLimit(PersistCase, unittest.TestCase):

    def test_queue_limit_counts_the_backlog_not_yet_loaded(self):
        limit = 300  # more than one page: 256 in memory, 44 in the store
        b = self.broker(sync="always", mqtt={"max_queued": limit})
        b.start()
        topic = "backlog/%d" % os.getpid()
        cid = "backlog-sub-%d" % os.getpid()
        s = b.client(cid, clean=False)
        s.subscribe([(topic, 1)])
        b.disconnect(s)  # offline from here on
        first = [b"first-%04d" % i for i in range(limit)]
        p = self.track(b.client("backlog-pub-%d" % os.getpid()))
        self.assertEqual(len(PipelinedPublisher(p, topic, first, qos=1).run(timeout=60).acked),
                         limit)
        b.kill9()
        b.start()
        # the session is full (256 loaded + 44 stored): these are dropped
        later = [b"later-%04d" % i for i in range(200)]
        p = self.track(b.client("backlog-pub2-%d" % os.getpid()))
        PipelinedPublisher(p, topic, later, qos=1).run(timeout=60)
        s = self.track(b.client(cid, clean=False, present=1))
        # once the stored queue arrived the session has room again, so a
        # sentinel published then comes after anything queued beyond it
        rv = Receiver(s).until_all(first, quiet=0, timeout=30)
        got = set(rv.until_sentinel(b.sentinel(topic), timeout=30).payloads())
        log("max_queued %d, %d queued before the restart, 200 after: %d delivered"
            % (limit, limit, len(got)))
        self.assertEqual(got & set(first), set(first), "the stored queue lost messages")
        self.assertEqual(got - set(first), set(),
                         "%d messages queued beyond max_queued behind the stored backlog"
                         % len(got - set(first)))


if __name__ == "__main__":
    unittest.main()
