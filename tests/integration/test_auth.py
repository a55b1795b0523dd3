"""Authentication (issue 13 items 1, 6, 7), black-box: the real sluice
binary over real sockets, raw clients built independently of our codec
(rawmqtt / raw5), files made by mosquitto_passwd, and the real Mosquitto
reading files that `sluice passwd` wrote.  ACLs: test_auth_acl.py.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
import rawmqtt
from auth_util import (MOSQUITTO_PASSWD, AuthCase, c4, line6, line7,
                       sluice)
from harness import HOST, free_port

SLOW_ITER = 600000

# ------------------------------------------------------------ passwords
class PasswordFile(AuthCase):
    """A file made by mosquitto_passwd (plus a $6$ line and a slow $7$
    line made by Python) accepted by sluice."""

    auth = {"password_file": "pw"}
    workers = 1  # the slow hash must not hold the only worker

    @classmethod
    def prepare(cls):
        pw = os.path.join(cls.tmp, "pw")
        subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", pw, "alice", "s3cret"],
                       check=True, capture_output=True, timeout=30)
        subprocess.run([MOSQUITTO_PASSWD, "-b", pw, "carol", "other"],
                       check=True, capture_output=True, timeout=30)
        with open(pw, "a") as f:
            f.write(line6("old", "legacy"))
            # a few hundred ms of PBKDF2: far too slow for an I/O worker
            f.write(line7("slow", "patience", SLOW_ITER))

    def test_mosquitto_passwd_file_accepted(self):
        for conn in (self.conn4, self.conn5):
            _, rc = conn("ok-alice", "alice", "s3cret")
            self.assertEqual(rc, 0)
            _, rc = conn("ok-carol", "carol", "other")
            self.assertEqual(rc, 0)

    def test_sha512_line_accepted(self):
        _, rc = self.conn4("old-1", "old", "legacy")
        self.assertEqual(rc, 0)
        _, rc = self.conn4("old-2", "old", "legacy!")
        self.assertEqual(rc, 4)

    def test_wrong_password_is_rc4_and_0x86(self):
        _, rc = self.conn4("bad-4", "alice", "wrong")
        self.assertEqual(rc, 4)
        _, rc = self.conn5("bad-5", "alice", "wrong")
        self.assertEqual(rc, 0x86)
        _, rc = self.conn4("bad-u", "nobody", "s3cret")
        self.assertEqual(rc, 4)
        _, rc = self.conn5("bad-np", "alice")  # user name without password
        self.assertEqual(rc, 0x86)

    def test_anonymous_refused_rc5_and_0x87(self):
        _, rc = self.conn4("anon-4")
        self.assertEqual(rc, 5)
        _, rc = self.conn5("anon-5")
        self.assertEqual(rc, 0x87)

    def test_refusal_counted_and_logged_without_password(self):
        before = self.broker.metrics()["sluice_auth_failures_total"]
        _, rc = self.conn4("logme-7", "alice", "TopSecretPassword")
        self.assertEqual(rc, 4)
        deadline = time.monotonic() + 10
        while self.broker.metrics()["sluice_auth_failures_total"] <= before:
            self.assertLess(time.monotonic(), deadline, "counter did not move")
            time.sleep(0.05)
        log = self.broker.log_text()
        line = [l for l in log.splitlines()
                if "SLUICE-AUTH-REFUSED" in l and "logme-7" in l]
        self.assertEqual(len(line), 1, log[-2000:])
        self.assertIn('"alice"', line[0])
        self.assertIn("127.0.0.1", line[0])
        self.assertIn("bad user name or password", line[0])
        self.assertNotIn("TopSecretPassword", log)

    def test_slow_hash_does_not_stall_other_clients(self):
        """With one worker, a CONNECT whose PBKDF2 takes about a second waits
        off the worker: an already connected client's round trips go on."""
        sub, rc = self.conn4("busy-sub", "alice", "s3cret")
        self.assertEqual(rc, 0)
        self.assertEqual(sub.subscribe([("alice/ping", 0)]), [0])
        slow = self.keep(rawmqtt.RawClient(self.broker.port))
        t0 = time.monotonic()
        slow.send(rawmqtt.connect("slow-1", username="slow", password="patience"))
        worst = 0.0
        answered = None
        i = 0
        while time.monotonic() - t0 < 30:
            i += 1
            t = time.monotonic()
            sub.publish("alice/ping", b"%d" % i)
            m = sub.recv_publish(timeout=5)
            self.assertEqual(m.payload, b"%d" % i)
            worst = max(worst, time.monotonic() - t)
            if not slow.no_packet(0.01):
                answered = time.monotonic() - t0
                break
        self.assertIsNotNone(answered, "slow CONNECT never answered")
        self.assertEqual(slow.expect(rawmqtt.CONNACK).rc, 0)
        # it really was slow, and nobody else waited for it
        self.assertLess(worst, min(0.5, answered / 2), (worst, answered))
        # the same credentials again: answered from the cache, at once
        t = time.monotonic()
        _, rc = self.conn4("slow-2", "slow", "patience")
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t, 0.2)
        bad = self.keep(rawmqtt.RawClient(self.broker.port, timeout=30))
        self.assertEqual(bad.connect("slow-3", username="slow", password="impatience",
                                     timeout=30).rc, 4)


