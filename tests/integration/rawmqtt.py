"""A tiny raw-byte MQTT 3.1/3.1.1 client, written from the specification and
independent of the broker's codec.  Packets are built by hand so that tests can
send exactly the bytes they want, including hostile ones.

Every read is bounded by a timeout; nothing here blocks forever.
"""

import base64
import hashlib
import os
import socket
import struct
import time

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = (
    8, 9, 10, 11, 12, 13, 14)

NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
         6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK",
         10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
         14: "DISCONNECT"}

DEFAULT_TIMEOUT = 5.0


class Closed(Exception):
    """The peer closed the connection."""


class Timeout(Exception):
    """Nothing (complete) arrived in time."""


# ---------------------------------------------------------------- encoding

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def mstr(s):
    if isinstance(s, str):
        s = s.encode("utf-8")
    return struct.pack("!H", len(s)) + s


def packet(first_byte, body):
    return bytes([first_byte]) + varint(len(body)) + body


def connect(client_id="", clean=True, keepalive=60, proto_name="MQTT",
            level=4, will=None, username=None, password=None, flags=None):
    """will = (topic, payload, qos, retain).  flags overrides the computed
    connect-flags byte (for hostile tests)."""
    f = 0
    if clean:
        f |= 0x02
    payload = mstr(client_id)
    if will is not None:
        wt, wp, wq, wr = will
        f |= 0x04 | (wq << 3) | (0x20 if wr else 0)
        if isinstance(wp, str):
            wp = wp.encode()
        payload += mstr(wt) + struct.pack("!H", len(wp)) + wp
    if username is not None:
        f |= 0x80
        payload += mstr(username)
    if password is not None:
        f |= 0x40
        if isinstance(password, str):
            password = password.encode()
        payload += struct.pack("!H", len(password)) + password
    if flags is not None:
        f = flags
    body = mstr(proto_name) + bytes([level, f]) + struct.pack("!H", keepalive)
    return packet(0x10, body + payload)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None):
    if isinstance(payload, str):
        payload = payload.encode()
    fb = 0x30 | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    body = mstr(topic)
    if qos > 0:
        body += struct.pack("!H", 1 if pid is None else pid)
    return packet(fb, body + payload)


def subscribe(pid, filters):
    """filters: list of (filter, qos)."""
    body = struct.pack("!H", pid)
    for flt, q in filters:
        body += mstr(flt) + bytes([q])
    return packet(0x82, body)


def unsubscribe(pid, filters):
    body = struct.pack("!H", pid)
    for flt in filters:
        body += mstr(flt)
    return packet(0xA2, body)


def puback(pid):
    return packet(0x40, struct.pack("!H", pid))


def pubrec(pid):
    return packet(0x50, struct.pack("!H", pid))


def pubrel(pid):
    return packet(0x62, struct.pack("!H", pid))


def pubcomp(pid):
    return packet(0x70, struct.pack("!H", pid))


def pingreq():
    return b"\xc0\x00"


def disconnect():
    return b"\xe0\x00"


# ---------------------------------------------------------------- decoding

def read_varint(b, i):
    """The variable byte integer at b[i]: (value, index after it).
    IndexError if b ends first; ValueError if it is longer than 4 bytes."""
    mult, val = 1, 0
    for _ in range(4):
        c = b[i]
        i += 1
        val += (c & 0x7F) * mult
        mult *= 128
        if not c & 0x80:
            return val, i
    raise ValueError("variable byte integer over 4 bytes from broker")


def split_packet(buf):
    """The first complete packet in buf as (first byte, body, its size on
    the wire), or None while buf does not hold one yet.  ValueError for a
    remaining length longer than 4 bytes."""
    try:
        n, i = read_varint(buf, 1)
    except IndexError:
        return None
    if len(buf) < i + n:
        return None
    return buf[0], buf[i:i + n], i + n


