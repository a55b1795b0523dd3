"""ack "kafka": the PUBACK/PUBREC waits for Kafka's acknowledgement (the
mock cluster's produce round trip delayed with `rtt`); ack "local" does not
(issue 6, docs/KAFKA.md "Delivery guarantees")."""

import time
import unittest

import kafka_util as ku
import rawmqtt

RTT = 1500


class AckAfterKafka(ku.KafkaCase):

    def start(self):
        return self.broker({"spool_after_ms": 20000, "to_kafka": [
            {"match": "k/#", "topic": "acked", "ack": "kafka"},
            {"match": "l/#", "topic": "local", "ack": "local"},
            {"match": "d/#", "topic": "dflt"}]})

    def timed(self, c, topic, payload, qos=1, pid=1):
        t0 = time.monotonic()
        c.publish(topic, payload, qos=qos, pid=pid, timeout=15)
        return time.monotonic() - t0

    def warm(self, c, b):
        # the producer is connected and knows the topics before rtt changes
        for i, t in enumerate(("k/warm", "l/warm", "d/warm")):
            self.timed(c, t, b"warm", pid=100 + i)
        for kt in ("acked", "local", "dflt"):
            ku.wait_count(self.mock.bootstrap, kt, 1, 20)

    def test_puback_waits_for_kafka(self):
        b = self.start()
        c = b.client("ack-c")
        self.clients.append(c)
        self.warm(c, b)
        fast = self.timed(c, "k/fast", b"fast")
        self.assertLess(fast, 1.0, "rtt 0: PUBACK should be quick")
        self.mock.rtt(RTT)
        slow = self.timed(c, "k/slow", b"slow", pid=2)
        dflt = self.timed(c, "d/slow", b"dflt", pid=3)
        q2 = self.timed(c, "k/q2", b"q2", qos=2, pid=4)
        self.mock.rtt(0)
        ku.log("\n[ack] PUBACK after %.3fs (rtt 0), %.3fs (rtt %d ms), "
               "default ack %.3fs, QoS 2 PUBREC flow %.3fs"
               % (fast, slow, RTT, dflt, q2))
        self.assertGreaterEqual(slow, 1.2, "PUBACK before Kafka acknowledged")
        self.assertGreaterEqual(dflt, 1.2, "default ack for QoS 1 is kafka")
        self.assertGreaterEqual(q2, 1.2, "PUBREC before Kafka acknowledged")
        recs = ku.wait_count(self.mock.bootstrap, "acked", 4, 20)
        self.assertEqual(sorted(r.value for r in recs),
                         [b"fast", b"q2", b"slow", b"warm"])
        # the slow publishes were not spooled (spool_after_ms 20 s)
        self.assertEqual(ku.sys_counters(b.port, 2.5).get("spooled", 0), 0)

    def test_local_ack_is_immediate(self):
        b = self.start()
        c = b.client("local-c")
        self.clients.append(c)
        self.warm(c, b)
        self.mock.rtt(RTT)
        t = [self.timed(c, "l/x", b"local-%d" % i, pid=10 + i)
             for i in range(3)]
        ku.log("\n[ack] ack local with rtt %d ms: %s" %
               (RTT, ", ".join("%.3fs" % x for x in t)))
        self.assertLess(max(t), 0.5, "ack local waited for Kafka")
        # best effort still reaches Kafka
        self.mock.rtt(0)
        recs = ku.wait_count(self.mock.bootstrap, "local", 4, 20)
        self.assertEqual([r.value for r in sorted(recs, key=lambda r: r.offset)
                          if r.value != b"warm"],
                         [b"local-0", b"local-1", b"local-2"])

    def test_qos0_not_delayed(self):
        b = self.start()
        c = b.client("q0-c")
        self.clients.append(c)
        self.warm(c, b)
        self.mock.rtt(RTT)
        # a QoS 0 publish followed by PINGREQ: the PINGRESP is not held back
        t0 = time.monotonic()
        c.send(rawmqtt.publish("k/q0", b"q0", qos=0))
        c.send(rawmqtt.pingreq())
        c.wait_for(rawmqtt.PINGRESP, 5)
        self.assertLess(time.monotonic() - t0, 0.5)
        self.mock.rtt(0)
        ku.wait_records(self.mock.bootstrap, "acked",
                        lambda rs: any(r.value == b"q0" for r in rs), 20,
                        "the QoS 0 record")


if __name__ == "__main__":
    unittest.main()