class FailureBackoff(AuthCase):
    """Failed logins from one address: after two, each refusal is held back
    (250 ms, 500 ms, 1 s, then 2 s) without holding the worker; good
    logins are not delayed."""

    auth = {"password_file": "pw"}
    workers = 1

    @classmethod
    def prepare(cls):
        with open(os.path.join(cls.tmp, "pw"), "w") as f:
            f.write(line7("amy", "right", 101))

    def refuse_time(self, cid):
        c = self.keep(rawmqtt.RawClient(self.broker.port, timeout=10))
        t = time.monotonic()
        self.assertEqual(c.connect(cid, username="amy", password="wrong", timeout=10).rc, 4)
        return time.monotonic() - t

    def test_refusals_slow_down_and_nobody_else_waits(self):
        other, rc = self.conn4("bo-other", "amy", "right")
        self.assertEqual(rc, 0)
        self.assertEqual(other.subscribe([("t/ping", 0)]), [0])
        times = [self.refuse_time("bo-%d" % i) for i in range(2)]
        # the next refusals are held: 250 ms, 500 ms, 1 s, 2 s, 2 s (the
        # worker's tick, every 250 ms, hands the CONNECT in again)
        for i, want in enumerate((0.25, 0.5, 1.0, 2.0, 2.0)):
            c = self.keep(rawmqtt.RawClient(self.broker.port, timeout=10))
            t = time.monotonic()
            c.send(rawmqtt.connect("bo-h%d" % i, username="amy", password="wrong"))
            worst = 0.0
            while c.no_packet(0.02):
                self.assertLess(time.monotonic() - t, want + 3, "refusal never came")
                r = time.monotonic()
                other.publish("t/ping", b"x")  # the worker still serves others
                other.recv_publish(timeout=5)
                worst = max(worst, time.monotonic() - r)
            took = time.monotonic() - t
            self.assertEqual(c.expect(rawmqtt.CONNACK).rc, 4)
            self.assertGreaterEqual(took, want - 0.05, (i, took, times))
            self.assertLess(worst, 0.2, (i, worst))
            times.append(took)
        t = time.monotonic()
        _, rc = self.conn4("bo-good", "amy", "right")  # right password: no delay
        self.assertEqual(rc, 0)
        self.assertLess(time.monotonic() - t, 0.2)
        self.assertEqual(self.broker.metrics()["sluice_auth_failures_total"], 7)


