"""Outbound topic aliases (issue 17 item 7): an MQTT 5 subscriber that
announces a Topic Alias Maximum gets, per connection, an alias for each
topic first come (up to min(its maximum, 16)): the first PUBLISH on a topic
carries the topic and the Topic Alias property, later ones an empty topic
and the alias (MQTT-3.3.2-17 lets the server assign them; 3.3.2.3.4).
Clients without a maximum, and 3.1.1 clients, keep getting the shared
fan-out frame with the full topic. Raw MQTT 5 clients (raw5.py) decode
what arrives byte by byte, independently of the broker's codec."""

import unittest

from raw5 import M5TestCase, TOPIC_ALIAS, TOPIC_ALIAS_MAXIMUM, SESSION_EXPIRY
from rawmqtt import varint

TOPIC_LEN = 40


def wire_len(p):
    """Bytes of the packet on the wire: fixed header, length, body."""
    return 1 + len(varint(len(p.body))) + len(p.body)


class AliasOut(M5TestCase):
    def topic40(self, tag):
        t = self.uid(tag) + "/"
        return (t + "x" * TOPIC_LEN)[:TOPIC_LEN]

    def resolve(self, pkts, table):
        """Topics the client sees after applying aliases (table: its map)."""
        out = []
        for m in pkts:
            a = m.props.get(TOPIC_ALIAS)
            if a is None:
                self.assertTrue(m.topic, m)
                out.append(m.topic)
            elif m.topic:
                table[a] = m.topic
                out.append(m.topic)
            else:
                self.assertIn(a, table, "alias used before it was set: %r" % m)
                out.append(table[a])
        return out

    def test_alias_set_once_then_empty_topic(self):
        t1, t2 = self.topic40("a1"), self.topic40("a2")
        self.assertEqual(len(t1.encode()), TOPIC_LEN)
        s = self.c5(props=[(TOPIC_ALIAS_MAXIMUM, 5)])
        s.subscribe([(t1, 1), (t2, 1)])
        plain = self.c5()  # no Topic Alias Maximum: full topics
        plain.subscribe([(t1, 1), (t2, 1)])
        p = self.c5()
        topics = [t1, t1, t2, t1, t2]
        for i, t in enumerate(topics):
            p.publish(t, b"m%d" % i, qos=1, pid=i + 1)
        got = s.publishes(len(topics))
        ref = plain.publishes(len(topics))
        self.assertEqual([m.payload for m in got], [b"m%d" % i for i in range(5)])
        a1, a2 = got[0].props.get(TOPIC_ALIAS), got[2].props.get(TOPIC_ALIAS)
        self.assertIsNotNone(a1, got[0])
        self.assertIsNotNone(a2, got[2])
        self.assertNotEqual(a1, a2)
        self.assertTrue(1 <= a1 <= 5 and 1 <= a2 <= 5, (a1, a2))
        # set with the topic, then used with an empty topic
        self.assertEqual((got[0].topic, got[2].topic), (t1, t2))
        for m, a in ((got[1], a1), (got[3], a1), (got[4], a2)):
            self.assertEqual(m.topic, "", m)
            self.assertEqual(m.props.get(TOPIC_ALIAS), a, m)
        self.assertEqual(self.resolve(got, {}), topics)
        for m, t in zip(ref, topics):
            self.assertEqual(m.topic, t, m)
            self.assertNotIn(TOPIC_ALIAS, m.props, m)
        # On the wire: a reused alias costs 3 bytes instead of the topic.
        self.assertEqual(wire_len(ref[1]) - wire_len(got[1]), TOPIC_LEN - 3)
        self.assertEqual(wire_len(got[0]) - wire_len(ref[0]), 3)

    def test_bytes_per_message_40_byte_topic(self):
        """The figure for docs/BENCHMARKS.md: 100 QoS 0 messages of 16 bytes
        on one 40-byte topic, with and without aliases."""
        t = self.topic40("ab")
        s = self.c5(props=[(TOPIC_ALIAS_MAXIMUM, 10)])
        plain = self.c5()
        old = self.c4()
        for c in (s, plain):
            c.subscribe([(t, 0)])
        old.subscribe([(t, 0)])
        p = self.c5()
        n = 100
        for i in range(n):
            p.publish(t, b"%016d" % i, qos=0)
        got, ref = s.publishes(n), plain.publishes(n)
        ref4 = [old.recv_publish() for _ in range(n)]
        self.assertEqual(self.resolve(got, {}), [t] * n)
        for pk in (got, ref, ref4):
            self.assertEqual([m.payload for m in pk], [b"%016d" % i for i in range(n)])
        with_alias = sum(map(wire_len, got)) / n
        without = sum(map(wire_len, ref)) / n
        print("\nbytes per delivered message, 40-byte topic, 16-byte payload, QoS 0, "
              "MQTT 5: %.2f with aliases, %.2f without (3.1.1: %.2f)"
              % (with_alias, without, sum(map(wire_len, ref4)) / n))
        self.assertLess(with_alias, without - 30)

    def test_full_table_falls_back_to_topics(self):
        ts = [self.topic40("f%d" % i) for i in range(3)]
        s = self.c5(props=[(TOPIC_ALIAS_MAXIMUM, 1)])
        s.subscribe([(t, 0) for t in ts])
        p = self.c5()
        topics = [ts[0], ts[1], ts[2], ts[0], ts[1]]
        for i, t in enumerate(topics):
            p.publish(t, b"%d" % i, qos=0)
        got = s.publishes(len(topics))
        self.assertEqual(self.resolve(got, {}), topics)
        aliases = [m.props.get(TOPIC_ALIAS) for m in got]
        # first come: ts[0] holds the only alias; the others go in full
        self.assertEqual(aliases, [1, None, None, 1, None])
        self.assertEqual(got[3].topic, "")

    def test_more_topics_than_the_cap(self):
        """A client maximum of 65535 is capped (16 aliases): beyond it,
        full topics; no alias ever above the client's maximum."""
        ts = [self.topic40("c%02d" % i) for i in range(20)]
        s = self.c5(props=[(TOPIC_ALIAS_MAXIMUM, 65535)])
        s.subscribe([(t, 0) for t in ts])
        p = self.c5()
        topics = ts + ts
        for i, t in enumerate(topics):
            p.publish(t, b"%d" % i, qos=0)
        got = s.publishes(len(topics))
        self.assertEqual(self.resolve(got, {}), topics)
        aliased = {m.props.get(TOPIC_ALIAS) for m in got} - {None}
        self.assertTrue(aliased, "no alias assigned")
        self.assertLessEqual(max(aliased), 16)
        self.assertTrue(all(m.topic == "" for m in got[20:] if TOPIC_ALIAS in m.props))

    def test_aliases_do_not_outlive_the_connection(self):
        """Alias mappings exist only within a network connection (3.3.2.3.4):
        after a reconnect the topic is sent again with its alias."""
        t = self.topic40("r")
        cid = self.uid("rs")
        props = [(TOPIC_ALIAS_MAXIMUM, 4), (SESSION_EXPIRY, 60)]
        s = self.c5(client_id=cid, props=props)
        s.subscribe([(t, 1)])
        p = self.c5()
        p.publish(t, b"1", qos=1, pid=1)
        p.publish(t, b"2", qos=1, pid=2)
        first = s.publishes(2)
        self.assertEqual([m.topic for m in first], [t, ""])
        s.disconnect()
        s2 = self.c5(client_id=cid, clean=False, props=props)
        p.publish(t, b"3", qos=1, pid=3)
        m = s2.recv_publish()
        self.assertEqual(m.payload, b"3")
        self.assertEqual(m.topic, t, "a new connection must get the topic again: %r" % m)
        self.assertIsNotNone(m.props.get(TOPIC_ALIAS), m)


if __name__ == "__main__":
    unittest.main()
