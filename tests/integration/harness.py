"""Start a broker (sluice, or Mosquitto with SLUICE_TEST_BROKER=mosquitto) on
free loopback ports, wait until it accepts connections, stop it by PID.

Environment:
  SLUICE_TEST_BROKER  "sluice" (default) or "mosquitto"
  SLUICE_BIN          path of the sluice binary (default: first existing
                      ../../build/sluice, ../../build-*/sluice)
  SLUICE_TEST_KEEP    keep temp dirs (debugging)
"""

import glob
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import rawmqtt

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
HOST = "127.0.0.1"
MOSQUITTO = "/usr/sbin/mosquitto"


def broker_kind():
    return os.environ.get("SLUICE_TEST_BROKER", "sluice").strip().lower()


def is_mosquitto():
    return broker_kind() == "mosquitto"


def sluice_bin():
    b = os.environ.get("SLUICE_BIN")
    if b:
        return b
    cands = [os.path.join(ROOT, "build", "sluice")]
    cands += sorted(glob.glob(os.path.join(ROOT, "build*", "sluice")))
    cands += sorted(glob.glob(os.path.join(ROOT, "build*", "broker", "sluice")))
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    return None


def parse_metrics(text):
    """Prometheus text as {name or name{labels}: value}; a value without
    a fraction is an int (counters and gauges), others float (histogram
    sums, seconds)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _sp, value = line.rpartition(" ")
        f = float(value)
        out[name] = int(f) if f.is_integer() and "." not in value else f
    return out


def free_port():
    """A port the kernel just handed out for 127.0.0.1 (bind to port 0)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port, timeout=0.2):
    try:
        s = socket.create_connection((HOST, port), timeout=timeout)
        s.close()
        return True
    except OSError:
        return False


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class BrokerError(Exception):
    pass


def close_quietly(clients):
    """Close each client, ignoring errors (its peer may be long gone)."""
    for c in clients:
        try:
            c.close()
        except Exception:
            pass


def fail_count(tc):
    """Failures and errors so far in the run of TestCase tc."""
    res = getattr(getattr(tc, "_outcome", None), "result", None)
    if res is None:
        return 0
    return len(res.failures) + len(res.errors)


def connected(c, ack, client_id):
    """c, with c.connack = ack, if that CONNACK accepted the connection;
    else close c and fail."""
    if ack.rc != 0:
        c.close()
        raise AssertionError("CONNACK rc %#x for %r: %r"
                             % (ack.rc, client_id, ack))
    c.connack = ack
    return c


