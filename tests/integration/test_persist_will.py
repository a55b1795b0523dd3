"""Wills across a crash (issue 5): a persistent client connected when the
broker is killed gets its will published after the restart (the crash
closed its connection without DISCONNECT), exactly once - not again at the
next restart; a client that disconnected cleanly before the crash gets none."""

import os
import time
import unittest

import rawmqtt as R
from persist_util import PersistCase


class WillAcrossKill(PersistCase, unittest.TestCase):

    def test_will_of_connected_client_published_once_after_restart(self):
        b = self.broker(sync="always")
        b.start()
        base = "pwill/%d" % os.getpid()
        watcher = b.client("pwill-watch-%d" % os.getpid(), clean=False)
        self.assertEqual(watcher.subscribe([(base + "/#", 1)]), [1])
        watcher.disconnect()
        dying = b.raw()
        ack = dying.connect("pwill-dying-%d" % os.getpid(), clean=False,
                            will=(base + "/dying", b"gone-at-crash", 1, False))
        self.assertEqual(ack.rc, 0)
        polite = b.raw()
        ack = polite.connect("pwill-polite-%d" % os.getpid(), clean=False,
                             will=(base + "/polite", b"must-not-appear", 1, False))
        self.assertEqual(ack.rc, 0)
        polite.disconnect()
        time.sleep(0.5)  # CONNECT/DISCONNECT records are not acked: let them land
        b.kill9()
        dying.close()
        b.start()
        w = b.client("pwill-watch-%d" % os.getpid(), clean=False, present=True)
        got = []
        try:
            while True:
                got.append(w.recv_publish(3).payload)
        except R.Timeout:
            pass
        self.assertEqual(got, [b"gone-at-crash"])
        w.disconnect()
        # once: a second crash and restart does not publish it again
        b.kill9()
        b.start()
        w = b.client("pwill-watch-%d" % os.getpid(), clean=False, present=True)
        self.assertTrue(w.no_packet(2.0), "will published a second time")
        w.disconnect()


if __name__ == "__main__":
    unittest.main()
