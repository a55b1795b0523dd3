"""Router sinks (issue 12 item 1): everything routed reaches the Kafka sink,
not only client PUBLISHes. A will matching a to_kafka rule lands in Kafka
(at once, and after an MQTT 5 will delay), the broker's own messages routed
with plain brk_route ($SYS, like the admin API's) reach it, and a record
injected from Kafka that matches a to_kafka rule does not go back to Kafka
(docs/ARCHITECTURE.md "The path of one PUBLISH")."""

import time
import unittest

import kafka_util as ku
import raw5
import rawmqtt

# a from_kafka member must get its partitions quickly (as test_kafka_from)
PROPS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}
STATUS_RULE = {"match": "status/#", "topic": "status", "key": "{clientid}"}


def records_with(recs, value):
    return [r for r in recs if r.value == value]


class WillToKafka(ku.KafkaCase):

    def test_will_of_killed_client_lands_in_kafka(self):
        b = self.broker({"to_kafka": [STATUS_RULE]})
        c = rawmqtt.RawClient(b.port)
        ack = c.connect("dev-311", True, 60,
                        will=("status/dev-311", b"offline-311", 1, False),
                        username="alice")
        self.assertEqual(ack.rc, 0)
        self.clients.append(c)
        c.abort()   # socket closed without DISCONNECT: the will goes
        recs = ku.wait_records(
            self.mock.bootstrap, "status",
            lambda rs: records_with(rs, b"offline-311"), 30, "the will")
        self.assertEqual(len(records_with(recs, b"offline-311")), 1)
        r = records_with(recs, b"offline-311")[0]
        self.assertEqual(r.key, b"dev-311")
        self.assertEqual(r.header("mqtt.topic"), "status/dev-311")
        self.assertEqual(r.header("mqtt.clientid"), "dev-311")
        self.assertEqual(r.header("mqtt.username"), "alice")
        self.assertEqual(r.header("mqtt.qos"), "1")

    def test_delayed_will_lands_in_kafka_after_its_delay(self):
        b = self.broker({"to_kafka": [STATUS_RULE]})
        col = ku.Collector(b.port, "watch-5", ["status/#"])
        self.clients.append(col)
        c = raw5.Client5(b.port)
        self.clients.append(c)
        t0 = time.monotonic()
        ack = c.connect("dev-5", True, 60,
                        props=[(raw5.SESSION_EXPIRY, 30)],
                        will=("status/dev-5", b"offline-5", 1, False,
                              [(raw5.WILL_DELAY, 1)]))
        self.assertEqual(ack.rc, 0)
        c.abort()
        # the local subscriber is the sync point: the delay has passed
        col.wait(lambda ms: ("status/dev-5", b"offline-5") in ms, 15,
                 "the delayed will, locally")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9,
                                "will sent before its delay")
        recs = ku.wait_records(
            self.mock.bootstrap, "status",
            lambda rs: records_with(rs, b"offline-5"), 30, "the delayed will")
        self.assertEqual(len(records_with(recs, b"offline-5")), 1)
        r = records_with(recs, b"offline-5")[0]
        self.assertEqual(r.header("mqtt.topic"), "status/dev-5")
        self.assertEqual(r.header("mqtt.clientid"), "dev-5")


class BrokerOriginToKafka(ku.KafkaCase):

    def test_plain_brk_route_reaches_the_sink(self):
        # $SYS is routed with plain brk_route (origin BROKER, no connection),
        # as the admin API's publishes are: the sinks see it too
        b = self.broker({"to_kafka": [{"match": "$SYS/broker/uptime",
                                       "topic": "sys"}]})
        recs = ku.wait_records(
            self.mock.bootstrap, "sys",
            lambda rs: any(r.header("mqtt.topic") == "$SYS/broker/uptime"
                           for r in rs), 30, "a $SYS record")
        r = recs[0]
        self.assertEqual(r.header("mqtt.retain"), "true")
        self.assertEqual(r.header("mqtt.clientid"), "")
        self.assertTrue(r.value.endswith(b" seconds"), r.value)


class InjectedNotEchoed(ku.KafkaCase):

    def test_injected_record_matching_to_kafka_does_not_go_back(self):
        b = self.broker({
            "to_kafka": [{"match": "cmd/#", "topic": "out", "key": "{topic}"}],
            "from_kafka": [{"topic": "in", "group": "g-in",
                            "mqtt_topic": "cmd/{key}", "qos": 1}]},
            kafka_props=PROPS)
        col = ku.Collector(b.port, "cmd-sub", ["cmd/#"])
        self.clients.append(col)
        # produce until the consumer has its partition and routes a record
        deadline = time.monotonic() + 30
        n = 0
        while not any(p.startswith(b"injected-") for _t, p in col.snapshot()):
            self.assertLess(time.monotonic(), deadline,
                            "from_kafka consumer never delivered")
            n += 1
            ku.produce(self.mock.bootstrap, "in",
                       [("x", "injected-%d" % n, {})])
            t_end = time.monotonic() + 1.0
            while time.monotonic() < t_end and not col.snapshot():
                time.sleep(0.05)
        # every record produced so far is routed before the sentinel goes
        sent = {b"injected-%d" % i for i in range(1, n + 1)}
        col.wait(lambda ms: sent <= {p for _t, p in ms}, 30,
                 "every injected record, locally")
        # the sentinel: same MQTT topic, so same key and partition, published
        # after the injected record was routed; a record produced for the
        # injected one would be in "out" before it
        ku.publish_all(b.port, "cmd-pub", [("cmd/x", b"sentinel")]).close()
        recs = ku.wait_records(self.mock.bootstrap, "out",
                               lambda rs: records_with(rs, b"sentinel"), 30,
                               "the sentinel")
        self.assertEqual([r.value for r in recs], [b"sentinel"],
                         "an injected record went back to Kafka")
        self.assertTrue(any(t == "cmd/x" and p.startswith(b"injected-")
                            for t, p in col.snapshot()))


if __name__ == "__main__":
    unittest.main()
