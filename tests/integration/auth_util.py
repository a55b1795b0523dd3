"""Shared by test_auth.py and test_auth_acl.py: a sluice process with a
config written whole (top-level and per-listener "auth"), password lines
computed by Python's hashlib (independently of our code), raw clients."""

import base64
import hashlib
import json
import os
import shutil
import tempfile
import unittest
import urllib.request

import harness
import raw5
import rawmqtt
from harness import HOST, free_port

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


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
        return harness.parse_metrics(text)


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
