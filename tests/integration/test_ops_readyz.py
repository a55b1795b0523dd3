"""GET /readyz (issue 11 item 9, issue 15 "Health"): 200 {"status":"ready"}
on an idle broker; 503 with reason "store" while the store is degraded by a
full disk, 200 again when space returns; /healthz stays 200 (liveness)
throughout. The data dir is on a 4 MiB tmpfs the test mounts (root needed;
skipped with the reason otherwise), filled by a ballast file."""
import json
import os
import shutil
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import raw5
import rawmqtt
from harness import ConfigBroker, free_port, is_mosquitto
from persist_util import fill_file, is_root, mount_tmpfs, umount, v5_reason

PAYLOAD = 16 * 1024


@unittest.skipIf(is_mosquitto(), "sluice-specific endpoint")
class ReadyzStoreTest(unittest.TestCase):
    def setUp(self):
        if not is_root():
            self.skipTest("full-disk test needs root to mount a tmpfs")
        self.mnt = tempfile.mkdtemp(prefix="sluice-readyz-")
        err = mount_tmpfs(self.mnt, "4m")
        if err:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs at %s: %s" % (self.mnt, err))
        self.broker = None

        def config(tmp):
            self.port, self.http = free_port(), free_port()
            while self.http == self.port:
                self.http = free_port()
            return {"listeners": [{"protocol": "mqtt", "bind": "127.0.0.1:%d" % self.port},
                                  {"protocol": "http", "bind": "127.0.0.1:%d" % self.http}],
                    "data_dir": os.path.join(self.mnt, "data"),
                    "persistence": {"sync": "always"},
                    "mqtt": {"max_packet_size": 1048576}}, [self.port, self.http]
        self.broker = ConfigBroker(config)

    def tearDown(self):
        if self.broker:
            self.broker.stop()
        if not umount(self.mnt):
            return
        shutil.rmtree(self.mnt, ignore_errors=True)

    def get(self, path):
        url = "http://127.0.0.1:%d%s" % (self.http, path)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def publish_until(self, c, want_refused, start, timeout=30):
        """QoS 1 publishes until one is refused (want_refused) or accepted;
        returns the next free packet id."""
        deadline = time.monotonic() + timeout
        pid = start
        while time.monotonic() < deadline and pid < 60000:
            c.send(raw5.publish5("ready/t", b"%06d" % pid + b"x" * (PAYLOAD - 6), 1, pid=pid))
            rc = v5_reason(c.wait_for(rawmqtt.PUBACK, timeout=15, pid=pid))
            pid += 1
            if (rc >= 0x80) == want_refused:
                return pid
        self.fail("no %s within %ds" % ("refusal" if want_refused else "acceptance", timeout))

    def test_full_disk_makes_readyz_503_until_space_returns(self):
        self.assertEqual(self.get("/readyz"), (200, '{"status":"ready"}\n'))
        # an offline persistent subscriber: every publish is stored for it
        s = rawmqtt.RawClient(self.port)
        self.assertEqual(s.connect("readyz-sub", False, 60).rc, 0)
        s.subscribe([("ready/t", 1)])
        s.disconnect()
        ballast = os.path.join(self.mnt, "ballast")
        fill_file(ballast, 2304 * 1024)
        c = raw5.Client5(self.port)
        self.assertEqual(c.connect("readyz-pub", True, 60).rc, 0)
        pid = self.publish_until(c, want_refused=True, start=1)
        status, body = self.get("/readyz")
        self.assertEqual(status, 503, body)
        doc = json.loads(body)
        self.assertEqual(doc["status"], "not ready")
        self.assertEqual([r["check"] for r in doc["reasons"]], ["store"])
        self.assertEqual(self.get("/healthz"), (200, "ok\n"))
        os.unlink(ballast)
        self.publish_until(c, want_refused=False, start=pid)
        self.assertEqual(self.get("/readyz"), (200, '{"status":"ready"}\n'))
        c.disconnect()


if __name__ == "__main__":
    unittest.main()
