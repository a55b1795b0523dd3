"""Authentication and ACLs (issue 13 items 1, 2, 6, 7; issue 12 item 2),
black-box: the real sluice binary over real sockets, raw clients built
independently of our codec (rawmqtt / raw5), files made by mosquitto_passwd,
and the real Mosquitto reading files that `sluice passwd` wrote.

Every negative assertion ("not delivered") is proved by a sentinel sent
after it on the same path.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

import harness
import raw5
import rawmqtt
from harness import HOST, free_port

SLOW_ITER = 600000
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
ACL = """\
# anonymous section: nothing but this
topic read public/#

user alice
topic readwrite alice/#
topic read public/#
topic write cmd/#
topic deny alice/secret/#

user bob
topic readwrite #
topic read $SYS/#

pattern readwrite devices/%c/#
"""


def sluice():
    b = harness.sluice_bin()
    return os.path.abspath(b) if b else None


def line6(user, password):
    """The older mosquitto `$6$` line: SHA-512(password + salt)."""
    salt = os.urandom(12)
    h = hashlib.sha512(password.encode() + salt).digest()
    return "%s:$6$%s$%s\n" % (user, base64.b64encode(salt).decode(),
                              base64.b64encode(h).decode())


def line7(user, password, iterations):
    """A `$7$` line (PBKDF2-HMAC-SHA512) computed by Python, not by us."""
    salt = os.urandom(12)
    h = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return "%s:$7$%d$%s$%s\n" % (user, iterations,
                                 base64.b64encode(salt).decode(),
                                 base64.b64encode(h).decode())


class AuthBroker(harness.OwnProcess):
    """sluice with a config we write whole: `auth` at the top level and
    per-listener `auth` objects (listener_auth: index -> object)."""

    def __init__(self, tmp, auth=None, listener_auth=None, n_mqtt=1,
                 workers=2, mqtt=None):
        self.tmp = tmp
        self.auth = auth
        self.listener_auth = listener_auth or {}
        self.ports = [free_port() for _ in range(n_mqtt)]
        self.http_port = free_port()
        self.workers = workers
        self.mqtt = {"sys_interval": 1}
        self.mqtt.update(mqtt or {})
        self.port = self.ports[0]

    def config(self):
        ls = []
        for i, p in enumerate(self.ports):
            l = {"protocol": "mqtt", "bind": "%s:%d" % (HOST, p)}
            if i in self.listener_auth:
                l["auth"] = self.listener_auth[i]
            ls.append(l)
        ls.append({"protocol": "http", "bind": "%s:%d" % (HOST, self.http_port)})
        cfg = {"listeners": ls, "data_dir": os.path.join(self.tmp, "data"),
               "workers": self.workers, "node_id": "auth",
               "persistence": {"sync": "none"}, "mqtt": self.mqtt}
        if self.auth is not None:
            cfg["auth"] = self.auth
        path = os.path.join(self.tmp, "sluice.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        return path

    def start(self):
        path = self.config()
        self.log_path = os.path.join(self.tmp, "broker.log")
        self._spawn([sluice(), "-c", path], self.tmp)
        self._wait_listening(self.ports + [self.http_port], 15.0)
        return self

    def metrics(self):
        url = "http://%s:%d/metrics" % (HOST, self.http_port)
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.split()
                out[k] = int(v)
        return out


def c4(port, cid, user=None, password=None, will=None):
    c = rawmqtt.RawClient(port)
    ack = c.connect(cid, will=will, username=user, password=password)
    return c, ack.rc


def c5(port, cid, user=None, password=None, will=None):
    c = raw5.Client5(port)
    ack = c.connect(cid, will=will, username=user, password=password)
    return c, ack.rc


class AuthCase(unittest.TestCase):
    auth = None
    listener_auth = None
    n_mqtt = 1
    workers = 2
    files = {}  # name -> text, written into the temp dir before start

    @classmethod
    def setUpClass(cls):
        if not harness.sluice_bin():
            raise unittest.SkipTest("no sluice binary")
        cls.tmp = tempfile.mkdtemp(prefix="sluice-auth-")
        for name, text in cls.files.items():
            with open(os.path.join(cls.tmp, name), "w") as f:
                f.write(text)
        cls.prepare()
        auth = cls.fix(cls.auth)
        la = {i: cls.fix(a) for i, a in (cls.listener_auth or {}).items()}
        cls.broker = AuthBroker(cls.tmp, auth, la, cls.n_mqtt,
                                cls.workers).start()
        cls.clients = []

    @classmethod
    def prepare(cls):
        pass

    @classmethod
    def fix(cls, auth):
        """File names in auth objects are relative to the temp dir."""
        if auth is None:
            return None
        a = dict(auth)
        for k in ("password_file", "acl_file"):
            if k in a:
                a[k] = os.path.join(cls.tmp, a[k])
        return a

    @classmethod
    def tearDownClass(cls):
        harness.close_quietly(cls.clients)
        rc = cls.broker.stop()
        log = cls.broker.log_text()
        cls.broker.cleanup()
        if rc not in (0, None):
            raise AssertionError("broker exit %s:\n%s" % (rc, log[-3000:]))

    def keep(self, c):
        self.clients.append(c)
        return c

    def conn4(self, cid, user=None, password=None, will=None, port=None):
        c, rc = c4(port or self.broker.port, cid, user, password, will)
        self.keep(c)
        return c, rc

    def conn5(self, cid, user=None, password=None, will=None, port=None):
        c, rc = c5(port or self.broker.port, cid, user, password, will)
        self.keep(c)
        return c, rc


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


# ----------------------------------------------------------------- ACLs
class AclFile(AuthCase):
    """ACL deny on publish, subscribe, wildcard delivery, retained and
    will, from a Mosquitto-syntax file."""

    files = {"acl": ACL}
    auth = {"acl_file": "acl", "allow_anonymous": True}

    def sentinel(self, sub, topic):
        """Publish a sentinel the subscriber may read and return every
        PUBLISH it got up to and including it."""
        bob, rc = self.conn4(self.id()[-20:] + "-sn", "bob")
        self.assertEqual(rc, 0)
        bob.publish(topic, b"sentinel", qos=1)
        got = []
        while True:
            m = sub.recv_publish(timeout=5)
            got.append((m.topic, m.payload))
            if m.payload == b"sentinel":
                return got

    def test_publish_denied_v5_0x87_qos1_and_qos2(self):
        a, rc = self.conn5("p5", "alice")
        self.assertEqual(rc, 0)
        self.assertEqual(a.publish("bob/x", b"no", qos=1, pid=3).rc, 0x87)
        self.assertEqual(a.publish("bob/x", b"no", qos=2, pid=4).rc, 0x87)
        self.assertLess(a.publish("alice/x", b"ok", qos=1, pid=5).rc, 0x80)

    def test_publish_denied_311_acked_and_dropped(self):
        watcher, _ = self.conn4("p4-w", "bob")
        self.assertEqual(watcher.subscribe([("#", 1)]), [1])
        a, rc = self.conn4("p4", "alice")
        self.assertEqual(rc, 0)
        a.publish("bob/denied", b"dropped", qos=1)   # PUBACK comes back
        a.publish("bob/denied", b"dropped2", qos=2)  # PUBREC/PUBCOMP too
        a.publish("alice/allowed", b"sentinel", qos=1)
        m = watcher.recv_publish(timeout=5)
        self.assertEqual((m.topic, m.payload), ("alice/allowed", b"sentinel"))

    def test_subscribe_denied_0x80_and_0x87(self):
        a, _ = self.conn4("s4", "alice")
        self.assertEqual(a.subscribe([("bob/#", 1), ("alice/#", 1),
                                      ("alice/secret/#", 1), ("$SYS/#", 0)]),
                         [0x80, 1, 0x80, 0x80])
        a5, _ = self.conn5("s5", "alice")
        self.assertEqual(a5.subscribe([("bob/#", 1), ("public/+", 1)]),
                         [0x87, 1])

    def test_wildcard_delivery_filtered_by_read_rights(self):
        a, _ = self.conn4("w4", "alice")
        self.assertEqual(a.subscribe([("#", 1)]), [1])
        bob, _ = self.conn4("w4-bob", "bob")
        bob.publish("other/x", b"hidden", qos=1)
        bob.publish("alice/secret/k", b"hidden2", qos=1)
        bob.publish("alice/open", b"seen", qos=1)
        got = self.sentinel(a, "public/w4")
        self.assertEqual(got, [("alice/open", b"seen"), ("public/w4", b"sentinel")])

    def test_retained_on_subscribe_filtered(self):
        bob, _ = self.conn4("r-bob", "bob")
        bob.publish("other/r", b"hidden", qos=1, retain=True)
        bob.publish("public/r", b"shown", qos=1, retain=True)
        a, _ = self.conn4("r4", "alice")
        self.assertEqual(a.subscribe([("+/r", 1)]), [1])
        got = self.sentinel(a, "public/r")  # live, after the retained ones
        self.assertEqual(got, [("public/r", b"shown"), ("public/r", b"sentinel")])
        bob.publish("other/r", b"", qos=1, retain=True)  # leave no retained state
        bob.publish("public/r", b"", qos=1, retain=True)

    def test_will_topic_denied_is_dropped(self):
        """As Mosquitto 2.0 (checked: 2.0.11) and EMQX: the client connects,
        its will is never published."""
        watcher, _ = self.conn4("will-w", "bob")
        self.assertEqual(watcher.subscribe([("bob/will", 0), ("alice/will", 0)]), [0, 0])
        a, rc = self.conn4("will-a", "alice", will=("bob/will", b"denied", 0, False))
        self.assertEqual(rc, 0)
        a5, rc = self.conn5("will-a5", "alice", will=("bob/will", b"denied5", 0, False))
        self.assertEqual(rc, 0)
        a.abort()
        a5.abort()
        # the same client ids again (session taken over: the old connections
        # are closed, and their wills handled, before these go on), with a
        # will alice may publish: it is the sentinel
        for cid in ("will-a", "will-a5"):
            c = self.keep(rawmqtt.RawClient(self.broker.port))
            self.assertEqual(c.connect(cid, clean=False, username="alice",
                                       will=("alice/will", cid.encode(), 0, False)).rc, 0)
            c.abort()
            m = watcher.recv_publish(timeout=5)
            self.assertEqual((m.topic, m.payload), ("alice/will", cid.encode()))
        self.assertIn("SLUICE-AUTH-WILL", self.broker.log_text())

    def test_pattern_with_client_id(self):
        a, _ = self.conn5("dev7", "alice")
        self.assertEqual(a.publish("devices/dev7/t", b"1", qos=1, pid=1).rc, 0x10)
        self.assertEqual(a.publish("devices/dev8/t", b"1", qos=1, pid=2).rc, 0x87)
        anon, rc = self.conn5("dev9")  # patterns apply to anonymous clients too
        self.assertEqual(rc, 0)
        self.assertEqual(anon.publish("devices/dev9/t", b"1", qos=1, pid=1).rc, 0x10)
        self.assertEqual(anon.publish("public/t", b"1", qos=1, pid=2).rc, 0x87)

    def test_sys_readable_only_where_allowed(self):
        a, _ = self.conn4("sys-a", "alice")
        self.assertEqual(a.subscribe([("$SYS/broker/uptime", 0)]), [0x80])
        b, _ = self.conn4("sys-b", "bob")
        self.assertEqual(b.subscribe([("$SYS/broker/uptime", 0)]), [0])
        m = b.recv_publish(timeout=5)  # sys_interval 1
        self.assertEqual(m.topic, "$SYS/broker/uptime")


class AclDenyAll(AuthCase):
    """An ACL without rules denies every site: nothing is published,
    subscribed, delivered (live or retained), and no will is accepted."""

    files = {"acl": "# nothing is allowed\n"}
    auth = {"acl_file": "acl"}

    def test_every_site_denied(self):
        c, rc = self.conn4("all-1")
        self.assertEqual(rc, 0)  # anonymous may connect: only rights are gone
        self.assertEqual(c.subscribe([("#", 1), ("a/b", 0)]), [0x80, 0x80])
        c.publish("a/b", b"x", qos=1, retain=True)
        c5_, _ = self.conn5("all-2")
        self.assertEqual(c5_.subscribe([("a/#", 1)]), [0x87])
        self.assertEqual(c5_.publish("a/b", b"x", qos=1, pid=2).rc, 0x87)
        before = self.broker.log_text().count("SLUICE-AUTH-WILL")
        _, rc = self.conn4("all-3", will=("a/w", b"x", 0, False))
        self.assertEqual(rc, 0)
        self.assertEqual(self.broker.log_text().count("SLUICE-AUTH-WILL"), before + 1)
        m = self.broker.metrics()
        self.assertGreaterEqual(m["sluice_auth_acl_denied_total"], 5)
        self.assertEqual(m["sluice_retained_messages"], 0)


class InlineAclAndListeners(AuthCase):
    """Rules inline in the JSON config; a listener with its own auth
    object that replaces the top-level one."""

    n_mqtt = 2
    files = {}
    auth = {"allow_anonymous": True,
            "acl": [{"topic": "open/#"},
                    {"user": "zed", "topic": "zed/#", "access": "readwrite"}]}
    listener_auth = {1: {"password_file": "pw"}}

    @classmethod
    def prepare(cls):
        with open(os.path.join(cls.tmp, "pw"), "w") as f:
            f.write(line7("zed", "zpw", 101))

    def test_inline_rules(self):
        a, rc = self.conn5("in-1")
        self.assertEqual(rc, 0)
        self.assertEqual(a.publish("open/x", b"1", qos=1, pid=1).rc, 0x10)
        self.assertEqual(a.publish("zed/x", b"1", qos=1, pid=2).rc, 0x87)
        z, rc = self.conn5("in-2", "zed", "anything")  # no password file here
        self.assertEqual(rc, 0)
        self.assertEqual(z.publish("zed/x", b"1", qos=1, pid=1).rc, 0x10)

    def test_listener_auth_replaces_top(self):
        p2 = self.broker.ports[1]
        _, rc = self.conn4("l-1", port=p2)
        self.assertEqual(rc, 5)  # password_file there: anonymous refused
        _, rc = self.conn4("l-2", "zed", "bad", port=p2)
        self.assertEqual(rc, 4)
        z, rc = self.conn5("l-3", "zed", "zpw", port=p2)
        self.assertEqual(rc, 0)
        # no ACL on that listener: everything goes
        self.assertEqual(z.publish("any/where", b"1", qos=1, pid=1).rc, 0x10)


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
