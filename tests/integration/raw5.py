"""Raw-byte MQTT 5.0 helpers for the black-box tests, written from the OASIS
MQTT 5.0 standard and independent of the broker's codec (and of paho).

Properties are kept as an ordered list of (identifier, value) pairs so that
tests can send duplicates, forbidden ones, or any order they like, and can
check order and duplicates of what comes back.

Also: Client5 (a RawClient speaking 5.0), M5TestCase (BrokerTestCase with
5.0 helpers) and a small paho MQTTv5 wrapper.
"""

import queue
import struct
import threading
import time
import unittest

import harness
import rawmqtt
from rawmqtt import (CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL,
                     PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK,
                     PINGREQ, PINGRESP, DISCONNECT, Closed, Timeout,
                     DEFAULT_TIMEOUT, varint, mstr, packet, read_varint)

AUTH = 15
NAMES = dict(rawmqtt.NAMES)
NAMES[AUTH] = "AUTH"

# ---------------------------------------------------------------- properties

PAYLOAD_FORMAT = 0x01
MESSAGE_EXPIRY = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_ID = 0x0B
SESSION_EXPIRY = 0x11
ASSIGNED_CLIENT_ID = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTH_METHOD = 0x15
AUTH_DATA = 0x16
REQUEST_PROBLEM_INFO = 0x17
WILL_DELAY = 0x18
REQUEST_RESPONSE_INFO = 0x19
RESPONSE_INFO = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUB_AVAILABLE = 0x28
SUB_ID_AVAILABLE = 0x29
SHARED_SUB_AVAILABLE = 0x2A

# identifier -> wire type
PROP_TYPES = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin",
    0x0B: "varint", 0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str",
    0x16: "bin", 0x17: "byte", 0x18: "u32", 0x19: "byte", 0x1A: "str",
    0x1C: "str", 0x1F: "str", 0x21: "u16", 0x22: "u16", 0x23: "u16",
    0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32", 0x28: "byte",
    0x29: "byte", 0x2A: "byte",
}

# reason codes
RC_SUCCESS = 0x00
RC_NO_MATCHING_SUBSCRIBERS = 0x10
RC_UNSPECIFIED = 0x80
RC_MALFORMED = 0x81
RC_PROTOCOL_ERROR = 0x82
RC_BAD_AUTH_METHOD = 0x8C
RC_KEEP_ALIVE_TIMEOUT = 0x8D
RC_SESSION_TAKEN_OVER = 0x8E
RC_RECEIVE_MAX_EXCEEDED = 0x93
RC_TOPIC_ALIAS_INVALID = 0x94
RC_PACKET_TOO_LARGE = 0x95
RC_QUOTA_EXCEEDED = 0x97
RC_PAYLOAD_FORMAT_INVALID = 0x99
RC_RETAIN_NOT_SUPPORTED = 0x9A


def encode_prop(pid, value):
    t = PROP_TYPES[pid]
    out = bytes([pid])
    if t == "byte":
        return out + bytes([value])
    if t == "u16":
        return out + struct.pack("!H", value)
    if t == "u32":
        return out + struct.pack("!I", value)
    if t == "varint":
        return out + varint(value)
    if t in ("str", "bin"):
        return out + mstr(value)
    if t == "pair":
        k, v = value
        return out + mstr(k) + mstr(v)
    raise ValueError(t)


def encode_props(props):
    """props: list of (identifier, value), or None.  Returns the property
    length varint followed by the properties, in the given order."""
    body = b"".join(encode_prop(p, v) for p, v in (props or []))
    return varint(len(body)) + body


class Props:
    """Decoded properties: an ordered list of (identifier, value)."""

    def __init__(self, items=None):
        self.items = list(items or [])

    def get(self, pid, default=None):
        for p, v in self.items:
            if p == pid:
                return v
        return default

    def all(self, pid):
        return [v for p, v in self.items if p == pid]

    def __contains__(self, pid):
        return any(p == pid for p, _ in self.items)

    @property
    def user(self):
        return self.all(USER_PROPERTY)

    def __repr__(self):
        return "Props(%r)" % self.items


