"""Logs (issue 15 item 5): one line per connect (client id, username, peer,
protocol, keepalive, clean start), disconnect (with its cause), refused
CONNECT (reason; never the password), takeover; control characters of a
client id cannot forge a log line; log.format "json" writes one JSON
object per line (cJSON) with the same stable ids."""
import json
import unittest

import raw5
from admin_util import AdminBroker
from harness import is_mosquitto

T = 5.0
SECRET = "hunter2-very-secret"


@unittest.skipIf(is_mosquitto(), "sluice-specific")
class LogsTest(unittest.TestCase):
    def run_clients(self, b):
        c = raw5.Client5(b.port)
        self.assertEqual(c.connect("log-a", keepalive=42, username="alice",
                                   password=SECRET).rc, 0)
        b.wait_log("SLUICE-CONNECT")
        c2 = raw5.Client5(b.port)  # takes the session over
        self.assertEqual(c2.connect("log-a", clean=False, props=[(0x11, 60)]).rc, 0)
        b.wait_log("SLUICE-TAKEOVER")
        c.expect_disconnect(T)
        c2.disconnect()
        b.wait_log("SLUICE-DISCONNECT", 2)
        c3 = raw5.Client5(b.port)
        self.assertEqual(c3.connect("log-b\nfake 2026 error SLUICE-FORGED x").rc, 0)
        c3.close()  # no DISCONNECT: the connection is lost
        b.wait_log("SLUICE-DISCONNECT", 3)
        c4 = raw5.Client5(b.port)
        self.assertNotEqual(c4.connect("", username="bob", password=SECRET).rc, 0)
        b.wait_log("SLUICE-CONNECT-REFUSED")
        c4.close()
        for x in (c, c2):
            x.close()

    def test_text(self):
        b = AdminBroker(extra={"mqtt": {"sys_interval": 0, "allow_zero_length_clientid": False}})
        try:
            self.run_clients(b)
            log = b.log_text()
        finally:
            b.stop_clean()
        self.assertNotIn(SECRET, log)
        lines = log.splitlines()
        conn = [x for x in lines if " SLUICE-CONNECT " in x][0]
        for part in ("'log-a'", "user 'alice'", "MQTT 5", "keepalive 42", "clean_start 1",
                     "127.0.0.1"):
            self.assertIn(part, conn)
        self.assertTrue(any(" SLUICE-TAKEOVER " in x and "'log-a'" in x for x in lines))
        gone = [x for x in lines if " SLUICE-DISCONNECT " in x]
        self.assertTrue(any("DISCONNECT (reason" in x for x in gone), gone)
        self.assertTrue(any("without DISCONNECT" in x for x in gone), gone)
        self.assertTrue(any("closed by the broker" in x and "0x8e" in x for x in gone), gone)
        self.assertFalse(any(x.startswith("fake ") for x in lines), "a client id forged a line")
        refused = [x for x in lines if " SLUICE-CONNECT-REFUSED " in x]
        self.assertEqual(len(refused), 1)
        self.assertIn("0x85", refused[0])

    def test_json(self):
        b = AdminBroker(extra={"mqtt": {"sys_interval": 0, "allow_zero_length_clientid": False},
                               "log": {"format": "json"}})
        try:
            self.run_clients(b)
            st, _, _ = b.api("POST", "/api/v1/reload")
            self.assertEqual(st, 200)
            b.wait_log("SLUICE-RELOAD")
            log = b.log_text()
        finally:
            b.stop_clean()
        self.assertNotIn(SECRET, log)
        recs = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
        ids = [r["id"] for r in recs]
        for want in ("SLUICE-READY", "SLUICE-CONNECT", "SLUICE-TAKEOVER", "SLUICE-DISCONNECT",
                     "SLUICE-CONNECT-REFUSED", "SLUICE-RELOAD"):
            self.assertIn(want, ids)
        for r in recs:
            self.assertEqual(sorted(r), ["id", "level", "msg", "time"])
        forged = [r for r in recs if "SLUICE-FORGED" in r["msg"]]
        self.assertTrue(forged and "\n" in forged[0]["msg"])


if __name__ == "__main__":
    unittest.main()