class OwnProcess:
    """What every broker process the tests start has in common: self.proc
    (our Popen; its PID is the only one ever signalled), self.tmp (its temp
    dir), self.log_path and self._log (its stdout and stderr, appended to,
    open while it runs).  Every wait is bounded."""

    proc = None
    pid = None
    tmp = None
    log_path = None
    _log = None

    def _spawn(self, argv, cwd):
        """Start argv with its output appended to the log."""
        self._close_log()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=cwd)
        self.pid = self.proc.pid

    def _wait_listening(self, ports, timeout):
        """Wait until every port accepts connections.  BrokerError if the
        process exits first or takes longer than timeout (it is then
        killed)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BrokerError("broker exited with %s during start:\n%s" %
                                  (self.proc.returncode, self.log_tail()))
            if all(port_open(p) for p in ports):
                return
            if time.monotonic() > deadline:
                self.kill9()
                raise BrokerError("broker not listening on %s after %.0fs:\n%s"
                                  % (ports, timeout, self.log_tail()))
            time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20.0):
        """SIGTERM only our PID; kill9() if it does not exit in time.
        Returns the exit code (None if it had to be killed)."""
        rc = None
        if self.alive():
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        elif self.proc is not None:
            rc = self.proc.returncode
        self._close_log()
        return rc

    def kill9(self):
        """SIGKILL our PID (no chance to flush anything) and reap it."""
        if self.alive():
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self._close_log()

    def _close_log(self):
        if self._log:
            self._log.close()
            self._log = None

    def log_text(self):
        """All the process wrote so far ("" before it first ran)."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):  # TypeError: no log_path yet
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:]) or "(no log)"

    # What ASan, LSan, UBSan and TSan print first (`make sanitize`, `make
    # tsan`): any of them in a broker's log fails the test that ran it.
    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:", "WARNING: ThreadSanitizer",
                       "ThreadSanitizer:")

    def sanitizer_report(self):
        """The first sanitizer report in the log so far, or None."""
        text = self.log_text()
        hits = [i for i in (text.find(m) for m in self.SANITIZER_MARKS) if i >= 0]
        if not hits:
            return None
        i = min(hits)
        return text[max(0, i - 200):i + 4000]

    def cleanup(self):
        """kill9(), and remove the temp dir unless SLUICE_TEST_KEEP; then
        fail if the process printed a sanitizer report (a report is printed
        when found, so it is in the log even after a SIGKILL)."""
        self.kill9()
        report = self.sanitizer_report()
        if self.tmp and not os.environ.get("SLUICE_TEST_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        if report:
            raise AssertionError("sanitizer report from %s (pid %s):\n%s"
                                 % (type(self).__name__, self.pid, report))


class Broker(OwnProcess):
    """One broker process.  mqtt: overrides of the "mqtt" config section
    (sluice names: max_inflight, max_queued, sys_interval, max_packet_size)."""

    def __init__(self, mqtt=None, workers=2, ws=True, persistence=None):
        self.mqtt = {"max_inflight": 32, "max_queued": 1000,
                     "sys_interval": 1, "max_packet_size": 1048576}
        self.mqtt.update(mqtt or {})
        self.workers = workers
        self.want_ws = ws
        self.persistence = persistence or {"sync": "none"}
        self.kind = broker_kind()
        self.port = None
        self.ws_port = None

    # -- config
    def _write_config(self):
        if self.kind == "mosquitto":
            m = self.mqtt
            lines = [
                "per_listener_settings false",
                "allow_anonymous true",
                "persistence false",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "connection_messages true",
                "sys_interval %d" % m["sys_interval"],
                "max_inflight_messages %d" % m["max_inflight"],
                "max_queued_messages %d" % m["max_queued"],
                "max_packet_size %d" % m["max_packet_size"],
                "listener %d %s" % (self.port, HOST),
            ]
            if self.want_ws:
                lines += ["listener %d %s" % (self.ws_port, HOST),
                          "protocol websockets"]
            path = os.path.join(self.tmp, "mosquitto.conf")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
            return [MOSQUITTO, "-c", path]
        binary = sluice_bin()
        if not binary:
            raise BrokerError("no sluice binary: set SLUICE_BIN or build "
                              "build/sluice (or SLUICE_TEST_BROKER=mosquitto)")
        listeners = [{"protocol": "mqtt", "bind": "%s:%d" % (HOST, self.port)}]
        if self.want_ws:
            listeners.append({"protocol": "ws",
                              "bind": "%s:%d" % (HOST, self.ws_port),
                              "path": "/mqtt"})
        data_dir = os.path.join(self.tmp, "data")
        os.makedirs(data_dir, exist_ok=True)
        cfg = {"listeners": listeners, "data_dir": data_dir,
               "workers": self.workers, "node_id": "test",
               "mqtt": self.mqtt, "persistence": self.persistence}
        path = os.path.join(self.tmp, "sluice.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        return [binary, "-c", path]

    # -- lifecycle
    def start(self, timeout=15.0):
        last = None
        for _attempt in range(3):  # a picked port may be taken meanwhile
            try:
                self._start_once(timeout)
                return self
            except BrokerError as e:
                last = e
                self.stop()
                if "exited" not in str(e):
                    break
        raise last

    def _start_once(self, timeout):
        self.tmp = tempfile.mkdtemp(prefix="sluice-it-")
        self.port = free_port()
        self.ws_port = free_port() if self.want_ws else None
        while self.want_ws and self.ws_port == self.port:
            self.ws_port = free_port()
        self._launch(timeout)

    def restart(self, timeout=15.0):
        """Stop (SIGTERM) and start again on the same ports and data dir.
        Returns the exit code of the stop."""
        rc = self.stop()
        self._launch(timeout)
        return rc

    def _launch(self, timeout):
        argv = self._write_config()
        self.log_path = os.path.join(self.tmp, "broker.log")
        self._spawn(argv, self.tmp)
        ports = [self.port] + ([self.ws_port] if self.want_ws else [])
        self._wait_listening(ports, timeout)

    def rss_kb(self):
        return vmrss_kb(self.pid)

    def stop(self, timeout=10.0):
        """OwnProcess.stop, then look for a sanitizer report in the log."""
        rc = OwnProcess.stop(self, timeout)
        self._scan_sanitizer()
        return rc

    def _scan_sanitizer(self):
        """Under `make sanitize` the broker reports leaks and UB on its
        stderr at exit, under `make tsan` races when it sees them; keep the
        first report so the test class fails."""
        if not getattr(self, "first_report", None):
            self.first_report = self.sanitizer_report()

    # -- clients
    def raw(self, ws=False, path="/mqtt", timeout=rawmqtt.DEFAULT_TIMEOUT,
            cls=rawmqtt.RawClient):
        """A new raw client (cls: RawClient or a subclass)."""
        if ws:
            return cls(self.ws_port, ws=True, path=path, timeout=timeout)
        return cls(self.port, timeout=timeout)

    def client(self, client_id="", clean=True, keepalive=60, level=4,
               ws=False, will=None):
        """A raw client that has connected and got CONNACK rc 0."""
        c = self.raw(ws=ws)
        return connected(c, c.connect(client_id, clean, keepalive, level,
                                      will=will), client_id)


class BrokerTestCase(unittest.TestCase):
    """One broker per test class (started in setUpClass).  After each test
    the broker must still be running; on failure its log tail is printed."""

    broker_mqtt = None   # overrides of the mqtt config section
    broker_workers = 2
    broker_ws = True
    broker_persistence = None  # e.g. {"sync": "batch"}; default: memory only

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(cls.broker_mqtt, cls.broker_workers,
                            cls.broker_ws, cls.broker_persistence).start()
        cls._clients = []

    @classmethod
    def tearDownClass(cls):
        b = cls.broker
        rc = b.stop()
        bad_exit = rc not in (0, None) and rc != -signal.SIGTERM
        if bad_exit:
            sys.stderr.write("\n--- broker exited with %s on SIGTERM; log:\n%s\n"
                             % (rc, b.log_tail()))
        report = getattr(b, "first_report", None)
        try:
            b.cleanup()
        except AssertionError:
            pass  # the same report, raised below with the exit code's context
        if report:
            raise AssertionError("sanitizer report from the broker:\n" + report)
        if bad_exit:
            raise AssertionError("broker exited with %s on SIGTERM" % rc)

    def setUp(self):
        self._fails_before = fail_count(self)
        self._my_clients = []

    def tearDown(self):
        close_quietly(self._my_clients)
        alive = self.broker.alive()
        if fail_count(self) != self._fails_before or not alive:
            sys.stderr.write("\n--- %s: broker (%s, pid %d) log tail:\n%s\n---\n"
                             % (self.id(), self.broker.kind, self.broker.pid,
                                self.broker.log_tail()))
        if not alive:
            rc = self.broker.proc.returncode
            report = self.broker.sanitizer_report()  # TSan halt_on_error: exit 66
            if report:
                sys.stderr.write("\n--- sanitizer report:\n%s\n" % report)
            # restart so that later tests in the class can still run
            type(self).broker = Broker(self.broker_mqtt, self.broker_workers,
                                       self.broker_ws, self.broker_persistence).start()
            self.fail("broker died during the test (exit %s)" % rc)

    # helpers -----------------------------------------------------------
    def raw(self, ws=False, path="/mqtt"):
        c = self.broker.raw(ws=ws, path=path)
        self._my_clients.append(c)
        return c

    def client(self, client_id="", clean=True, keepalive=60, level=4,
               ws=False, will=None):
        c = self.broker.client(client_id, clean, keepalive, level, ws, will)
        self._my_clients.append(c)
        return c

    def uid(self, prefix="c"):
        """A client id / topic component unique to this test."""
        Broker._seq = getattr(Broker, "_seq", 0) + 1
        return "%s-%d-%d" % (prefix, os.getpid(), Broker._seq)

    def assertServes(self):
        """A fresh normal client can connect, subscribe and get a message."""
        t = self.uid("alive")
        s = self.client(self.uid("sub"))
        self.assertEqual(s.subscribe([(t, 1)]), [1])
        p = self.client(self.uid("pub"))
        p.publish(t, b"still-here", qos=1)
        m = s.recv_publish()
        self.assertEqual((m.topic, m.payload), (t, b"still-here"))
        s.disconnect()
        p.disconnect()

    def skipForMosquitto(self, reason):
        if is_mosquitto():
            self.skipTest("mosquitto: " + reason)


# ---------------------------------------------------------------- paho

def paho_client(port, client_id="", clean=True, ws=False, protocol=None,
                timeout=5.0):
    """A connected paho client running its network loop in a thread.
    Received messages go to client.messages (a queue.Queue)."""
    import paho.mqtt.client as mqtt
    proto = protocol or mqtt.MQTTv311
    c = mqtt.Client(client_id=client_id, clean_session=clean, protocol=proto,
                    transport="websockets" if ws else "tcp")
    if ws:
        c.ws_set_options(path="/mqtt")
    c.messages = queue.Queue()
    connected = threading.Event()
    c.connack_rc = None
    c.suback = queue.Queue()
    c.puback = queue.Queue()

    def on_connect(cl, ud, flags, rc):
        c.connack_rc = rc
        connected.set()

    def on_message(cl, ud, msg):
        c.messages.put(msg)

    def on_subscribe(cl, ud, mid, granted):
        c.suback.put((mid, granted))

    def on_publish(cl, ud, mid):
        c.puback.put(mid)

    c.on_connect = on_connect
    c.on_message = on_message
    c.on_subscribe = on_subscribe
    c.on_publish = on_publish
    c.connect(HOST, port, keepalive=30)
    return paho_started(c, connected, timeout)


def paho_started(c, connected, timeout, what="paho"):
    """Start paho client c's network loop and wait until its on_connect
    set the Event connected with c.connack_rc 0; returns c."""
    c.loop_start()
    if not connected.wait(timeout):
        c.loop_stop()
        raise AssertionError("%s: no CONNACK within %.0fs" % (what, timeout))
    if c.connack_rc != 0:
        c.loop_stop()
        raise AssertionError("%s: CONNACK rc %s" % (what, c.connack_rc))
    return c


def paho_subscribe(c, topic, qos, timeout=5.0):
    rc, mid = c.subscribe(topic, qos)
    assert rc == 0, rc
    got_mid, granted = c.suback.get(timeout=timeout)
    assert got_mid == mid, (got_mid, mid)
    return granted


def paho_stop(c):
    try:
        c.disconnect()
    finally:
        c.loop_stop()


class ConfigBroker(OwnProcess):
    """sluice started from a JSON config written by the test (for
    listeners the Broker class does not make: tls, http); data_dir (in the
    temp dir) and persistence "none" unless the config says otherwise.
    Kills only its own PID; the temp dir goes with stop()."""

    def __init__(self, make_config, timeout=15.0):
        self.tmp = tempfile.mkdtemp(prefix="sluice-cfg-")
        cfg, self.ports = make_config(self.tmp)
        cfg.setdefault("data_dir", os.path.join(self.tmp, "data"))
        cfg.setdefault("persistence", {"sync": "none"})
        path = os.path.join(self.tmp, "sluice.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.log_path = os.path.join(self.tmp, "log")
        self._spawn([sluice_bin(), "-c", path], None)
        try:
            self._wait_listening(self.ports, timeout)
        except BrokerError:
            self.stop()
            raise

    def stop(self, timeout=10.0):
        """Returns the exit code (-SIGKILL if it had to be killed); fails
        if sluice printed a sanitizer report (its log goes with the dir)."""
        OwnProcess.stop(self, timeout)
        report = self.sanitizer_report()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if report:
            raise AssertionError("sanitizer report from sluice:\n" + report)
        return self.proc.returncode

    def stop_clean(self):
        """Stop; fail unless sluice exited cleanly on SIGTERM."""
        rc = self.stop()
        if rc not in (0, -signal.SIGTERM):
            raise AssertionError("sluice exited with %s" % rc)

