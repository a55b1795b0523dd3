"""Helpers for the persistence (crash/restart) tests, test_persist_*.py.

harness.Broker always writes "persistence": {"sync": "none"} and makes a
fresh temp dir per start, so these tests use PBroker: one broker whose config
(data_dir, persistence.sync, flush_ms) the test chooses, which is restarted on
the same port and data dir, and which can run `sluice --repair -c CONFIG`.
Stopping and kill -9 (only its own PID) are harness.OwnProcess's.

Also here: MQTT 5 helpers for a rawmqtt (3.1.1) client (packets from raw5,
read back with the properties still in front of the payload), a pipelined
publisher that records exactly which PUBLISHes were acknowledged, and a
receiver loop that completes QoS 1/2 flows and records what was delivered.

Every wait is bounded.  Environment:
  SLUICE_BIN           the broker binary (see harness.sluice_bin)
  SLUICE_PERSIST_SEED  seed for the kill points (default: time-based; printed)
  SLUICE_TEST_KEEP     keep temp dirs
"""

import errno
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.request

import harness
import raw5
import rawmqtt
from rawmqtt import (PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, CONNACK,
                     SUBACK)

HOST = harness.HOST


def seed(tag):
    """The seed of a randomized test: SLUICE_PERSIST_SEED or time-based.
    Printed so that a failing run can be replayed."""
    s = os.environ.get("SLUICE_PERSIST_SEED")
    s = int(s) if s else int(time.time() * 1000) % 1000000007
    sys.stderr.write("\n[%s] seed %d (replay: SLUICE_PERSIST_SEED=%d)\n"
                     % (tag, s, s))
    return s


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def dir_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# ---------------------------------------------------------------- broker

