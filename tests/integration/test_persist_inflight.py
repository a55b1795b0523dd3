"""Outbound in-flight state survives kill -9 (issue 5): a QoS 1/2 message
sent to an online persistent subscriber but not yet acknowledged is sent
again after a restart, with DUP=1 and the same packet id (MQTT-4.4.0-1);
a QoS 2 delivery that reached PUBREL continues with PUBREL, not PUBLISH;
an acknowledged delivery is not sent again."""

import os
import time
import unittest

import rawmqtt
from persist_util import (PersistCase, Receiver, before_sentinel, ping)



class InflightAcrossKill(PersistCase, unittest.TestCase):

    def setup_sub(self, b, qos, tag):
        cid = "inf-%s-%d" % (tag, os.getpid())
        topic = "inf/%s/%d" % (tag, os.getpid())
        s = self.track(b.client(cid, clean=False))
        self.assertEqual(s.subscribe([(topic, qos)]), [qos])
        return cid, topic, s

    def publish(self, b, topic, payload, qos):
        p = self.track(b.client("inf-pub-%d-%f" % (os.getpid(),
                                                   time.monotonic())))
        p.publish(topic, payload, qos=qos)
        p.disconnect()

    def test_qos1_unacked_is_resent_with_dup(self):
        b = self.broker(sync="always")
        b.start()
        cid, topic, s = self.setup_sub(b, 1, "q1")
        self.publish(b, topic, b"inflight-1", 1)
        first = s.recv_publish(ack=False)
        self.assertEqual((first.payload, first.qos, first.dup),
                         (b"inflight-1", 1, False))
        b.settle()  # its o/ record was submitted before it was sent
        b.kill9()
        s.close()
        b.start()
        s = self.track(b.client(cid, clean=False, present=1))
        again = s.wait_for(rawmqtt.PUBLISH)
        self.assertEqual(again.payload, b"inflight-1")
        self.assertEqual(again.qos, 1)
        self.assertTrue(again.dup, "retransmission after restart without "
                        "DUP: %r" % again)
        self.assertEqual(again.pid, first.pid, "packet id changed")
        s.send(rawmqtt.puback(again.pid))
        self.assertEqual(before_sentinel(s, b.sentinel(topic)), [],
                         "more after the retransmission")
        # the PUBACKs are remembered across another crash: the broker
        # handled them (PINGRESP) and their writes are committed
        ping(s)
        b.settle()
        b.kill9()
        s.close()
        b.start()
        s = self.track(b.client(cid, clean=False, present=1))
        self.assertEqual(before_sentinel(s, b.sentinel(topic)), [],
                         "acknowledged message sent again after a restart")

    def test_qos2_unacked_publish_is_resent_with_dup(self):
        b = self.broker(sync="always")
        b.start()
        cid, topic, s = self.setup_sub(b, 2, "q2p")
        self.publish(b, topic, b"inflight-2", 2)
        first = s.recv_publish(ack=False)
        self.assertEqual((first.payload, first.qos), (b"inflight-2", 2))
        b.settle()
        b.kill9()
        s.close()
        b.start()
        s = self.track(b.client(cid, clean=False, present=1))
        rv = Receiver(s).until_sentinel(b.sentinel(topic, qos=2), timeout=10)
        self.assertEqual(rv.payloads(), [b"inflight-2"])
        p = rv.delivered[0][1]
        self.assertTrue(p.dup, "retransmission without DUP: %r" % p)
        self.assertEqual(p.pid, first.pid, "packet id changed")
        # its flow ends with the PUBREL answering our PUBREC
        rv.until(lambda rv: any(x.type == rawmqtt.PUBREL and x.pid == p.pid
                                for x in rv.packets), quiet=0, timeout=10)
        kinds = [rawmqtt.NAMES[x.type] for x in rv.packets if x.pid == p.pid]
        self.assertEqual(kinds, ["PUBLISH", "PUBREL"])

    def test_qos2_pubrel_state_survives(self):
        b = self.broker(sync="always")
        b.start()
        cid, topic, s = self.setup_sub(b, 2, "q2r")
        self.publish(b, topic, b"inflight-rel", 2)
        m = s.recv_publish(ack=False)
        s.send(rawmqtt.pubrec(m.pid))
        rel = s.wait_for(rawmqtt.PUBREL, pid=m.pid)
        self.assertEqual(rel.first_byte, 0x62)
        b.settle()  # the PUBREC's o/ update was submitted before the PUBREL
        b.kill9()
        s.close()
        b.start()
        s = self.track(b.client(cid, clean=False, present=1))
        p = s.recv_packet()
        # MQTT-4.4.0-1: resend unacknowledged PUBREL, not the PUBLISH
        self.assertEqual((p.type, p.pid), (rawmqtt.PUBREL, m.pid),
                         "after restart got %r, want PUBREL %d" % (p, m.pid))
        s.send(rawmqtt.pubcomp(m.pid))
        self.assertEqual(before_sentinel(s, b.sentinel(topic, qos=2)), [],
                         "more after PUBCOMP")

    def test_inflight_window_and_queue_mix(self):
        """max_inflight 8: 40 QoS 1 messages to an online subscriber that
        acks nothing -> 8 in flight, 32 queued; after kill -9 all 40 come,
        the 8 seen before with DUP=1."""
        b = self.broker(sync="always", mqtt={"max_inflight": 8})
        b.start()
        cid, topic, s = self.setup_sub(b, 1, "mix")
        p = self.track(b.client("inf-mixpub-%d" % os.getpid()))
        payloads = [b"mix-%02d" % i for i in range(40)]
        for i, pl in enumerate(payloads):
            p.publish(topic, pl, qos=1, pid=i + 1)
        # no sentinel can prove "no 9th": the window would hold it too
        seen = Receiver(s, ack=False).until(quiet=1.0, timeout=10)
        before = seen.payloads()
        self.assertEqual(len(before), 8, "in flight before the kill: %r"
                         % before)
        b.settle()
        b.kill9()
        s.close()
        b.start()
        s = self.track(b.client(cid, clean=False, present=1))
        rv = Receiver(s).until_all(payloads, quiet=1.0, timeout=30)
        got = rv.payloads()
        self.assertEqual(sorted(set(got)), payloads,
                         "missing after restart: %r"
                         % sorted(set(payloads) - set(got)))
        for pl, pk in rv.delivered:
            if pl in before:
                self.assertTrue(pk.dup, "%r was in flight, resent without "
                                "DUP" % pl)


if __name__ == "__main__":
    unittest.main()
