"""Authentication and the Kafka bridge (issue 13 item 9), black-box: the
real sluice binary, librdkafka's mock cluster, kcat. {username} and the
mqtt.username header carry the authenticated identity (here a JWT's
claim, not the CONNECT's user name), and Kafka->MQTT deliveries obey each
subscriber's read ACL.
"""

import base64
import hashlib
import hmac
import json
import time

import kafka_util as ku
import rawmqtt

SECRET = "kafka-auth-secret"
PROPS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


def hs256(claims):
    b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
    s = b(json.dumps({"alg": "HS256"}).encode()) + "." + b(json.dumps(claims).encode())
    return s + "." + b(hmac.new(SECRET.encode(), s.encode(), hashlib.sha256).digest())


class AuthKBroker(ku.KBroker):
    def __init__(self, bootstrap, bridge, auth, **kw):
        super().__init__(bootstrap, bridge, **kw)
        self.auth = auth

    def config(self):
        cfg = super().config()
        cfg["auth"] = self.auth
        return cfg


class AuthKafka(ku.KafkaCase):
    def start(self, bridge, auth, **kw):
        b = AuthKBroker(self.mock.bootstrap, bridge, auth, **kw)
        self.brokers.append(b)
        return b.start()

    def client(self, b, cid, user, password=None):
        c = rawmqtt.RawClient(b.port)
        self.clients.append(c)
        self.assertEqual(c.connect(cid, username=user, password=password).rc, 0)
        return c

    def test_username_template_and_header_are_the_identity(self):
        b = self.start({"to_kafka": [{"match": "u/#", "topic": "by-{username}",
                                      "format": "raw"}]},
                       {"jwt": {"secret": SECRET, "username_claim": "sub"}})
        tok = hs256({"sub": "alice", "exp": int(time.time()) + 300})
        c = self.client(b, "k-jwt", "mallory", tok)  # the claim names alice
        c.publish("u/x", b"hello", qos=1)
        recs = ku.wait_records(self.mock.bootstrap, "by-alice",
                               lambda r: len(r) >= 1, 30)
        self.assertEqual(recs[0].value, b"hello")
        self.assertEqual(recs[0].header("mqtt.username"), "alice")

    def test_from_kafka_obeys_read_acl(self):
        rules = {"from_kafka": [{"topic": "commands", "group": "g-acl",
                                 "mqtt_topic": "cmd/{header.who}/x", "qos": 1}]}
        auth = {"allow_anonymous": False, "acl": [
            {"user": "alice", "topic": "cmd/alice/#", "access": "read"},
            {"user": "bob", "topic": "cmd/bob/#", "access": "read"}]}
        b = self.start(rules, auth, kafka_props=PROPS)
        alice = self.client(b, "k-alice", "alice")
        bob = self.client(b, "k-bob", "bob")
        # a filter with some readable topic under it is granted (as Mosquitto)
        self.assertEqual(alice.subscribe([("cmd/#", 1)]), [1])
        self.assertEqual(bob.subscribe([("cmd/#", 1)]), [1])
        deadline = time.monotonic() + 30
        while True:  # until the rule's consumer has its partitions
            self.assertLess(time.monotonic(), deadline, "from_kafka never delivered")
            ku.produce(self.mock.bootstrap, "commands", [("k", "probe", {"who": "alice"})])
            if not alice.no_packet(1.0):
                break
        # one key, so one partition: bob's record comes before alice's final one
        ku.produce(self.mock.bootstrap, "commands",
                   [("k", "for-bob", {"who": "bob"}), ("k", "final", {"who": "alice"})])
        seen = []
        while not seen or seen[-1] != b"final":
            m = alice.recv_publish(timeout=20)
            self.assertEqual(m.topic, "cmd/alice/x")
            seen.append(m.payload)
        self.assertNotIn(b"for-bob", seen)
        m = bob.recv_publish(timeout=20)
        self.assertEqual((m.topic, m.payload), ("cmd/bob/x", b"for-bob"))


if __name__ == "__main__":
    import unittest
    unittest.main()
