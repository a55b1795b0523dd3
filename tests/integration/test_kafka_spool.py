"""Spool full (bridge.spool_max_bytes, config minimum 1 MiB): during a
Kafka outage an MQTT 5 publisher gets PUBACK 0x97 (quota exceeded) once the
spool is full, a 3.1.1 connection stops being read (no more PUBACKs) and is
served again once Kafka is back and the spool drained; QoS 0 is dropped and
counted (issue 6, docs/KAFKA.md "The spool")."""

import time
import unittest

import kafka_util as ku
import rawmqtt

SPOOL_MAX = 1048576
BIG = 64 * 1024
RULES = {"spool_after_ms": 1000, "spool_max_bytes": SPOOL_MAX,
         "to_kafka": [{"match": "s/#", "topic": "spool", "key": "{2}"}]}


def payload(tag, i):
    head = ("%s:%04d:" % (tag, i)).encode()
    return head + b"x" * (BIG - len(head))


class SpoolFull(ku.KafkaCase):

    def start_outage(self, client_v5):
        """Broker up, producer warm, Kafka down, one record spooled (so that
        every newer record goes straight to the spool)."""
        b = self.broker(RULES, mqtt={"max_packet_size": 1048576})
        ku.publish_all(b.port, "warm", [("s/w/x", b"warm")]).close()
        ku.wait_count(self.mock.bootstrap, "spool", 1, 20)
        self.mock.down()
        p = ku.Publisher(b.port, "spool-pub", v5=client_v5)
        self.clients.append(p)
        p.send(ku.publish_packet("s/k/x", payload("p", 0), 1, 1, client_v5), 1)
        self.assertTrue(p.pump_until(lambda: 1 in p.acks, 10),
                        "first record not acknowledged from the spool")
        self.assertEqual(p.acks[1][1], 0)
        return b, p

    def test_mqtt5_gets_0x97_when_full(self):
        b, p = self.start_outage(True)
        n = 60   # 60 x 64 KiB = 3.75 MiB, far above the bound
        refused_at = None
        for i in range(2, n + 1):
            p.send(ku.publish_packet("s/k/x", payload("p", i - 1), 1, i, True),
                   i)
            self.assertTrue(p.pump_until(lambda: i in p.acks, 10),
                            "no PUBACK for publish %d" % i)
            if p.acks[i][1] == 0x97:
                refused_at = i
                break
            self.assertEqual(p.acks[i][1], 0, "reason code of publish %d" % i)
        stats = ku.sys_counters(b.port, 2.5)
        ku.log("\n[spool] first 0x97 at publish %s (%d KiB each); $SYS: %r"
               % (refused_at, BIG // 1024, stats))
        self.assertIsNotNone(refused_at, "spool never reported full")
        self.assertGreaterEqual(stats.get("spool/bytes", 0), SPOOL_MAX // 2)
        # refused again while full
        p.send(ku.publish_packet("s/k/x", payload("again", 0), 1, 200, True),
               200)
        self.assertTrue(p.pump_until(lambda: 200 in p.acks, 10))
        self.assertEqual(p.acks[200][1], 0x97)
        # QoS 0 while full: dropped and counted
        dropped0 = stats.get("dropped", 0)
        p.send(ku.publish_packet("s/k/x", payload("q0", 0), 0, 0, True))
        ku.wait_until(lambda: ku.sys_counters(b.port, 1.5).get(
            "dropped", 0) > dropped0, 10, what="dropped counter")
        # Kafka back: the spool drains and publishes are accepted again
        self.mock.up()
        ku.wait_until(lambda: ku.sys_counters(b.port, 1.5).get(
            "spool/depth", 1) == 0, 40, what="spool drained")
        p.send(ku.publish_packet("s/k/x", b"after", 1, 300, True), 300)
        self.assertTrue(p.pump_until(lambda: 300 in p.acks, 10))
        self.assertEqual(p.acks[300][1], 0)
        acked = [payload("p", i - 1) for i in range(1, refused_at)]
        recs = ku.wait_records(
            self.mock.bootstrap, "spool",
            lambda rs: set(acked + [b"after"]) <= {r.value for r in rs}, 40,
            "every accepted record")
        vals = [r.value for r in recs]
        self.assertNotIn(payload("q0", 0), vals)
        self.assertNotIn(payload("again", 0), vals, "a refused (0x97) "
                         "publish must not be forwarded")

    def test_mqtt311_not_read_until_room(self):
        b, p = self.start_outage(False)
        n = 50   # 3.1 MiB queued at once on the socket
        for i in range(2, n + 1):
            p.out += ku.publish_packet("s/k/x", payload("p", i - 1), 1, i)
            p.sent_at[i] = time.monotonic()
        # let the broker take what it will, then see the acks stop
        p.pump_until(lambda: False, 6)
        acked_stalled = len(p.acks)
        p.pump_until(lambda: False, 2)
        ku.log("\n[spool] 3.1.1: %d of %d acknowledged while the spool is "
               "full, %d bytes not yet taken by the socket"
               % (len(p.acks), n, p.unsent()))
        self.assertFalse(p.closed, "connection closed instead of paused")
        self.assertLess(acked_stalled, n, "every publish acknowledged: "
                        "no back-pressure")
        self.assertEqual(len(p.acks), acked_stalled,
                         "acks continued while the spool was full")
        self.assertEqual({rc for _t, rc in p.acks.values()}, {0})
        # other clients are still served
        c = b.client("other")
        c.send(rawmqtt.pingreq())
        c.wait_for(rawmqtt.PINGRESP, 5)
        c.disconnect()
        self.mock.up()
        self.assertTrue(p.pump_until(lambda: len(p.acks) >= n, 60),
                        "only %d of %d PUBACKs after Kafka came back"
                        % (len(p.acks), n))
        want = [payload("p", i) for i in range(n)]
        recs = ku.wait_records(
            self.mock.bootstrap, "spool",
            lambda rs: set(want) <= {r.value for r in rs}, 40,
            "every record")
        mine = sorted((r for r in recs if r.key == b"k"),
                      key=lambda r: r.offset)
        seen, order = set(), []
        for r in mine:
            if r.value not in seen:
                seen.add(r.value)
                order.append(int(r.value.split(b":")[1]))
        self.assertEqual(order, list(range(n)), "publish order")


if __name__ == "__main__":
    unittest.main()