class SluicePasswdForMosquitto(unittest.TestCase):
    """`sluice passwd` files read by the real Mosquitto."""

    def setUp(self):
        if not os.path.exists(harness.MOSQUITTO) or not harness.sluice_bin():
            self.skipTest("needs mosquitto and sluice")
        self.tmp = tempfile.mkdtemp(prefix="sluice-passwd-")
        self.proc = None

    def tearDown(self):
        if self.proc:
            self.proc.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def passwd(self, *args, stdin=None):
        return subprocess.run([sluice(), "passwd"] + list(args),
                              input=stdin, capture_output=True, text=True,
                              timeout=30)

    def test_sluice_passwd_files_accepted_by_mosquitto(self):
        pw = os.path.join(self.tmp, "pw")
        self.assertEqual(self.passwd("-c", "-b", pw, "dave", "d4ve").returncode, 0)
        r = self.passwd(pw, "erin", stdin="3rin\n3rin\n")  # the prompt, piped
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.passwd("-b", pw, "gone", "x").returncode, 0)
        self.assertEqual(self.passwd("-D", pw, "gone").returncode, 0)
        self.assertEqual(self.passwd("-D", pw, "gone").returncode, 1)
        self.assertEqual(self.passwd("-b", pw, "dave", "newer").returncode, 0)
        with open(pw) as f:
            lines = f.read().splitlines()
        self.assertEqual([l.split(":")[0] for l in lines], ["dave", "erin"])
        for l in lines:
            self.assertRegex(l, r"^\w+:\$7\$101\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{88}$")

        # mosquitto drops root for its own user: let it read the file
        os.chmod(self.tmp, 0o755)
        os.chmod(pw, 0o644)
        port = free_port()
        conf = os.path.join(self.tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d %s\nallow_anonymous false\npassword_file %s\n"
                    "persistence false\nlog_dest stderr\n" % (port, HOST, pw))
        self.proc = harness.OwnProcess()
        self.proc.tmp = self.tmp
        self.proc.log_path = os.path.join(self.tmp, "mosquitto.log")
        self.proc._spawn([harness.MOSQUITTO, "-c", conf], self.tmp)
        self.proc._wait_listening([port], 15.0)
        for user, password, want_ok in (("dave", "newer", True),
                                        ("erin", "3rin", True),
                                        ("dave", "d4ve", False),
                                        ("gone", "x", False)):
            c, rc = c4(port, "m-" + user, user, password)
            c.close()
            self.assertEqual(rc == 0, want_ok, (user, password, rc))


class BadFiles(unittest.TestCase):
    """A bad password or ACL file is a config error at start: exit 2,
    naming the file and the line."""

    def setUp(self):
        if not harness.sluice_bin():
            self.skipTest("no sluice binary")
        self.tmp = tempfile.mkdtemp(prefix="sluice-badauth-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_with(self, auth, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text or "")
        a = dict(auth)
        a[[k for k in a if a[k] == name][0]] = path
        cfg = os.path.join(self.tmp, "c.json")
        with open(cfg, "w") as f:
            json.dump({"listeners": [{"protocol": "mqtt",
                                      "bind": "%s:%d" % (HOST, free_port())}],
                       "data_dir": os.path.join(self.tmp, "d"), "auth": a}, f)
        if text is None:
            os.unlink(path)
        r = subprocess.run([sluice(), "-c", cfg], capture_output=True,
                           text=True, timeout=30)
        return r, path

    def test_bad_password_line(self):
        r, path = self.run_with({"password_file": "pw"}, "pw",
                                line7("a", "b", 101) + "broken-line-without-colon\n")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("%s:2: expected USER:HASH" % path, r.stderr)

    def test_bad_hash(self):
        r, path = self.run_with({"password_file": "pw"}, "pw", "a:$5$x$y\n")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("%s:1: expected $7$" % path, r.stderr)

    def test_bad_acl_line(self):
        r, path = self.run_with({"acl_file": "acl"}, "acl",
                                "user a\n\ntopic read a/#/b\n")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("%s:3: expected a valid MQTT topic filter" % path, r.stderr)
        r, path = self.run_with({"acl_file": "acl"}, "acl", "topic read x\nallow all\n")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("%s:2: expected `user NAME`" % path, r.stderr)

    def test_missing_file(self):
        r, path = self.run_with({"password_file": "pw"}, "pw", None)
        self.assertEqual(r.returncode, 2)
        self.assertIn("%s: cannot read password file" % path, r.stderr)


if __name__ == "__main__":
    unittest.main()