class PBroker(harness.OwnProcess):
    """A sluice process with a chosen persistence config and a data dir
    that outlives restarts.  kill9() and stop() touch only our own PID."""

    def __init__(self, sync="always", flush_ms=100, mqtt=None, workers=2,
                 data_dir=None):
        self.tmp = tempfile.mkdtemp(prefix="sluice-persist-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.sync = sync
        self.flush_ms = flush_ms
        self.workers = workers
        self.mqtt = {"max_inflight": 32, "max_queued": 100000,
                     "sys_interval": 0, "max_packet_size": 1048576}
        self.mqtt.update(mqtt or {})
        self.port = None
        self.http_port = None
        self.log_path = os.path.join(self.tmp, "broker.log")
        self.cfg_path = os.path.join(self.tmp, "sluice.json")
        self.binary = harness.sluice_bin()
        if not self.binary:
            raise harness.BrokerError("no sluice binary: set SLUICE_BIN")

    def write_config(self):
        if self.http_port is None:  # a test that chose the MQTT port itself
            self.http_port = harness.free_port()
        cfg = {"listeners": [{"protocol": "mqtt",
                              "bind": "%s:%d" % (HOST, self.port)},
                             {"protocol": "http",
                              "bind": "%s:%d" % (HOST, self.http_port)}],
               "data_dir": self.data_dir, "workers": self.workers,
               "node_id": "persist", "mqtt": self.mqtt,
               "persistence": {"sync": self.sync,
                               "flush_ms": self.flush_ms}}
        with open(self.cfg_path, "w") as f:
            json.dump(cfg, f, indent=1)

    # -- lifecycle
    def start(self, timeout=30.0):
        """Start (or start again after kill9/stop) on the same port and
        data dir.  If the port was taken meanwhile, pick another one."""
        if self.alive():
            raise harness.BrokerError("already running")
        if self.port is None:
            self.port = harness.free_port()
            self.http_port = harness.free_port()
        for _attempt in range(3):
            self.write_config()
            try:
                self._launch(timeout)
                return self
            except harness.BrokerError as e:
                if "in use" not in str(e):
                    raise
                self.port = harness.free_port()
                self.http_port = harness.free_port()
        raise harness.BrokerError("no free port after 3 attempts")

    def _launch(self, timeout):
        with open(self.log_path, "ab") as f:
            f.write(b"=== start %s\n" % time.strftime("%H:%M:%S").encode())
        self._spawn([self.binary, "-c", self.cfg_path], self.tmp)
        self._wait_listening([self.port, self.http_port], timeout)

    def start_expect_exit(self, timeout=30.0):
        """Start and expect the broker to exit by itself (e.g. corrupt
        database).  Returns (exit code, log of this start).  If it is
        still running after timeout, kill it and return (None, log)."""
        self.write_config()
        start_len = os.path.getsize(self.log_path) \
            if os.path.exists(self.log_path) else 0
        self._spawn([self.binary, "-c", self.cfg_path], self.tmp)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            rc = None
        self._close_log()
        with open(self.log_path, "rb") as f:
            f.seek(start_len)
            out = f.read().decode("utf-8", "replace")
        return rc, out

    def run(self, args, timeout=60.0):
        """Run the binary with extra args (e.g. ["--repair"]) and this
        config; returns (exit code, combined output)."""
        self.write_config()
        p = subprocess.run([self.binary] + list(args) + ["-c", self.cfg_path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, cwd=self.tmp,
                           timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    # -- the committed sequence (docs/ARCHITECTURE.md, "Persistence")
    def metrics(self):
        """/metrics as {name: int}."""
        url = "http://%s:%d/metrics" % (HOST, self.http_port)
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        return harness.parse_metrics(text)

    def store_seq(self):
        """(submitted, committed) batch numbers of the store."""
        m = self.metrics()
        return (m["sluice_store_submitted_total"],
                m["sluice_store_committed_total"])

    def settle(self, timeout=10.0):
        """Wait until every store batch submitted so far is committed
        (written: a kill -9 no longer loses it).  Call it at a point where
        the writes of interest were certainly submitted: after the CONNACK
        or SUBACK that follows them, or after the broker closed the
        connection (see disconnect())."""
        target, committed = self.store_seq()
        deadline = time.monotonic() + timeout
        while committed < target:
            if time.monotonic() > deadline:
                raise AssertionError("store committed %d < submitted %d "
                                     "after %.0fs" % (committed, target,
                                                      timeout))
            time.sleep(0.01)   # polling a counter, bounded above
            committed = self.store_seq()[1]
        return committed

    def disconnect(self, c, timeout=10.0):
        """Send DISCONNECT on c and wait for the broker to close it: the
        broker submits the session's close records before the EOF."""
        c.try_send(rawmqtt.disconnect())
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                c.close()
                raise AssertionError("broker did not close after DISCONNECT")
            try:
                c.recv_packet(left)
            except rawmqtt.Closed:
                break
            except rawmqtt.Timeout:
                continue
        c.close()

    def disconnect_settled(self, c, timeout=10.0):
        """disconnect(c), then settle(): its session is on disk."""
        self.disconnect(c, timeout)
        return self.settle(timeout)

    def sentinel(self, topic, qos=1):
        """Publish a sentinel to topic from a fresh clean client and wait
        until the broker took it (PUBACK, or PUBREC..PUBCOMP); returns its
        payload.  A session's deliveries of one QoS leave in order (re-sent
        in-flight ones, then its queue, then live ones: MQTT 4.6 orders per
        topic *and QoS*, and with sync "always" a QoS 2 delivery waits for
        its record while QoS 1 does not), so "nothing else of that QoS
        arrived before the sentinel" proves a negative without a fixed
        wait.  Use the QoS of the messages the assertion is about."""
        self._sentinels = getattr(self, "_sentinels", 0) + 1
        payload = b"sentinel-%d-%d" % (os.getpid(), self._sentinels)
        p = self.client("sentinel-%d-%d" % (os.getpid(), self._sentinels))
        try:
            # a 3.1.1 publisher: any subscriber's version can read it
            p.send(rawmqtt.publish(topic, payload, qos=qos, pid=1))
            if qos == 2:
                p.wait_for(PUBREC, pid=1, timeout=10)
                p.send(rawmqtt.pubrel(1))
                p.wait_for(PUBCOMP, pid=1, timeout=10)
            else:
                p.wait_for(PUBACK, pid=1, timeout=10)
        finally:
            p.close()
        return payload

    def data_size(self):
        return dir_size(self.data_dir)

    # -- clients
    def raw(self, timeout=rawmqtt.DEFAULT_TIMEOUT):
        return rawmqtt.RawClient(self.port, timeout=timeout)

    def client(self, client_id, clean=True, keepalive=60, level=4,
               present=None):
        """A 3.1.1 raw client that got CONNACK rc 0 (and, if present is
        given, that session-present value)."""
        c = self.raw()
        ack = c.connect(client_id, clean, keepalive, level)
        return self._accepted(c, ack, client_id, present)

    def client5(self, client_id, clean=True, expiry=0, keepalive=60,
                present=None):
        """An MQTT 5 raw client (packets decoded as 3.1.1: see v5_payload)
        that got CONNACK reason 0 (and, if given, that session present)."""
        c = self.raw()
        expiry_prop = [(raw5.SESSION_EXPIRY, expiry)] if expiry else None
        c.send(raw5.connect5(client_id, clean, keepalive, expiry_prop))
        return self._accepted(c, c.expect(CONNACK), client_id, present)

    def _accepted(self, c, ack, client_id, present):
        harness.connected(c, ack, client_id)
        if present is not None and ack.session_present != present:
            c.close()
            raise AssertionError(
                "%r: CONNACK session present %d, want %d (log:\n%s)"
                % (client_id, ack.session_present, present,
                   self.log_tail(15)))
        return c


class PersistCase:
    """Mixin for unittest.TestCase: self.brokers() makes PBrokers that are
    killed and removed after the test; their log tail is printed if the
    test failed."""

    def setUp(self):
        self._pbrokers = []
        self._pclients = []
        self._pfails = harness.fail_count(self)
        self.addCleanup(self._pcleanup)

    def broker(self, **kw):
        b = PBroker(**kw)
        self._pbrokers.append(b)
        return b

    def track(self, c):
        self._pclients.append(c)
        return c

    def _pcleanup(self):
        harness.close_quietly(self._pclients)
        failed = harness.fail_count(self) != self._pfails
        for b in self._pbrokers:
            if failed:
                log("--- %s: broker log (%s):\n%s\n---"
                    % (self.id(), b.log_path, b.log_tail()))
            b.cleanup()


# ---------------------------------------------------------------- MQTT 5

def publish5(topic, payload=b"", qos=0, retain=False, dup=False, pid=1,
             msg_expiry=None):
    """raw5.publish5 with an optional Message Expiry Interval."""
    props = None
    if msg_expiry is not None:
        props = [(raw5.MESSAGE_EXPIRY, msg_expiry)]
    return raw5.publish5(topic, payload, qos, retain, dup, pid, props)


def v5_payload(p):
    """Payload of an MQTT 5 PUBLISH parsed by rawmqtt (3.1.1 layout: the
    properties are still in front of the payload)."""
    n, i = rawmqtt.read_varint(p.payload, 0)
    return p.payload[i + n:]


def v5_reason(p):
    """Reason code of an MQTT 5 PUBACK/PUBREC/... (0 when omitted)."""
    return p.body[2] if len(p.body) > 2 else 0


def subscribe5_ok(c, filters, pid=1):
    """Subscribe with filters [(filter, options byte)]; the SUBACK codes."""
    c.send(raw5.subscribe5(pid, filters))
    ack = c.wait_for(SUBACK, pid=pid)
    if len(ack.body) <= 2:
        return []
    return raw5.Packet5(ack.first_byte, ack.body).codes


# ---------------------------------------------------------------- flows

def next_packet(flow, timeout):
    """The next packet on flow.c, or None on timeout or at EOF (which sets
    flow.closed)."""
    try:
        return flow.c.recv_packet(timeout)
    except rawmqtt.Timeout:
        return None
    except rawmqtt.Closed:
        flow.closed = True
        return None


class PipelinedPublisher:
    """Publishes messages over one raw connection with up to `window`
    unacknowledged, recording which were acknowledged (PUBACK for QoS 1,
    PUBREC for QoS 2 - the point at which the broker has taken
    responsibility).  Packet id i+1 is message i, so N <= 65535."""

    def __init__(self, client, topic, payloads, qos=1, window=64,
                 level=4, retain=False):
        """topic: one topic, or a list with one topic per payload."""
        assert len(payloads) <= 65535
        self.c = client
        self.topics = topic if isinstance(topic, list) \
            else [topic] * len(payloads)
        self.retain = retain
        self.payloads = payloads
        self.qos = qos
        self.window = window
        self.level = level
        self.acked = set()       # indexes acknowledged (PUBACK / PUBREC)
        self.completed = set()   # QoS 2: PUBCOMP received
        self.refused = {}        # index -> reason (MQTT 5 PUBACK >= 0x80)
        self.sent = 0
        self.closed = False
        self._done = set()       # indexes whose flow has ended

    def _outstanding(self):
        return self.sent - len(self._done)

    def _handle(self, p):
        i = (p.pid or 0) - 1
        if not 0 <= i < len(self.payloads):
            return
        reason = v5_reason(p) if self.level == 5 else 0
        if p.type == PUBACK and self.qos == 1:
            if reason >= 0x80:
                self.refused[i] = reason
            else:
                self.acked.add(i)
            self._done.add(i)
        elif p.type == PUBREC and self.qos == 2:
            if reason >= 0x80:
                self.refused[i] = reason
                self._done.add(i)
                return
            self.acked.add(i)
            self.c.try_send(rawmqtt.pubrel(p.pid))
        elif p.type == PUBCOMP and self.qos == 2:
            self.completed.add(i)
            self._done.add(i)

    def _readable(self):
        if self.c.backlog:
            return True
        p = self.c._parse_one()    # a complete packet already buffered?
        if p is not None:
            self.c.backlog.append(p)
            return True
        try:
            r, _w, _x = select.select([self.c.t.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(r)

    def _read(self, timeout):
        """Handle one packet; False on timeout; sets closed on EOF."""
        p = next_packet(self, timeout)
        if p is None:
            return False
        self._handle(p)
        return True

    def run(self, stop_after=None, on_stop=None, timeout=120.0):
        """Send messages [sent, N).  When `stop_after` messages have been
        sent, call on_stop() (e.g. kill the broker) and then collect what
        is already in the socket until EOF.  Otherwise wait until every
        message is acknowledged (completed for QoS 2)."""
        deadline = time.monotonic() + timeout
        n = len(self.payloads)
        while self.sent < n and not self.closed:
            if time.monotonic() > deadline:
                raise AssertionError("publisher: timeout after %d sent, %d "
                                     "acked" % (self.sent, len(self.acked)))
            if stop_after is not None and self.sent >= stop_after:
                break
            if self._outstanding() < self.window:
                i = self.sent
                if self.level == 5:
                    pkt = publish5(self.topics[i], self.payloads[i],
                                   self.qos, self.retain, pid=i + 1)
                else:
                    pkt = rawmqtt.publish(self.topics[i], self.payloads[i],
                                          self.qos, self.retain, pid=i + 1)
                if not self.c.try_send(pkt):
                    self.closed = True
                    break
                self.sent += 1
                # take whatever already arrived, without waiting
                while self._readable() and self._read(0.05):
                    pass
            else:
                self._read(min(1.0, max(0.01, deadline - time.monotonic())))
        if stop_after is not None and on_stop is not None:
            on_stop()
            # the broker is gone: read acks still in our socket until EOF
            end = time.monotonic() + 10
            while not self.closed and time.monotonic() < end:
                self._read(0.5)
            return self
        while self._outstanding() > 0 and not self.closed:
            if time.monotonic() > deadline:
                raise AssertionError("publisher: %d unacknowledged at the "
                                     "end" % self._outstanding())
            self._read(1.0)
        return self


class Receiver:
    """Reads PUBLISHes on a raw connection and completes the receiver side
    of QoS 1 (PUBACK) and QoS 2 (PUBREC, then PUBCOMP on PUBREL).  A QoS 2
    PUBLISH whose packet id awaits PUBREL is a retransmission, not a new
    delivery (MQTT-4.3.3); everything else is appended to `delivered`.
    With ack=False nothing is acknowledged (for in-flight tests)."""

    def __init__(self, client, level=4, ack=True):
        self.c = client
        self.level = level
        self.ack = ack
        self.delivered = []     # (payload, packet)
        self.packets = []       # every packet, in order
        self.awaiting_rel = set()
        self.closed = False
        self.seen = set()       # distinct payloads delivered
        self.swallowed = []     # QoS 2 PUBLISH for an id awaiting PUBREL
        self.want = None
        self.missing = 0

    def reattach(self, client):
        """Continue on a new connection of the same session: the QoS 2
        ids awaiting PUBREL are session state and stay (MQTT-4.3.3)."""
        self.c = client
        self.closed = False
        return self

    def payload(self, p):
        return v5_payload(p) if self.level == 5 else p.payload

    def step(self, timeout):
        """Handle one packet; False on timeout; sets closed on EOF."""
        p = next_packet(self, timeout)
        if p is None:
            return False
        self.packets.append(p)
        if p.type == PUBLISH:
            if p.qos == 2 and p.pid in self.awaiting_rel:
                # retransmission of a message we already took
                self.swallowed.append((self.payload(p), p))
            else:
                pl = self.payload(p)
                self.delivered.append((pl, p))
                if pl not in self.seen:
                    self.seen.add(pl)
                    if self.want is not None and pl in self.want:
                        self.missing -= 1
            if self.ack:
                if p.qos == 1:
                    self.c.try_send(rawmqtt.puback(p.pid))
                elif p.qos == 2:
                    self.awaiting_rel.add(p.pid)
                    self.c.try_send(rawmqtt.pubrec(p.pid))
        elif p.type == PUBREL and self.ack:
            self.awaiting_rel.discard(p.pid)
            self.c.try_send(rawmqtt.pubcomp(p.pid))
        return True

    def until(self, done=None, quiet=1.0, timeout=60.0):
        """Read until done(self) is true and then nothing arrives for
        `quiet` s (or, without done, until quiet), bounded by timeout."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            if done is not None and not done(self):
                self.step(min(1.0, max(0.01, deadline - time.monotonic())))
                continue
            if not self.step(quiet):
                break
        return self

    def until_all(self, want, quiet=1.0, timeout=60.0):
        """Read until every payload in want was delivered, then until
        quiet (bounded by timeout)."""
        self.want = set(want)
        self.missing = len(self.want - self.seen)
        return self.until(lambda rv: rv.missing <= 0, quiet, timeout)

    def until_sentinel(self, payload, timeout=60.0):
        """Read (completing flows) until the sentinel payload arrives
        (PBroker.sentinel): everything delivered before it is in
        `delivered`, and nothing else was pending.  The sentinel itself is
        left out of `delivered` and `packets`."""
        deadline = time.monotonic() + timeout
        while payload not in self.seen:
            left = deadline - time.monotonic()
            if self.closed or left <= 0:
                raise AssertionError("sentinel %r not delivered (closed=%s); "
                                     "got %r" % (payload, self.closed,
                                                 self.payloads()))
            self.step(min(1.0, left))
        self.delivered = [d for d in self.delivered if d[0] != payload]
        self.packets = [p for p in self.packets
                        if not (p.type == PUBLISH
                                and self.payload(p) == payload)]
        return self

    def payloads(self):
        return [pl for pl, _p in self.delivered]


def ping(c, timeout=10.0):
    """PINGREQ, then wait for the PINGRESP (other packets stay in c's
    backlog): everything c sent before was handled by the broker, in order
    (e.g. a PUBACK, whose store write is then submitted)."""
    c.send(rawmqtt.pingreq())
    c.wait_for(rawmqtt.PINGRESP, timeout=timeout)


def before_sentinel(c, payload, level=4, timeout=10.0):
    """Packets c receives before the PUBLISH carrying the sentinel payload
    (PBroker.sentinel), which is acknowledged; fails if it does not
    come within timeout."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("sentinel %r not delivered; before it: %r"
                                 % (payload, got))
        p = c.recv_packet(left)
        if p.type == PUBLISH:
            pl = v5_payload(p) if level == 5 else p.payload
            if pl == payload:
                if p.qos == 1:
                    c.try_send(rawmqtt.puback(p.pid))
                elif p.qos == 2:
                    c.try_send(rawmqtt.pubrec(p.pid))
                return got
        got.append(p)


def is_root():
    return os.geteuid() == 0


def mount_tmpfs(path, size="4m"):
    """Mount a small tmpfs at path; returns None or the reason it failed."""
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size,
                            "tmpfs", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if r.returncode != 0:
        return r.stdout.decode("utf-8", "replace").strip() or \
            "mount exit %d" % r.returncode
    return None


def umount(path):
    for args in (["umount", path], ["umount", "-l", path]):
        try:
            r = subprocess.run(args, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=20)
            if r.returncode == 0:
                return True
        except (OSError, subprocess.TimeoutExpired):
            pass
    return False


def fill_file(path, limit):
    """Write zeros to path until ENOSPC or `limit` bytes; returns bytes
    written."""
    n = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while n < limit:
            try:
                n += f.write(chunk[:min(len(chunk), limit - n)])
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
    return n
