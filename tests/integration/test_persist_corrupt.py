"""A corrupt database stops start-up (issue 5): the broker exits non-zero
with a message naming the database path and suggesting `sluice --repair`,
without opening its listener; `sluice --repair -c CONFIG` repairs it and the
broker then starts, with the records LevelDB could keep."""

import glob
import os
import time
import unittest

import harness
from persist_util import PersistCase, Receiver


def db_files(data_dir, pattern):
    return sorted(glob.glob(os.path.join(data_dir, "**", pattern),
                            recursive=True))


class CorruptDatabase(PersistCase, unittest.TestCase):

    def make_db(self):
        b = self.broker(sync="always")
        b.start()
        self.topic = "corrupt/%d" % os.getpid()
        p = b.client("corrupt-pub-%d" % os.getpid())
        p.publish(self.topic, b"survivor", qos=1, retain=True)
        p.disconnect()
        self.assertEqual(b.stop(), 0, b.log_tail())
        self.assertTrue(db_files(b.data_dir, "CURRENT"),
                        "no LevelDB (CURRENT) under %s: %r"
                        % (b.data_dir, os.listdir(b.data_dir)))
        return b

    def expect_refusal(self, b, what):
        rc, out = b.start_expect_exit(timeout=30)
        self.assertIsNotNone(rc, "%s: broker still running after 30 s:\n%s"
                             % (what, out))
        self.assertNotEqual(rc, 0, "%s: exit code 0:\n%s" % (what, out))
        self.assertFalse(harness.port_open(b.port))
        self.assertIn(b.data_dir, out,
                      "%s: message does not name the path:\n%s" % (what, out))
        self.assertIn("--repair", out,
                      "%s: message does not suggest --repair:\n%s"
                      % (what, out))
        return out

    def repair_and_start(self, b):
        rc, out = b.run(["--repair"], timeout=60)
        self.assertEqual(rc, 0, "sluice --repair -c CONFIG:\n%s" % out)
        b.start()
        c = b.client("corrupt-after-%d" % os.getpid())
        c.disconnect()

    def retained(self, b):
        s = b.client("corrupt-probe-%d" % os.getpid())
        s.subscribe([(self.topic, 1)])
        # retained ones are queued at SUBSCRIBE, before a (not retained)
        # sentinel published now
        rv = Receiver(s).until_sentinel(b.sentinel(self.topic), timeout=10)
        s.disconnect()
        return rv.payloads()

    def test_garbage_current_file(self):
        b = self.make_db()
        for path in db_files(b.data_dir, "CURRENT"):
            with open(path, "wb") as f:
                f.write(b"\x00garbage\xff not a manifest name\n")
        self.expect_refusal(b, "garbage CURRENT")
        self.repair_and_start(b)

    def test_missing_manifest(self):
        b = self.make_db()
        manifests = db_files(b.data_dir, "MANIFEST-*")
        self.assertTrue(manifests)
        for path in manifests:
            os.unlink(path)
        self.expect_refusal(b, "missing MANIFEST")
        self.repair_and_start(b)

    def test_repair_keeps_intact_records(self):
        """Only the CURRENT pointer is damaged: every record is still in
        the log/table files, so after --repair the retained message is
        back (RepairDB rebuilds the manifest from them)."""
        b = self.make_db()
        for path in db_files(b.data_dir, "CURRENT"):
            with open(path, "wb") as f:
                f.write(b"garbage\n")
        self.expect_refusal(b, "garbage CURRENT")
        self.repair_and_start(b)
        self.assertEqual(self.retained(b), [b"survivor"])

    def test_repair_of_healthy_database_is_harmless(self):
        b = self.make_db()
        rc, out = b.run(["--repair"], timeout=60)
        self.assertEqual(rc, 0, out)
        b.start()
        self.assertEqual(self.retained(b), [b"survivor"])

    def test_unreadable_data_dir_is_reported(self):
        """data_dir is a regular file: start-up fails naming the path."""
        b = self.broker(sync="always")
        os.rmdir(b.data_dir)
        with open(b.data_dir, "w") as f:
            f.write("not a directory\n")
        b.port = harness.free_port()
        rc, out = b.start_expect_exit(timeout=30)
        self.assertIsNotNone(rc, "still running:\n%s" % out)
        self.assertNotEqual(rc, 0, out)
        self.assertIn(b.data_dir, out)


if __name__ == "__main__":
    unittest.main()