class PacketBase:
    """A received packet: fixed header and body, and the fields every MQTT
    version decodes alike.  Packet (3.1.1) and raw5.Packet5 decode the rest."""

    def __init__(self, first_byte, body):
        self.first_byte = first_byte
        self.type = first_byte >> 4
        self.flags = first_byte & 0x0F
        self.body = body
        # PUBLISH fields
        self.topic = None
        self.payload = None
        self.pid = None
        self.qos = None
        self.retain = None
        self.dup = None

    def decode_publish_header(self):
        """Set qos, retain, dup, topic and pid of a PUBLISH; returns the
        index in body after them (3.1.1: the payload; 5.0: properties)."""
        self.qos = (self.flags >> 1) & 3
        self.retain = bool(self.flags & 1)
        self.dup = bool(self.flags & 8)
        tl = struct.unpack("!H", self.body[:2])[0]
        self.topic = self.body[2:2 + tl].decode("utf-8", "replace")
        i = 2 + tl
        if self.qos > 0:
            self.pid = struct.unpack("!H", self.body[i:i + 2])[0]
            i += 2
        return i


class Packet(PacketBase):
    def __init__(self, first_byte, body):
        PacketBase.__init__(self, first_byte, body)
        if self.type == PUBLISH:
            self.payload = body[self.decode_publish_header():]
        elif self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK,
                           SUBACK) and len(body) >= 2:
            self.pid = struct.unpack("!H", body[:2])[0]

    # CONNACK
    @property
    def session_present(self):
        return bool(self.body[0] & 1)

    @property
    def rc(self):
        return self.body[1]

    # SUBACK
    @property
    def granted(self):
        return list(self.body[2:])

    def __repr__(self):
        if self.type == PUBLISH:
            return ("<PUBLISH topic=%r qos=%d retain=%d dup=%d pid=%r "
                    "payload=%r>" % (self.topic, self.qos, self.retain,
                                     self.dup, self.pid, self.payload[:60]))
        return "<%s flags=%x body=%s>" % (NAMES.get(self.type, self.type),
                                          self.flags, self.body[:40].hex())


# ---------------------------------------------------------------- transports

class TcpTransport:
    def __init__(self, host, port, timeout=DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data):
        self.sock.sendall(data)

    def recv(self, timeout):
        """Some bytes; b'' on EOF; raises socket.timeout."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with RST-free plain close (no DISCONNECT sent)."""
        self.close()