def decode_props(b, i):
    """Properties starting at b[i] (the length varint).  Returns (Props,
    index after them)."""
    n, i = read_varint(b, i)
    end = i + n
    items = []
    while i < end:
        pid = b[i]
        i += 1
        t = PROP_TYPES.get(pid)
        if t is None:
            raise ValueError("unknown property %#x from broker" % pid)
        if t == "byte":
            v = b[i]
            i += 1
        elif t == "u16":
            v = struct.unpack("!H", b[i:i + 2])[0]
            i += 2
        elif t == "u32":
            v = struct.unpack("!I", b[i:i + 4])[0]
            i += 4
        elif t == "varint":
            v, i = read_varint(b, i)
        elif t in ("str", "bin"):
            ln = struct.unpack("!H", b[i:i + 2])[0]
            v = bytes(b[i + 2:i + 2 + ln])
            i += 2 + ln
            if t == "str":
                v = v.decode("utf-8")
        else:  # pair
            ln = struct.unpack("!H", b[i:i + 2])[0]
            k = bytes(b[i + 2:i + 2 + ln]).decode("utf-8")
            i += 2 + ln
            ln = struct.unpack("!H", b[i:i + 2])[0]
            v = (k, bytes(b[i + 2:i + 2 + ln]).decode("utf-8"))
            i += 2 + ln
        items.append((pid, v))
    if i != end:
        raise ValueError("property length mismatch from broker")
    return Props(items), end


# ---------------------------------------------------------------- encoding

def connect5(client_id="", clean=True, keepalive=60, props=None, will=None,
             username=None, password=None, flags=None, level=5):
    """will = (topic, payload, qos, retain, will_props)."""
    f = 0x02 if clean else 0
    payload = mstr(client_id)
    if will is not None:
        wt, wp, wq, wr = will[:4]
        wprops = will[4] if len(will) > 4 else None
        f |= 0x04 | (wq << 3) | (0x20 if wr else 0)
        payload += encode_props(wprops) + mstr(wt) + mstr(wp)
    if username is not None:
        f |= 0x80
        payload += mstr(username)
    if password is not None:
        f |= 0x40
        payload += mstr(password)
    if flags is not None:
        f = flags
    body = (mstr("MQTT") + bytes([level, f]) + struct.pack("!H", keepalive)
            + encode_props(props))
    return packet(0x10, body + payload)


def publish5(topic, payload=b"", qos=0, retain=False, dup=False, pid=None,
             props=None):
    """The 3.1.1 PUBLISH with the properties in front of the payload."""
    if isinstance(payload, str):
        payload = payload.encode()
    return rawmqtt.publish(topic, encode_props(props) + payload, qos, retain,
                           dup, pid)


def subopts(qos=0, no_local=False, rap=False, rh=0):
    return qos | (0x04 if no_local else 0) | (0x08 if rap else 0) | (rh << 4)


def subscribe5(pid, filters, props=None):
    """filters: list of (filter, options byte) (see subopts)."""
    body = struct.pack("!H", pid) + encode_props(props)
    for flt, o in filters:
        body += mstr(flt) + bytes([o])
    return packet(0x82, body)


def unsubscribe5(pid, filters, props=None):
    body = struct.pack("!H", pid) + encode_props(props)
    for flt in filters:
        body += mstr(flt)
    return packet(0xA2, body)


def ack5(ptype, pid, rc=0, props=None):
    fb = {PUBACK: 0x40, PUBREC: 0x50, PUBREL: 0x62, PUBCOMP: 0x70}[ptype]
    body = struct.pack("!H", pid)
    if rc or props:
        body += bytes([rc])
        if props:
            body += encode_props(props)
    return packet(fb, body)


def disconnect5(rc=0, props=None):
    body = b""
    if rc or props:
        body = bytes([rc])
        if props:
            body += encode_props(props)
    return packet(0xE0, body)


def auth5(rc=0x18, props=None):
    return packet(0xF0, bytes([rc]) + encode_props(props))


# ---------------------------------------------------------------- decoding

