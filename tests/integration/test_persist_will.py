"""Wills across a crash (issue 5): a persistent client connected when the
broker is killed gets its will published after the restart (the crash
closed its connection without DISCONNECT), exactly once - not again at the
next restart; a client that disconnected cleanly before the crash gets none."""

import os
import unittest

from persist_util import PersistCase, Receiver, before_sentinel


class WillAcrossKill(PersistCase, unittest.TestCase):

    def test_will_of_connected_client_published_once_after_restart(self):
        b = self.broker(sync="always")
        b.start()
        base = "pwill/%d" % os.getpid()
        watcher = b.client("pwill-watch-%d" % os.getpid(), clean=False)
        self.assertEqual(watcher.subscribe([(base + "/#", 1)]), [1])
        b.disconnect(watcher)  # its close records come before the settle below
        dying = b.raw()
        ack = dying.connect("pwill-dying-%d" % os.getpid(), clean=False,
                            will=(base + "/dying", b"gone-at-crash", 1, False))
        self.assertEqual(ack.rc, 0)
        polite = b.raw()
        ack = polite.connect("pwill-polite-%d" % os.getpid(), clean=False,
                             will=(base + "/polite", b"must-not-appear", 1, False))
        self.assertEqual(ack.rc, 0)
        # CONNECT/DISCONNECT records are not acked: wait until committed
        b.disconnect_settled(polite)
        b.kill9()
        dying.close()
        b.start()
        w = b.client("pwill-watch-%d" % os.getpid(), clean=False, present=True)
        # wills due at start-up are queued before the listeners open
        rv = Receiver(w).until_sentinel(b.sentinel(base + "/sentinel"))
        self.assertEqual(rv.payloads(), [b"gone-at-crash"])
        b.disconnect_settled(w)  # its acknowledgements are committed before the kill
        # once: a second crash and restart does not publish it again
        b.kill9()
        b.start()
        w = self.track(b.client("pwill-watch-%d" % os.getpid(), clean=False,
                                present=True))
        self.assertEqual(before_sentinel(w, b.sentinel(base + "/sentinel")),
                         [], "will published a second time")


if __name__ == "__main__":
    unittest.main()