class TlsTransport(TcpTransport):
    """MQTT over TLS (mqtts): TCP wrapped by ctx, an ssl.SSLContext the
    test made (one thread per client: an SSL object is not shared)."""

    def __init__(self, host, port, ctx, timeout=DEFAULT_TIMEOUT):
        TcpTransport.__init__(self, host, port, timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")


class WsTransport:
    """A minimal RFC 6455 client: HTTP upgrade with Sec-WebSocket-Protocol:
    mqtt, masked binary frames out, unmasked frames in."""

    def __init__(self, host, port, path="/mqtt", timeout=DEFAULT_TIMEOUT,
                 subprotocol="mqtt"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n" % (path, host, port, key))
        if subprotocol:
            req += "Sec-WebSocket-Protocol: %s\r\n" % subprotocol
        req += "\r\n"
        try:
            self._upgrade(req, host, port, key, timeout)
        except Exception:
            self.sock.close()
            raise

    def _upgrade(self, req, host, port, key, timeout):
        self.sock.sendall(req.encode())
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no HTTP upgrade response")
            self.sock.settimeout(left)
            d = self.sock.recv(4096)
            if not d:
                raise Closed("closed during upgrade: %r" % buf)
            buf += d
        head, self._raw = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.expected_accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        self._msg = b""      # payload of a fragmented message in progress
        self.pongs = []
        self.closed_by_peer = False

    def frame(self, payload, opcode=2, fin=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            hdr = bytes([b0, 0x80 | n])
        elif n < 65536:
            hdr = bytes([b0, 0x80 | 126]) + struct.pack("!H", n)
        else:
            hdr = bytes([b0, 0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        return hdr + mask + masked

    def send(self, data):
        self.sock.sendall(self.frame(data))

    def send_frames(self, chunks, opcode=2, fragmented=False):
        """Send chunks as separate frames.  fragmented=True makes them one
        WebSocket message (first frame opcode, continuation frames after)."""
        out = b""
        for i, c in enumerate(chunks):
            if fragmented:
                op = opcode if i == 0 else 0
                out += self.frame(c, op, fin=(i == len(chunks) - 1))
            else:
                out += self.frame(c, opcode)
        self.sock.sendall(out)

    def send_raw(self, data):
        self.sock.sendall(data)

    def _parse_frames(self):
        """Consume complete frames from self._raw; return app bytes."""
        out = b""
        while True:
            r = self._raw
            if len(r) < 2:
                return out
            op = r[0] & 0x0F
            fin = r[0] & 0x80
            masked = r[1] & 0x80
            n = r[1] & 0x7F
            off = 2
            if n == 126:
                if len(r) < 4:
                    return out
                n = struct.unpack("!H", r[2:4])[0]
                off = 4
            elif n == 127:
                if len(r) < 10:
                    return out
                n = struct.unpack("!Q", r[2:10])[0]
                off = 10
            mask = None
            if masked:
                if len(r) < off + 4:
                    return out
                mask = r[off:off + 4]
                off += 4
            if len(r) < off + n:
                return out
            pl = r[off:off + n]
            if mask:
                pl = bytes(c ^ mask[i % 4] for i, c in enumerate(pl))
            self._raw = r[off + n:]
            if op in (0, 1, 2):
                self._msg += pl
                if fin:
                    out += self._msg
                    self._msg = b""
            elif op == 9:  # ping
                self.pongs.append(pl)
                try:
                    self.sock.sendall(self.frame(pl, 10))
                except OSError:
                    pass
            elif op == 10:
                self.pongs.append(pl)
            elif op == 8:
                self.closed_by_peer = True
                return out

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.closed_by_peer:
                return b""
            out = self._parse_frames()
            if out:
                return out
            if self.closed_by_peer:
                return b""
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(max(left, 0.001))
            try:
                d = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return b""
            if not d:
                return b""
            self._raw += d

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    abort = close


# ---------------------------------------------------------------- client

class RawClient:
    # what raw5.Client5 replaces to speak MQTT 5.0
    packet_class = Packet   # how received packets are decoded
    unsubscribe_packet = staticmethod(unsubscribe)

    def __init__(self, port, host="127.0.0.1", ws=False, path="/mqtt",
                 timeout=DEFAULT_TIMEOUT, tls=None):
        if tls is not None:
            self.t = TlsTransport(host, port, tls, timeout)
        elif ws:
            self.t = WsTransport(host, port, path, timeout)
            if self.t.status != 101:
                self.t.close()
                raise Closed("websocket upgrade refused: %s" %
                             self.t.status_line)
        else:
            self.t = TcpTransport(host, port, timeout)
        self.buf = b""
        self.eof = False
        self.backlog = []  # packets read while waiting for something else

    # -- sending
    def send(self, data):
        self.t.send(data)

    def try_send(self, data):
        """Send, returning False if the connection is already gone."""
        try:
            self.t.send(data)
            return True
        except OSError:
            return False

    # -- receiving
    def _parse_one(self):
        """The next complete packet buffered (None if there is none yet);
        p.wire_size is its size with the fixed header."""
        got = split_packet(self.buf)
        if got is None:
            return None
        first_byte, body, size = got
        p = self.packet_class(first_byte, body)
        p.wire_size = size
        self.buf = self.buf[size:]
        return p

    def recv_packet(self, timeout=DEFAULT_TIMEOUT):
        """Next packet; raises Timeout or Closed."""
        if self.backlog:
            return self.backlog.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            p = self._parse_one()
            if p is not None:
                return p
            if self.eof:
                raise Closed("connection closed (pending bytes %r)" %
                             self.buf[:20])
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("no packet within %.1fs" % timeout)
            try:
                d = self.t.recv(left)
            except socket.timeout:
                raise Timeout("no packet within %.1fs" % timeout) from None
            except OSError as e:
                d = b""
            if not d:
                self.eof = True
            else:
                self.buf += d

    def expect(self, ptype, timeout=DEFAULT_TIMEOUT):
        """Next packet, which must be of type ptype (AssertionError else)."""
        p = self.recv_packet(timeout)
        if p.type != ptype:
            raise AssertionError("expected %s, got %r" % (NAMES[ptype], p))
        return p

    def wait_for(self, ptype, timeout=DEFAULT_TIMEOUT, pid=None):
        """Read until a packet of type ptype (and pid) arrives; others are
        kept in the backlog, in order."""
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout("no %s within %.1fs (skipped %r)" % (
                        NAMES[ptype], timeout, skipped))
                p = self.recv_packet(left)
                if p.type == ptype and (pid is None or p.pid == pid):
                    return p
                skipped.append(p)
        finally:
            self.backlog = skipped + self.backlog

    def no_packet(self, timeout):
        """True if nothing arrives within timeout; raises Closed if the
        connection closes meanwhile."""
        try:
            p = self.recv_packet(timeout)
        except Timeout:
            return True
        self.backlog.insert(0, p)
        return False

    def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        """Read until EOF.  Returns the list of packets received before the
        close; raises Timeout if the connection is still open."""
        got = []
        deadline = time.monotonic() + timeout
        got.extend(self.backlog)
        self.backlog = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("connection still open after %.1fs, got %r" %
                              (timeout, got))
            try:
                got.append(self.recv_packet(left))
            except Closed:
                return got
            except Timeout:
                raise Timeout("connection still open after %.1fs, got %r" %
                              (timeout, got)) from None
            except ValueError:
                # garbage from the broker; keep reading until EOF
                self.buf = b""

    def is_closed(self, timeout=DEFAULT_TIMEOUT):
        try:
            self.wait_closed(timeout)
            return True
        except Timeout:
            return False

    # -- conveniences
    def connect(self, client_id="", clean=True, keepalive=60, level=4,
                proto_name=None, will=None, timeout=DEFAULT_TIMEOUT, **kw):
        if proto_name is None:
            proto_name = "MQIsdp" if level == 3 else "MQTT"
        self.send(connect(client_id, clean, keepalive, proto_name, level,
                          will, **kw))
        return self.expect(CONNACK, timeout)

    def subscribe(self, filters, pid=1, timeout=DEFAULT_TIMEOUT):
        if isinstance(filters, str):
            filters = [(filters, 0)]
        self.send(subscribe(pid, filters))
        p = self.wait_for(SUBACK, timeout, pid=pid)
        return p.granted

    def unsubscribe(self, filters, pid=1, timeout=DEFAULT_TIMEOUT):
        if isinstance(filters, str):
            filters = [filters]
        self.send(self.unsubscribe_packet(pid, filters))
        return self.wait_for(UNSUBACK, timeout, pid=pid)

    def publish(self, topic, payload=b"", qos=0, retain=False, pid=1,
                timeout=DEFAULT_TIMEOUT):
        """Publish and complete the QoS flow as sender."""
        self.send(publish(topic, payload, qos, retain, pid=pid))
        if qos == 1:
            self.wait_for(PUBACK, timeout, pid=pid)
        elif qos == 2:
            self.wait_for(PUBREC, timeout, pid=pid)
            self.send(pubrel(pid))
            self.wait_for(PUBCOMP, timeout, pid=pid)

    def recv_publish(self, timeout=DEFAULT_TIMEOUT, ack=True):
        """Next PUBLISH; with ack, complete the receiver side of the flow
        (PUBACK, or PUBREC + wait PUBREL + PUBCOMP)."""
        p = self.wait_for(PUBLISH, timeout)
        if ack:
            self.ack(p, timeout)
        return p

    def ack(self, p, timeout=DEFAULT_TIMEOUT):
        if p.qos == 1:
            self.send(puback(p.pid))
        elif p.qos == 2:
            self.send(pubrec(p.pid))
            rel = self.wait_for(PUBREL, timeout, pid=p.pid)
            if rel.first_byte != 0x62:
                raise AssertionError("PUBREL fixed header %#x, want 0x62" %
                                     rel.first_byte)
            self.send(pubcomp(p.pid))

    def disconnect(self):
        self.try_send(disconnect())
        self.close()

    def close(self):
        self.t.close()

    abort = close
