"""`sluice ctl` (issue 15 item 7): the admin API from the command line:
clients, client, kick (the v5 client gets DISCONNECT 0x98), publish (the
subscriber gets it), reload, bridge, stats; exit codes 0 (2xx), 1 (other
answer, e.g. a wrong key), 2 (usage), 3 (broker unreachable)."""
import json
import os
import subprocess
import unittest

import raw5
from admin_util import KEY, AdminBroker, ports
from harness import is_mosquitto, sluice_bin

T = 5.0


@unittest.skipIf(is_mosquitto(), "sluice-specific")
class CtlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = AdminBroker()

    @classmethod
    def tearDownClass(cls):
        cls.b.stop_clean()

    def ctl(self, *args, key=KEY, url=None):
        env = dict(os.environ, SLUICE_API_KEY=key)
        env.pop("SLUICE_URL", None)
        argv = [sluice_bin(), "ctl", "--url", url or "http://127.0.0.1:%d" % self.b.http]
        p = subprocess.run(argv + list(args), env=env, capture_output=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        out = p.stdout.decode()
        try:
            out = json.loads(out)
        except ValueError:
            pass
        return p.returncode, out

    def test_commands(self):
        sub = raw5.Client5(self.b.port)
        self.assertEqual(sub.connect("ctl-sub").rc, 0)
        sub.subscribe([("ctl/#", 1)])
        rc, out = self.ctl("clients", "--connected", "--prefix", "ctl-")
        self.assertEqual(rc, 0, out)
        self.assertEqual([c["clientid"] for c in out["data"]], ["ctl-sub"])
        rc, out = self.ctl("client", "ctl-sub")
        self.assertEqual((rc, out["subscriptions"][0]["topic"]), (0, "ctl/#"))
        rc, out = self.ctl("publish", "ctl/x", "hello", "--qos", "1")
        self.assertEqual((rc, out["subscribers"]), (0, 1))
        p = sub.recv_publish(T)
        self.assertEqual((p.topic, p.payload, p.qos), ("ctl/x", b"hello", 1))
        rc, out = self.ctl("stats")
        self.assertEqual(rc, 0)
        self.assertGreaterEqual(out["conns"], 1)
        rc, out = self.ctl("bridge")
        self.assertEqual((rc, out), (0, {"enabled": False}))
        rc, out = self.ctl("reload")
        self.assertEqual((rc, out["status"]), (0, "reloaded"))
        rc, out = self.ctl("kick", "ctl-sub")
        self.assertEqual(rc, 0, out)
        self.assertEqual(sub.expect_disconnect(T).rc, 0x98)
        rc, out = self.ctl("kick", "ctl-sub")
        self.assertEqual((rc, out["error"]), (1, "not_found"))
        sub.close()

    def test_exit_codes(self):
        rc, out = self.ctl("stats", key="wrong")
        self.assertEqual((rc, out["error"]), (1, "unauthorized"))
        self.assertEqual(self.ctl("frobnicate")[0], 2)
        self.assertEqual(self.ctl("publish", "only-topic")[0], 2)
        self.assertEqual(self.ctl("stats", url="http://127.0.0.1:%d" % ports(1)[0])[0], 3)


if __name__ == "__main__":
    unittest.main()
