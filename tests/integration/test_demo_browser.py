"""The demo in a real browser (issue 16): sluice-kafka-mock + sluice with
examples/demo.json + sluice-analytics + sluice-devices (6 devices, and one
more in its own process to be killed), and the console served by sluice's
http listener, driven in Debian's chromium by tests/browser/console_test.mjs
(puppeteer-core, installed by `make test` with npm ci).

The browser script owns the page; this file owns every process.  When the
script prints "NEED kill-victim" / "NEED kafka-down" / "NEED kafka-up", this
file kill -9's the single-device simulator (its will must show it offline)
or takes the mock cluster down / up, then answers "done".

Nothing is skipped: a missing chromium, node or node_modules is a failure
(`make test` installs them)."""
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness
import kafka_util

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FIREFOX = os.environ.get("FIREFOX", "/usr/bin/firefox-esr")


def tool(name):
    return os.path.join(os.path.dirname(os.path.abspath(harness.sluice_bin())), name)


class Proc:
    """A child process whose stdout lines are read with a deadline; only
    its own PID is ever signalled."""

    def __init__(self, argv, log, **kw):
        self.log = open(log, "wb")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, **kw)
        self.buf = b""

    def wait_line(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.decode(errors="replace").startswith(prefix):
                    return line.decode()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r line within %.0fs" % (prefix, timeout))
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError("exited (%s) before a %r line"
                                         % (self.p.wait(5), prefix))
                self.buf += chunk

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.p.stdout.close()
        self.log.close()
        return self.p.returncode


class DemoStack:
    """mock + sluice (examples/demo.json on free ports) + analytics +
    devices; everything in one temp dir, stopped in reverse order."""

    def __init__(self, devices=6, victim=True):
        self.tmp = tempfile.mkdtemp(prefix="sluice-demo-")
        self.procs = []
        try:
            self._start(devices, victim)
        except BaseException:
            self.stop()
            raise

    def _start(self, devices, victim):
        self.mock = kafka_util.Mock()
        with open(os.path.join(ROOT, "examples", "demo.json")) as f:
            cfg = json.load(f)
        ports = set()
        while len(ports) < 3:
            ports.add(harness.free_port())
        self.mqtt, self.ws, self.http = sorted(ports)
        by = {"mqtt": self.mqtt, "ws": self.ws, "http": self.http}
        for l in cfg["listeners"]:
            l["bind"] = "127.0.0.1:%d" % by[l["protocol"]]
            if "static_dir" in l:
                l["static_dir"] = os.path.join(ROOT, l["static_dir"])
        cfg["kafka"]["bootstrap"] = self.mock.bootstrap
        cfg["data_dir"] = os.path.join(self.tmp, "data")
        path = os.path.join(self.tmp, "demo.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.sluice = Proc([harness.sluice_bin(), "-c", path], self.log("sluice"))
        self.procs.append(self.sluice)
        deadline = time.monotonic() + 15
        while not harness.port_open(self.http):
            if time.monotonic() > deadline or self.sluice.p.poll() is not None:
                raise AssertionError("sluice did not start: " + self.log_text("sluice"))
            time.sleep(0.05)
        self.analytics = self.spawn("analytics", [tool("sluice-analytics"), "-b",
                                                  self.mock.bootstrap, "-w", "30"])
        self.devices = self.spawn("devices", [tool("sluice-devices"), "-p", str(self.mqtt),
                                              "-n", str(devices), "--seed", "7"])
        self.devices.wait_line("READY", 20)
        if victim:
            self.victim = self.spawn("victim", [tool("sluice-devices"), "-p", str(self.mqtt),
                                                "-n", "1", "--prefix", "victim"])
            self.victim.wait_line("READY", 20)

    def log(self, name):
        return os.path.join(self.tmp, name + ".log")

    def log_text(self, name):
        with open(self.log(name), errors="replace") as f:
            return f.read()[-3000:]

    def spawn(self, name, argv):
        p = Proc(argv, self.log(name))
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            p.stop()
        if getattr(self, "mock", None):
            self.mock.close()
        if not os.environ.get("SLUICE_TEST_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


class ConsoleInBrowserTest(unittest.TestCase):
    def drive(self, stack, node, name, env, actions):
        """console_test.mjs until PASS or FAIL, doing what it NEEDs."""
        b = Proc([node, "console_test.mjs"], stack.log(name), cwd=BROWSER_DIR,
                 env=env, stdin=subprocess.PIPE)
        stack.procs.append(b)
        while True:
            line = b.wait_line("", 90)
            print(name, line, flush=True)
            if line.startswith("NEED "):
                actions[line[5:]]()
                b.p.stdin.write(b"done\n")
                b.p.stdin.flush()
            elif line.startswith(("PASS", "FAIL")):
                break
        self.assertEqual(line, "PASS", stack.log_text(name))
        self.assertEqual(b.p.wait(30), 0)

    def test_console_end_to_end(self):
        # a missing tool fails: `make test` installs all three
        self.assertTrue(os.access(CHROMIUM, os.X_OK), CHROMIUM + " missing: apt-get install chromium")
        self.assertTrue(os.access(FIREFOX, os.X_OK), FIREFOX + " missing: apt-get install firefox-esr")
        node = shutil.which("node")
        self.assertTrue(node, "node missing: apt-get install nodejs npm")
        self.assertTrue(os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "puppeteer-core")),
                        "tests/browser/node_modules missing: make browser-deps (npm ci)")
        shots = os.environ.get("SLUICE_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="sluice-shots-")
        os.makedirs(shots, exist_ok=True)
        stack = DemoStack()
        t0 = time.monotonic()
        try:
            url = "http://127.0.0.1:%d/?ws=ws://127.0.0.1:%d/mqtt" % (stack.http, stack.ws)
            env = dict(os.environ, CONSOLE_URL=url, SHOTS=shots, CHROMIUM=CHROMIUM, DEVICES="7")
            actions = {"kill-victim": lambda: stack.victim.stop(signal.SIGKILL),
                       "kafka-down": stack.mock.down, "kafka-up": stack.mock.up}
            self.drive(stack, node, "browser", env, actions)
            self.assertTrue(os.path.getsize(os.path.join(shots, "console.png")) > 10000)
            # the same page in Firefox (WebDriver BiDi): grid, a command
            # round trip and an analytics value, on the same stack
            # (the victim is offline by now: the six others are the grid)
            self.drive(stack, node, "firefox",
                       dict(env, BROWSER="firefox", FIREFOX=FIREFOX, QUICK="1", DEVICES="6"), {})
            print("browser test took %.1fs, screenshots in %s" % (time.monotonic() - t0, shots))
        finally:
            stack.stop()


if __name__ == "__main__":
    unittest.main()
