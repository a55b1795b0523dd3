"""Helpers for the Kafka bridge tests, test_kafka_*.py (issue 6).

- Mock: the standalone librdkafka mock cluster (build/sluice-kafka-mock),
  a separate process so that sluice can be kill -9'd and restarted while
  Kafka keeps its data.  Commands on stdin: down, up, rtt MS,
  topic NAME PARTITIONS; topics can also be created at start.
- KBroker: one sluice process with a full JSON config (listeners, node_id,
  data_dir, persistence, kafka, bridge), stop / kill -9 (own PID only) /
  restart on the same port and data dir; `sluice dlq list|replay`.
- kcat helpers: consume a topic binary-safe (key, value, headers in order),
  produce records with keys and headers.
- Pipelined raw MQTT publisher (3.1.1 or 5) that records, per packet id,
  when and with which reason code it was acknowledged; independent of the
  broker's codec and of rawmqtt's blocking reads.

Every wait is bounded.  Environment:
  SLUICE_BIN          sluice binary (see harness.sluice_bin)
  SLUICE_KAFKA_MOCK   sluice-kafka-mock binary (default: next to sluice)
  SLUICE_TEST_KEEP    keep temp dirs
"""

import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import harness
import raw5
import rawmqtt

HOST = harness.HOST
KCAT = shutil.which("kcat") or "/usr/bin/kcat"


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def mock_bin():
    b = os.environ.get("SLUICE_KAFKA_MOCK")
    if b:
        return b
    s = harness.sluice_bin()
    if s:
        c = os.path.join(os.path.dirname(s), "sluice-kafka-mock")
        if os.path.isfile(c):
            return c
    return None


def require_tools(tc):
    """Skip (not fail) when a tool is missing: kcat, mock, sluice."""
    if not harness.sluice_bin():
        raise unittest.SkipTest("no sluice binary")
    if not mock_bin():
        raise unittest.SkipTest("no sluice-kafka-mock binary")
    if not os.path.exists(KCAT):
        raise unittest.SkipTest("kcat not installed")


