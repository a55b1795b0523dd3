"""Negative assertions without fixed waits, for the harness.BrokerTestCase
suites (the persistence tests have theirs in persist_util).

A session's deliveries of one QoS leave in order (MQTT 4.6), so a sentinel
published after the moment of interest and received on the same connection
proves that nothing else of that QoS was pending: "nothing arrived" becomes
"the sentinel was the first thing to arrive"."""

import os
import time

import rawmqtt

_count = [0]


def publish_sentinel(tc, topic, qos=1):
    """Publish a fresh payload to topic from a new 3.1.1 client of test case
    tc (harness.BrokerTestCase) and wait until the broker took it."""
    _count[0] += 1
    payload = b"sentinel-%d-%d" % (os.getpid(), _count[0])
    p = tc.broker.raw()
    try:
        harness_ack = p.connect("sentinel-%d-%d" % (os.getpid(), _count[0]))
        assert harness_ack.rc == 0, harness_ack
        p.send(rawmqtt.publish(topic, payload, qos=qos, pid=1))
        if qos == 2:
            p.wait_for(rawmqtt.PUBREC, pid=1, timeout=10)
            p.send(rawmqtt.pubrel(1))
            p.wait_for(rawmqtt.PUBCOMP, pid=1, timeout=10)
        elif qos == 1:
            p.wait_for(rawmqtt.PUBACK, pid=1, timeout=10)
    finally:
        p.close()
    return payload


def before_sentinel(c, payload, timeout=10.0):
    """Packets c receives before the PUBLISH whose payload ends with the
    sentinel payload (MQTT 5 clients parse properties, 3.1.1 ones do not:
    an ending match covers both); the sentinel is acknowledged."""
    got = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("sentinel %r not delivered; before it: %r"
                                 % (payload, got))
        p = c.recv_packet(left)
        if p.type == rawmqtt.PUBLISH and bytes(p.payload).endswith(payload):
            if p.qos == 1:
                c.try_send(rawmqtt.puback(p.pid))
            elif p.qos == 2:
                c.try_send(rawmqtt.pubrec(p.pid))
            return got
        got.append(p)


def nothing_before_sentinel(tc, c, topic, qos=1, timeout=10.0):
    """The packets c received before a sentinel published to topic now
    (an empty list proves "nothing was pending")."""
    return before_sentinel(c, publish_sentinel(tc, topic, qos), timeout)
