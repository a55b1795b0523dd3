"""A full disk (issue 5): the broker refuses new QoS 1/2 publishes it
cannot keep (MQTT 5: PUBACK 0x97 quota exceeded; 3.1.1: closes the
connection) instead of acknowledging them, stays up, and accepts again when
space returns; everything it did acknowledge is delivered afterwards, even
across a kill -9.

The data dir is on a 4 MiB tmpfs the test mounts (needs root); a 2.25 MiB
ballast file on it is deleted to give space back.  Nothing but QoS 1
publishes is sent while the disk is full and after it is freed: recovery
must not depend on some other write happening to retry the store.  Skipped, with the reason, if the
mount fails."""

import os
import shutil
import tempfile
import time
import unittest

import rawmqtt
from persist_util import (PersistCase, Receiver, fill_file, is_root, log,
                          mount_tmpfs, publish5, umount, v5_reason)

PAYLOAD = 16 * 1024
MAX_PUBLISHES = 400        # 6.4 MB: more than the 4 MiB tmpfs holds


class FullDisk(PersistCase, unittest.TestCase):

    def setUp(self):
        super().setUp()
        if not is_root():
            self.skipTest("full-disk test needs root to mount a tmpfs")
        self.mnt = tempfile.mkdtemp(prefix="sluice-fulldisk-")
        err = mount_tmpfs(self.mnt, "4m")
        if err:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs at %s: %s" % (self.mnt, err))
        self.addCleanup(self._unmount)

    def _unmount(self):
        for b in self._pbrokers:      # the broker holds files on it
            b.kill9()
        if not umount(self.mnt):
            log("WARNING: could not unmount %s" % self.mnt)
            return
        shutil.rmtree(self.mnt, ignore_errors=True)

    def test_refuse_when_full_then_recover(self):
        b = self.broker(sync="always", data_dir=os.path.join(self.mnt, "data"),
                        mqtt={"max_packet_size": 1048576})
        b.start()
        ballast = os.path.join(self.mnt, "ballast")
        # Ballast larger than what the database can then grow to: on
        # reopen LevelDB rewrites its whole write-ahead log as a table, so
        # the space given back must exceed the log, or recovery cannot work
        # on any broker (seen with 1.5 MiB: the reopen itself hits ENOSPC).
        fill_file(ballast, 2304 * 1024)
        topic = "full/%d" % os.getpid()
        sub_id = "full-sub-%d" % os.getpid()
        s = b.client(sub_id, clean=False)
        s.subscribe([(topic, 1)])
        s.disconnect()

        # MQTT 5 publisher: QoS 1 until the broker refuses with 0x97
        p = self.track(b.client5("full-pub5-%d" % os.getpid()))
        accepted, refused = [], []
        for i in range(MAX_PUBLISHES):
            pl = b"%06d" % i + os.urandom(PAYLOAD - 6)
            p.send(publish5(topic, pl, qos=1, pid=i % 60000 + 1))
            try:
                ack = p.wait_for(rawmqtt.PUBACK, timeout=15, pid=i % 60000 + 1)
            except rawmqtt.Closed:
                self.fail("MQTT 5 connection closed at publish %d instead of "
                          "PUBACK 0x97 (log:\n%s)" % (i, b.log_tail(10)))
            rc = v5_reason(ack)
            if rc < 0x80:  # 0x10 "no matching subscribers" is success too
                accepted.append(pl)
                continue
            refused.append(pl)
            self.assertEqual(rc, 0x97, "PUBACK reason %#x, want 0x97" % rc)
            break
        log("accepted %d x %d B before the disk was full; free: %d B"
            % (len(accepted), PAYLOAD, shutil.disk_usage(self.mnt).free))
        self.assertTrue(refused, "no refusal after %d x %d B on a 4 MiB "
                        "tmpfs: acknowledged more than it can have kept"
                        % (MAX_PUBLISHES, PAYLOAD))
        self.assertTrue(b.alive(), "broker died on a full disk:\n%s"
                        % b.log_tail())
        # still full: still refused
        pl = b"again" + b"y" * (PAYLOAD - 5)
        p.send(publish5(topic, pl, qos=1, pid=60001))
        self.assertEqual(v5_reason(p.wait_for(rawmqtt.PUBACK, timeout=15,
                                              pid=60001)), 0x97)
        refused.append(pl)

        # MQTT 3.1.1 publisher: no way to say no, so the connection closes
        c = b.client("full-pub3-%d" % os.getpid())
        c.send(rawmqtt.publish(topic, b"v311" + b"z" * PAYLOAD, qos=1,
                               pid=77))
        got = c.wait_closed(15)
        self.assertFalse([x for x in got if x.type == rawmqtt.PUBACK],
                         "3.1.1 PUBACK on a full disk: %r" % got)
        refused.append(b"v311" + b"z" * PAYLOAD)
        self.assertTrue(b.alive())

        # space returns: accepted again within a bounded time
        os.unlink(ballast)
        log("ballast removed; free: %d B" % shutil.disk_usage(self.mnt).free)
        p5 = self.track(b.client5("full-pub5b-%d" % os.getpid()))
        recovered = None
        deadline = time.monotonic() + 20
        i = 0
        while time.monotonic() < deadline:
            i += 1
            pl = b"rec-%04d" % i
            p5.send(publish5(topic, pl, qos=1, pid=i))
            rc = v5_reason(p5.wait_for(rawmqtt.PUBACK, timeout=15, pid=i))
            if rc < 0x80:
                recovered = pl
                accepted.append(pl)
                break
            refused.append(pl)
            time.sleep(0.3)  # pace the retries of this bounded poll
        self.assertIsNotNone(recovered, "still refusing 20 s after space "
                             "was freed (%d B free now; %d refused; log:\n%s)"
                             % (shutil.disk_usage(self.mnt).free, i,
                                b.log_tail(10)))
        c = self.track(b.client("full-pub3b-%d" % os.getpid()))
        c.publish(topic, b"v311-after", qos=1, pid=5)
        accepted.append(b"v311-after")

        # what was acknowledged is kept, what was refused is not delivered
        b.kill9()
        b.start()
        s = self.track(b.client(sub_id, clean=False, present=1))
        # everything stored comes before a sentinel published now
        rv = Receiver(s).until_sentinel(b.sentinel(topic), timeout=60)
        got = set(rv.payloads())
        missing = [x[:8] for x in accepted if x not in got]
        self.assertFalse(missing, "acknowledged but lost: %r" % missing)
        wrong = [x[:8] for x in refused if x in got]
        self.assertFalse(wrong, "refused but delivered: %r" % wrong)


if __name__ == "__main__":
    unittest.main()