def wait_until(pred, timeout, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(step)


# ---------------------------------------------------------------- mock

class Mock:
    """sluice-kafka-mock as a child process (only this PID is ever killed).
    topics: names or (name, partitions) pairs created before it answers
    (a bare name: 4 partitions)."""

    def __init__(self, brokers=1, topics=()):
        argv = [mock_bin(), "--brokers", str(brokers)]
        for t in topics:
            name, parts = (t, 4) if isinstance(t, str) else t
            argv += ["--topic", "%s:%d" % (name, parts)]
        self.proc = subprocess.Popen(argv,
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        line = self._line(10.0)
        if not line.startswith("BOOTSTRAP "):
            self.close()
            raise AssertionError("mock said %r" % line)
        self.bootstrap = line.split()[1]

    def _line(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            raise AssertionError("mock: no output within %.0fs" % timeout)
        return self.proc.stdout.readline().decode().strip()

    def cmd(self, c):
        self.proc.stdin.write((c + "\n").encode())
        self.proc.stdin.flush()
        ans = self._line(5.0)
        if ans != "OK":
            raise AssertionError("mock %r -> %r" % (c, ans))

    def down(self):
        self.cmd("down")

    def up(self):
        self.cmd("up")

    def rtt(self, ms):
        self.cmd("rtt %d" % ms)

    def topic(self, name, partitions):
        self.cmd("topic %s %d" % (name, partitions))

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()   # EOF: it exits
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()


# ---------------------------------------------------------------- broker

class KBroker(harness.OwnProcess):
    """A sluice process with a Kafka bridge.  bridge: the "bridge" section;
    kafka_props: kafka.properties; bootstrap None = no kafka section."""

    def __init__(self, bootstrap, bridge=None, kafka_props=None,
                 node_id="kt1", sync="always", mqtt=None, workers=2,
                 extra_args=()):
        self.tmp = tempfile.mkdtemp(prefix="sluice-kafka-")
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.bootstrap = bootstrap
        self.bridge = bridge or {}
        self.kafka_props = kafka_props
        self.node_id = node_id
        self.sync = sync
        self.mqtt = {"sys_interval": 1, "max_inflight": 32,
                     "max_queued": 1000}
        self.mqtt.update(mqtt or {})
        self.workers = workers
        self.extra_args = list(extra_args)
        self.port = harness.free_port()
        self.log_path = os.path.join(self.tmp, "broker.log")
        self.cfg_path = os.path.join(self.tmp, "sluice.json")

    def config(self):
        cfg = {"listeners": [{"protocol": "mqtt",
                              "bind": "%s:%d" % (HOST, self.port)}],
               "data_dir": self.data_dir, "workers": self.workers,
               "node_id": self.node_id, "mqtt": self.mqtt,
               "persistence": {"sync": self.sync}}
        if self.bootstrap is not None or self.kafka_props:
            k = {}
            if self.bootstrap is not None:
                k["bootstrap"] = self.bootstrap
            if self.kafka_props:
                k["properties"] = self.kafka_props
            cfg["kafka"] = k
        if self.bridge:
            cfg["bridge"] = self.bridge
        return cfg

    def write_config(self):
        with open(self.cfg_path, "w") as f:
            json.dump(self.config(), f, indent=1)
        return self.cfg_path

    def start(self, timeout=15.0):
        for attempt in range(3):
            try:
                self._launch(timeout)
                return self
            except harness.BrokerError as e:
                self.kill9()
                if "exited" not in str(e) or attempt == 2:
                    raise
                self.new_ports()  # a port taken meanwhile?

    def new_ports(self):
        self.port = harness.free_port()

    def _launch(self, timeout):
        self.write_config()
        self._spawn([harness.sluice_bin(), "-c", self.cfg_path]
                    + self.extra_args, self.tmp)
        self._wait_listening([self.port], timeout)

    def restart(self, timeout=15.0):
        self.stop()
        return self.start(timeout)

    def run(self, args, timeout=30.0):
        """Run `sluice -c CFG args...` to completion (broker stopped).
        Returns (rc, stdout, stderr) as text."""
        self.write_config()
        p = subprocess.run([harness.sluice_bin(), "-c", self.cfg_path] + args,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout, cwd=self.tmp)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    # clients
    def client(self, client_id, clean=True, level=4):
        c = rawmqtt.RawClient(self.port)
        return harness.connected(c, c.connect(client_id, clean, 60, level),
                                 client_id)

    def client5(self, client_id, clean=True, props=None):
        c = raw5.Client5(self.port)
        return harness.connected(c, c.connect(client_id, clean, 60, props),
                                 client_id)


class KafkaCase(unittest.TestCase):
    """Per-test mock cluster and brokers; everything started is torn down,
    and on failure the broker logs are printed."""

    mock_brokers = 1

    @classmethod
    def setUpClass(cls):
        require_tools(cls)

    def setUp(self):
        self.mock = Mock(self.mock_brokers)
        self.brokers = []
        self.clients = []

    def broker(self, bridge, start=True, **kw):
        b = KBroker(kw.pop("bootstrap", self.mock.bootstrap), bridge, **kw)
        self.brokers.append(b)
        if start:
            b.start()
        return b

    def tearDown(self):
        harness.close_quietly(self.clients)
        failed = harness.fail_count(self) > 0
        for b in self.brokers:
            if failed:
                log("\n--- %s: sluice log (%s):\n%s\n---"
                    % (self.id(), b.tmp, b.log_tail(60)))
            b.stop(10)
            b.cleanup()
        self.mock.close()


# ---------------------------------------------------------------- kcat

class Record:
    def __init__(self, topic, partition, offset, ts, key, value, headers):
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.ts = ts
        self.key = key          # bytes or None
        self.value = value      # bytes or None
        self.headers = headers  # list of (name, value str)

    def header(self, name, default=None):
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def __repr__(self):
        return "<Record %s[%d]@%d key=%r value=%r headers=%r>" % (
            self.topic, self.partition, self.offset, self.key,
            (self.value or b"")[:40], self.headers)


# A record in kcat's -f format: the lengths come first so that keys and
# payloads may hold any byte; headers are read separately with -J.
_FMT = r"@@%p %o %T %K %S\n%k%s\n"


def _run_kcat(args, timeout):
    try:
        p = subprocess.run([KCAT] + args, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        log("kcat %s: no end within %.0fs; stderr: %r" % (
            " ".join(args), timeout, (e.stderr or b"")[-400:]))
        raise
    return p.stdout


def consume(bootstrap, topic, timeout=20.0):
    """Every record currently in topic (all partitions), sorted by
    (partition, offset).  Binary-safe key and value; headers from -J."""
    base = ["-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
            "-X", "topic.metadata.refresh.interval.ms=1000"]
    raw = _run_kcat(base + ["-f", _FMT], timeout)
    recs = {}
    i = 0
    while i < len(raw):
        if raw[i:i + 2] != b"@@":
            raise AssertionError("kcat output out of sync at %d: %r"
                                 % (i, raw[i:i + 60]))
        nl = raw.index(b"\n", i)
        p, o, ts, kl, sl = (int(x) for x in raw[i + 2:nl].split())
        j = nl + 1
        key = None if kl < 0 else raw[j:j + kl]
        j += max(kl, 0)
        val = None if sl < 0 else raw[j:j + sl]
        j += max(sl, 0)
        assert raw[j:j + 1] == b"\n", raw[j:j + 20]
        i = j + 1
        recs[(p, o)] = Record(topic, p, o, ts, key, val, [])
    js = _run_kcat(base + ["-J"], timeout)
    for line in js.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        r = recs.get((d["partition"], d["offset"]))
        if r is None:
            continue
        h = d.get("headers") or []
        if isinstance(h, dict):
            h = [x for kv in h.items() for x in kv]
        r.headers = [(h[k], h[k + 1]) for k in range(0, len(h) - 1, 2)]
    return [recs[k] for k in sorted(recs)]


def wait_records(bootstrap, topic, pred, timeout, what=None):
    """consume() until pred(records) is true; returns the records."""
    deadline = time.monotonic() + timeout
    last = []
    while True:
        try:
            last = consume(bootstrap, topic, timeout=8.0)
        except subprocess.TimeoutExpired:
            pass
        if pred(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError("Kafka topic %r: %s not reached after %.0fs; "
                                 "%d records there" % (topic, what or "condition",
                                                       timeout, len(last)))
        time.sleep(0.3)


def wait_count(bootstrap, topic, n, timeout):
    return wait_records(bootstrap, topic, lambda r: len(r) >= n, timeout,
                        ">= %d records" % n)


def produce(bootstrap, topic, records, timeout=20.0, partition=None):
    """records: list of (key, value, headers dict or list of pairs).
    One kcat per distinct header set (kcat -H applies to all its records).
    Keys and values must not contain the delimiters (\\x1f, \\x1e).
    partition: write them all there (default: kcat's partitioner)."""
    groups = []
    for k, v, h in records:
        hl = tuple(h.items() if isinstance(h, dict) else (h or ()))
        if groups and groups[-1][0] == hl:
            groups[-1][1].append((k, v))
        else:
            groups.append((hl, [(k, v)]))
    for hl, recs in groups:
        args = ["-P", "-b", bootstrap, "-t", topic, "-K", "\x1f", "-D",
                "\x1e", "-q"]
        if partition is not None:
            args += ["-p", str(partition)]
        for n, v in hl:
            args += ["-H", "%s=%s" % (n, v)]
        data = b"".join(
            (k.encode() if isinstance(k, str) else k) + b"\x1f" +
            (v.encode() if isinstance(v, str) else v) + b"\x1e"
            for k, v in recs)
        p = subprocess.run([KCAT] + args, input=data, capture_output=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise AssertionError("kcat -P failed: %s" % p.stderr[-500:])


# ---------------------------------------------------------------- MQTT

def publish_packet(topic, payload, qos, pid, v5=False, retain=False):
    """A PUBLISH (MQTT 5: with no properties)."""
    if v5:
        return raw5.publish5(topic, payload, qos, retain, pid=pid)
    return rawmqtt.publish(topic, payload, qos, retain, pid=pid)


class Publisher:
    """A raw pipelined MQTT publisher on its own socket (non-blocking, one
    thread): send() queues PUBLISHes, pump() moves bytes both ways and
    records each PUBACK: self.acks[pid] = (monotonic time, reason code)."""

    def __init__(self, port, client_id, v5=False, clean=True):
        self.v5 = v5
        self.sock = rawmqtt.TcpTransport(HOST, port, timeout=5).sock
        if v5:
            self.sock.sendall(raw5.connect5(client_id, clean, 60))
        else:
            self.sock.sendall(rawmqtt.connect(client_id, clean, 60))
        self.sock.setblocking(False)
        self.inbuf = b""
        self.out = b""
        self.acks = {}
        self.sent_at = {}
        self.others = []
        self.closed = False
        self.connack = None
        deadline = time.monotonic() + 5
        while self.connack is None:
            if time.monotonic() > deadline:
                raise AssertionError("no CONNACK")
            self.pump(0.1)
        if self.connack[1] != 0:
            raise AssertionError("CONNACK rc %d" % self.connack[1])

    def send(self, pkt, pid=None):
        self.out += pkt
        if pid is not None:
            self.sent_at[pid] = time.monotonic()
        self.pump(0)

    def pump(self, timeout):
        if self.closed:
            time.sleep(timeout)
            return
        w = [self.sock] if self.out else []
        r, wr, _ = select.select([self.sock], w, [], timeout)
        if wr:
            try:
                n = self.sock.send(self.out)
                self.out = self.out[n:]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self.closed = True
        if r:
            try:
                d = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                d = None
            except OSError:
                d = b""
            if d == b"":
                self.closed = True
            elif d:
                self.inbuf += d
                self._parse()

    def _parse(self):
        while True:
            got = rawmqtt.split_packet(self.inbuf)
            if got is None:
                return
            first_byte, body, size = got
            t = first_byte >> 4
            self.inbuf = self.inbuf[size:]
            if t == rawmqtt.CONNACK:
                self.connack = (body[0], body[1])
            elif t == rawmqtt.PUBACK:
                pid = struct.unpack("!H", body[:2])[0]
                rc = body[2] if len(body) > 2 else 0
                self.acks[pid] = (time.monotonic(), rc)
            else:
                self.others.append((t, body))

    def pump_until(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return False
            self.pump(min(left, 0.05))
        return True

    def unsent(self):
        return len(self.out)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


def publish_all(port, client_id, msgs, qos=1, window=20, v5=False,
                timeout=30.0):
    """Publish msgs [(topic, payload)] in order with at most `window`
    unacknowledged; returns the Publisher (acks by pid = index + 1)."""
    p = Publisher(port, client_id, v5)
    deadline = time.monotonic() + timeout
    for i, (t, pl) in enumerate(msgs):
        pid = i + 1
        ok = p.pump_until(lambda: pid - 1 - len(p.acks) < window,
                          deadline - time.monotonic())
        if not ok:
            raise AssertionError("publisher stalled: %d of %d acked"
                                 % (len(p.acks), len(msgs)))
        p.send(publish_packet(t, pl, qos, pid, v5), pid)
    if qos:
        if not p.pump_until(lambda: len(p.acks) >= len(msgs),
                            deadline - time.monotonic()):
            raise AssertionError("only %d of %d PUBACKs within %.0fs"
                                 % (len(p.acks), len(msgs), timeout))
    else:
        p.pump_until(lambda: not p.out, 5)
    return p


class Collector:
    """A subscriber on a raw 3.1.1 connection, read by a thread; acks
    QoS 1, collects (topic, payload) in arrival order."""

    def __init__(self, port, client_id, filters, clean=True, qos=1):
        self.c = rawmqtt.RawClient(port)
        ack = self.c.connect(client_id, clean, 60)
        if ack.rc != 0:
            raise AssertionError("CONNACK rc %d" % ack.rc)
        self.session_present = ack.session_present
        if filters:
            g = self.c.subscribe([(f, qos) for f in filters])
            if any(x >= 0x80 for x in g):
                raise AssertionError("SUBACK %r" % g)
        self.msgs = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.stop_ev.is_set():
            try:
                p = self.c.recv_packet(0.2)
            except rawmqtt.Timeout:
                continue
            except Exception:
                return
            if p.type == rawmqtt.PUBLISH:
                if p.qos == 1:
                    self.c.try_send(rawmqtt.puback(p.pid))
                with self.lock:
                    self.msgs.append((p.topic, bytes(p.payload)))

    def snapshot(self):
        with self.lock:
            return list(self.msgs)

    def wait(self, pred, timeout, what="messages"):
        return wait_until(lambda: pred(self.snapshot()), timeout,
                          what=what)

    def close(self, disconnect=True):
        self.stop_ev.set()
        self.th.join(2)
        if disconnect:
            self.c.disconnect()
        else:
            self.c.close()


def sys_counters(port, timeout=4.0):
    """$SYS/broker/kafka/* values (ints) as retained/published within
    timeout."""
    c = rawmqtt.RawClient(port)
    c.connect("kt-sys-%d-%d" % (os.getpid(), int(time.time() * 1000)), True)
    c.subscribe([("$SYS/broker/kafka/#", 0)])
    vals = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            p = c.recv_packet(max(0.01, deadline - time.monotonic()))
        except (rawmqtt.Timeout, rawmqtt.Closed):
            break
        if p.type == rawmqtt.PUBLISH:
            name = p.topic[len("$SYS/broker/kafka/"):]
            try:
                vals[name] = int(p.payload)
            except ValueError:
                vals[name] = p.payload
    c.disconnect()
    return vals
