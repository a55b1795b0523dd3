"""Inbound QoS 2 exactly once across kill -9 (issue 5): a publisher with a
persistent session sends PUBLISH QoS 2, gets PUBREC, the broker is killed
and restarted; the publisher reconnects (clean session false), re-sends the
PUBLISH with DUP (MQTT-4.4.0-1) and PUBREL; the subscriber gets the message
exactly once."""

import os
import unittest

import rawmqtt
from persist_util import PersistCase, Receiver


class InboundQos2AcrossKill(PersistCase, unittest.TestCase):

    def setup(self, tag):
        b = self.broker(sync="always")
        b.start()
        self.topic = "q2in/%s/%d" % (tag, os.getpid())
        self.sub_id = "q2in-sub-%s-%d" % (tag, os.getpid())
        self.pub_id = "q2in-pub-%s-%d" % (tag, os.getpid())
        s = b.client(self.sub_id, clean=False)
        self.assertEqual(s.subscribe([(self.topic, 2)]), [2])
        b.disconnect_settled(s)  # subscription is not fsync-acknowledged
        return b

    def first_half(self, b, payload, pid=7):
        p = b.client(self.pub_id, clean=False)
        p.send(rawmqtt.publish(self.topic, payload, qos=2, pid=pid))
        p.wait_for(rawmqtt.PUBREC, pid=pid)
        # PUBREC came only after the message was durable: kill right away
        b.kill9()
        p.close()
        b.start()
        return self.track(b.client(self.pub_id, clean=False, present=1))

    def drain(self, b):
        s = self.track(b.client(self.sub_id, clean=False, present=1))
        return s, Receiver(s).until_sentinel(b.sentinel(self.topic, qos=2),
                                             timeout=15)

    def test_resend_publish_with_dup_then_pubrel(self):
        b = self.setup("resend")
        p = self.first_half(b, b"exactly-once", pid=7)
        p.send(rawmqtt.publish(self.topic, b"exactly-once", qos=2, pid=7,
                               dup=True))
        p.wait_for(rawmqtt.PUBREC, pid=7)
        p.send(rawmqtt.pubrel(7))
        p.wait_for(rawmqtt.PUBCOMP, pid=7)
        _s, rv = self.drain(b)
        self.assertEqual(rv.payloads(), [b"exactly-once"])

    def test_subscriber_drains_before_publisher_resends(self):
        b = self.setup("early")
        p = self.first_half(b, b"once-early", pid=9)
        s, rv = self.drain(b)
        self.assertEqual(rv.payloads(), [b"once-early"])
        p.send(rawmqtt.publish(self.topic, b"once-early", qos=2, pid=9,
                               dup=True))
        p.wait_for(rawmqtt.PUBREC, pid=9)
        p.send(rawmqtt.pubrel(9))
        p.wait_for(rawmqtt.PUBCOMP, pid=9)
        rv.until_sentinel(b.sentinel(self.topic, qos=2), timeout=10)
        self.assertEqual(rv.payloads(), [b"once-early"],
                         "re-sent PUBLISH delivered a second time")

    def test_pubrel_only_after_restart(self):
        b = self.setup("rel")
        p = self.first_half(b, b"once-rel", pid=11)
        p.send(rawmqtt.pubrel(11))
        p.wait_for(rawmqtt.PUBCOMP, pid=11)
        _s, rv = self.drain(b)
        self.assertEqual(rv.payloads(), [b"once-rel"])

    def test_packet_id_released_after_pubcomp(self):
        """After PUBREL/PUBCOMP the id is free: the same id with new
        content after another restart is a new message."""
        b = self.setup("reuse")
        p = self.first_half(b, b"first", pid=5)
        p.send(rawmqtt.pubrel(5))
        p.wait_for(rawmqtt.PUBCOMP, pid=5)
        b.settle()  # the id's release, submitted before the PUBCOMP
        b.kill9()
        p.close()
        b.start()
        p = self.track(b.client(self.pub_id, clean=False, present=1))
        p.publish(self.topic, b"second", qos=2, pid=5)
        _s, rv = self.drain(b)
        self.assertEqual(sorted(rv.payloads()), [b"first", b"second"])


if __name__ == "__main__":
    unittest.main()