class Packet5(rawmqtt.PacketBase):
    def __init__(self, first_byte, body):
        rawmqtt.PacketBase.__init__(self, first_byte, body)
        self.rc = None
        self.props = Props()
        self.codes = None
        self.session_present = None
        t = self.type
        if t == CONNACK:
            self.session_present = bool(body[0] & 1)
            self.rc = body[1]
            if len(body) > 2:
                self.props, _ = decode_props(body, 2)
        elif t == PUBLISH:
            i = self.decode_publish_header()
            self.props, i = decode_props(body, i)
            self.payload = bytes(body[i:])
        elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
            self.pid = struct.unpack("!H", body[:2])[0]
            self.rc = body[2] if len(body) > 2 else 0
            if len(body) > 3:
                self.props, _ = decode_props(body, 3)
        elif t in (SUBACK, UNSUBACK):
            self.pid = struct.unpack("!H", body[:2])[0]
            self.props, i = decode_props(body, 2)
            self.codes = list(body[i:])
        elif t in (DISCONNECT, AUTH):
            self.rc = body[0] if len(body) > 0 else 0
            if len(body) > 1:
                self.props, _ = decode_props(body, 1)

    # paho-like conveniences
    @property
    def user(self):
        return self.props.user

    @property
    def granted(self):
        return self.codes

    def __repr__(self):
        if self.type == PUBLISH:
            return ("<PUBLISH topic=%r qos=%d retain=%d dup=%d pid=%r props=%r "
                    "payload=%r>" % (self.topic, self.qos, self.retain,
                                     self.dup, self.pid, self.props.items,
                                     self.payload[:60]))
        extra = ""
        if self.rc is not None:
            extra += " rc=%#x" % self.rc
        if self.pid is not None:
            extra += " pid=%d" % self.pid
        if self.codes is not None:
            extra += " codes=%r" % self.codes
        if self.props.items:
            extra += " props=%r" % self.props.items
        return "<%s%s>" % (NAMES.get(self.type, self.type), extra)


# ---------------------------------------------------------------- client

class Client5(rawmqtt.RawClient):
    """RawClient that decodes MQTT 5.0 packets (Packet5)."""

    packet_class = Packet5
    unsubscribe_packet = staticmethod(unsubscribe5)

    def connect(self, client_id="", clean=True, keepalive=60, props=None,
                will=None, timeout=DEFAULT_TIMEOUT, **kw):
        self.send(connect5(client_id, clean, keepalive, props, will, **kw))
        return self.expect(CONNACK, timeout)

    def subscribe(self, filters, pid=1, props=None, timeout=DEFAULT_TIMEOUT):
        """filters: str, or list of (filter, options byte).  Returns the
        SUBACK reason codes."""
        if isinstance(filters, str):
            filters = [(filters, 0)]
        self.send(subscribe5(pid, filters, props))
        return self.wait_for(SUBACK, timeout, pid=pid).codes

    def publish(self, topic, payload=b"", qos=0, retain=False, pid=1,
                props=None, timeout=DEFAULT_TIMEOUT):
        """Publish and complete the sender flow; returns the PUBACK/PUBREC
        (None for QoS 0)."""
        self.send(publish5(topic, payload, qos, retain, pid=pid, props=props))
        if qos == 1:
            return self.wait_for(PUBACK, timeout, pid=pid)
        if qos == 2:
            rec = self.wait_for(PUBREC, timeout, pid=pid)
            if rec.rc < 0x80:
                self.send(ack5(PUBREL, pid))
                self.wait_for(PUBCOMP, timeout, pid=pid)
            return rec
        return None

    def ack(self, p, timeout=DEFAULT_TIMEOUT):
        if p.qos == 1:
            self.send(ack5(PUBACK, p.pid))
        elif p.qos == 2:
            self.send(ack5(PUBREC, p.pid))
            self.wait_for(PUBREL, timeout, pid=p.pid)
            self.send(ack5(PUBCOMP, p.pid))

    def publishes(self, n, timeout=DEFAULT_TIMEOUT, ack=True):
        return [self.recv_publish(timeout, ack=ack) for _ in range(n)]

    def disconnect(self, rc=0, props=None):
        self.try_send(disconnect5(rc, props))
        self.close()

    def expect_disconnect(self, timeout=DEFAULT_TIMEOUT):
        """Wait for the server to close the connection.  Returns the
        DISCONNECT packet it sent first (None if it sent none); raises
        Timeout if the connection stays open."""
        got = self.wait_closed(timeout)
        discs = [p for p in got if p.type == DISCONNECT]
        return discs[-1] if discs else None


def is_mosquitto():
    return harness.is_mosquitto()


