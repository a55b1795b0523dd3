"""Helpers for the admin API tests, test_admin_*.py (issue 15): a sluice
with an mqtt and an http listener on free loopback ports and API keys, and
a small HTTP client (http.client, so methods, headers and bodies are ours
to choose).  Every wait is bounded; only our own PID is signalled."""

import http.client
import json
import os
import time

from harness import ConfigBroker, free_port

KEY = "test-key-0123456789"


def ports(n):
    out = []
    while len(out) < n:
        p = free_port()
        if p not in out:
            out.append(p)
    return out


class AdminBroker(ConfigBroker):
    """sluice with listeners mqtt (self.port), http (self.http), ws
    (self.ws); `admin` is the admin section (default: api_keys [KEY]);
    extra: more top-level config."""

    def __init__(self, admin=None, extra=None, workers=2):
        def config(tmp):
            self.port, self.http, self.ws = ports(3)
            cfg = {"listeners": [
                {"protocol": "mqtt", "bind": "127.0.0.1:%d" % self.port},
                {"protocol": "http", "bind": "127.0.0.1:%d" % self.http},
                {"protocol": "ws", "bind": "127.0.0.1:%d" % self.ws, "path": "/mqtt"}],
                "workers": workers, "node_id": "admin-test",
                "mqtt": {"sys_interval": 0}}
            cfg["admin"] = {"api_keys": [KEY]} if admin is None else admin
            if callable(extra):
                cfg.update(extra(tmp))
            elif extra:
                cfg.update(extra)
            self.cfg = cfg
            return cfg, [self.port, self.http, self.ws]
        ConfigBroker.__init__(self, config)
        self.cfg_path = os.path.join(self.tmp, "sluice.json")

    def rewrite(self, cfg=None, text=None):
        """Replace the config file (a dict, or raw text) for a reload."""
        with open(self.cfg_path, "w") as f:
            f.write(text if text is not None else json.dumps(cfg))

    def wait_log(self, needle, count=1, timeout=10.0):
        """Wait until the log holds `needle` at least count times."""
        deadline = time.monotonic() + timeout
        while self.log_text().count(needle) < count:
            if time.monotonic() > deadline:
                raise AssertionError("no %r (x%d) in the log within %.0fs:\n%s"
                                     % (needle, count, timeout, self.log_tail()))
            time.sleep(0.02)

    def api(self, method, path, body=None, key=KEY, port=None, headers=None, raw=None):
        """(status, headers dict (lower-case names), parsed JSON or text)."""
        c = http.client.HTTPConnection("127.0.0.1", port or self.http, timeout=10)
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = "Bearer " + key
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            text = r.read().decode("utf-8", "replace")
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        try:
            return r.status, hdrs, json.loads(text)
        except ValueError:
            return r.status, hdrs, text
