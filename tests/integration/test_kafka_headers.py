"""Kafka -> MQTT 5 properties with headers MQTT cannot carry (issue 11
item 7): a Kafka header name (or value) may be longer than 65,535 bytes, an
MQTT string may not. Such a header is left out and counted in
headers_skipped; the record still reaches v5 subscribers in a PUBLISH whose
property section a raw decoder (raw5.decode_props, independent of sluice's
codec) reads exactly, with the other headers as user properties."""

import time
import unittest

import kafka_util as ku
import raw5

PROPS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
RULES = {"from_kafka": [
    {"topic": "hdrs", "group": "g-hdrs", "mqtt_topic": "h/{key}", "qos": 1}]}


class HugeHeaders(ku.KafkaCase):

    def next_publish(self, c5, timeout=20):
        """The next PUBLISH that is not a probe. Decoding it raises if its
        property section is malformed."""
        deadline = time.monotonic() + timeout
        while True:
            m = c5.recv_publish(max(0.1, deadline - time.monotonic()))
            if m.payload != b"probe":
                return m

    def test_oversized_header_is_skipped_and_counted(self):
        b = self.broker(RULES, kafka_props=PROPS)
        c5 = b.client5("hdr5-sub")
        self.clients.append(c5)
        self.assertEqual(c5.subscribe([("h/#", 1)]), [1])
        deadline = time.monotonic() + 30
        got = None
        while got is None:
            self.assertLess(time.monotonic(), deadline, "from_kafka consumer never delivered")
            ku.produce(self.mock.bootstrap, "hdrs", [("probe", "probe", {})])
            try:
                got = c5.recv_publish(1.0)
            except raw5.rawmqtt.Timeout:
                got = None
        huge_name = "n" * 70000   # > 65,535: its MQTT length would wrap to 4,464
        # one partition for both: the sentinel comes after the record there
        ku.produce(self.mock.bootstrap, "hdrs", [
            ("k1", "huge-name", [("x-before", "1"), (huge_name, "v"), ("x-after", "2")])],
            partition=0)
        ku.produce(self.mock.bootstrap, "hdrs", [("k2", "sentinel", [("x-s", "3")])],
                   partition=0)
        m = self.next_publish(c5)
        self.assertEqual((m.topic, m.payload), ("h/k1", b"huge-name"))
        self.assertEqual(m.user, [("x-before", "1"), ("x-after", "2")])
        m = self.next_publish(c5)
        self.assertEqual(m.user, [("x-s", "3")])
        ku.wait_until(lambda: ku.sys_counters(b.port, 1.5).get("headers_skipped", 0) >= 1,
                      10, what="headers_skipped counter")


if __name__ == "__main__":
    unittest.main()