class M5TestCase(harness.BrokerTestCase):
    """BrokerTestCase with MQTT 5.0 raw clients."""

    def raw5(self, ws=False, timeout=DEFAULT_TIMEOUT):
        c = self.broker.raw(ws=ws, timeout=timeout, cls=Client5)
        self._my_clients.append(c)
        return c

    def c5(self, client_id=None, clean=True, keepalive=60, props=None,
           will=None, ws=False, **kw):
        """A Client5 that connected and got CONNACK 0."""
        if client_id is None:
            client_id = self.uid("c5")
        c = self.raw5(ws=ws)
        harness.connected(c, c.connect(client_id, clean, keepalive, props,
                                       will, **kw), client_id)
        c.client_id = client_id
        return c

    def c4(self, client_id=None, clean=True, **kw):
        """A 3.1.1 raw client."""
        return self.client(client_id or self.uid("c4"), clean, **kw)

    def assertDisconnect(self, c, code, timeout=DEFAULT_TIMEOUT,
                         alternatives=(), mosq_may_omit=False, mosq_alt=()):
        """The server sends DISCONNECT with reason code `code` (or one of
        alternatives) and closes the connection.  Against Mosquitto (only
        used to validate the tests) known deviations are tolerated:
        mosq_may_omit = Mosquitto 2.0.11 closes without a DISCONNECT (the
        standard says SHOULD send one); mosq_alt = codes it uses instead."""
        try:
            d = c.expect_disconnect(timeout)
        except Timeout as e:
            self.fail("connection not closed (want DISCONNECT %#x): %s"
                      % (code, e))
        if d is None and mosq_may_omit and is_mosquitto():
            return None
        self.assertIsNotNone(d, "connection closed without DISCONNECT "
                             "(want reason code %#x)" % code)
        ok = (code,) + tuple(alternatives)
        if is_mosquitto():
            ok += tuple(mosq_alt)
        self.assertIn(d.rc, ok, "DISCONNECT reason code %#x, want %s (%r)"
                      % (d.rc, "/".join("%#x" % x for x in ok), d))
        return d


# ---------------------------------------------------------------- paho v5

def paho5(port, client_id="", clean_start=True, ws=False, props=None,
          will=None, keepalive=30, timeout=5.0):
    """A connected paho MQTTv5 client with its loop in a thread.
    c.messages: queue of received messages; c.connack_props; c.connack_rc.
    will = (topic, payload, qos, retain, Properties or None)."""
    import paho.mqtt.client as mqtt
    c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5,
                    transport="websockets" if ws else "tcp")
    if ws:
        c.ws_set_options(path="/mqtt")
    c.messages = queue.Queue()
    c.suback = queue.Queue()
    c.puback = queue.Queue()
    c.disconnects = queue.Queue()
    connected = threading.Event()
    c.connack_rc = None
    c.connack_props = None
    c.connack_flags = None

    def on_connect(cl, ud, flags, rc, properties=None):
        c.connack_rc = rc
        c.connack_flags = flags
        c.connack_props = properties
        connected.set()

    def on_message(cl, ud, msg):
        c.messages.put(msg)

    def on_subscribe(cl, ud, mid, rcs, properties=None):
        c.suback.put((mid, rcs))

    def on_publish(cl, ud, mid):
        c.puback.put(mid)

    def on_disconnect(cl, ud, rc, properties=None):
        c.disconnects.put(rc)

    c.on_connect = on_connect
    c.on_message = on_message
    c.on_subscribe = on_subscribe
    c.on_publish = on_publish
    c.on_disconnect = on_disconnect
    if will is not None:
        wt, wp, wq, wr = will[:4]
        c.will_set(wt, wp, wq, wr, properties=will[4] if len(will) > 4
                   else None)
    c.connect(harness.HOST, port, keepalive=keepalive, clean_start=clean_start,
              properties=props)
    return harness.paho_started(c, connected, timeout, "paho5")


def paho5_subscribe(c, topic, options=None, props=None, timeout=5.0):
    """options: paho SubscribeOptions or an int QoS."""
    from paho.mqtt.subscribeoptions import SubscribeOptions
    if options is None:
        options = SubscribeOptions(qos=1)
    elif isinstance(options, int):
        options = SubscribeOptions(qos=options)
    rc, mid = c.subscribe(topic, options=options, properties=props)
    assert rc == 0, rc
    got_mid, rcs = c.suback.get(timeout=timeout)
    assert got_mid == mid, (got_mid, mid)
    return [int(r.value) if hasattr(r, "value") else int(r) for r in rcs]


paho5_stop = harness.paho_stop


def publish_props(**kw):
    """paho Properties for PUBLISH from keyword args (paho names)."""
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    p = Properties(PacketTypes.PUBLISH)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def connect_props(**kw):
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes
    p = Properties(PacketTypes.CONNECT)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def drain(q, timeout):
    """Everything that arrives on queue q within timeout seconds."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return out
        try:
            out.append(q.get(timeout=left))
        except queue.Empty:
            return out


def sluice_gap(reason):
    """Mark a test as a known sluice gap (unittest.expectedFailure) when
    running against sluice; against Mosquitto the test runs normally.
    reason: what sluice is missing (kept for the reader)."""
    def deco(f):
        if is_mosquitto():
            return f
        f = unittest.expectedFailure(f)
        f.sluice_gap = reason
        return f
    return deco
