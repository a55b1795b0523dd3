"""ACLs (issue 13 item 2, issue 12 item 2: the access-control seam at
every site), black-box: deny on publish, subscribe, wildcard delivery,
retained and will, $SYS, a deny-all ACL, inline rules and per-listener
auth.  Every negative assertion ("not delivered") is proved by a sentinel
sent after it on the same path.
"""

import os
import unittest

import rawmqtt
from auth_util import AuthCase, line7

ACL = """\
# anonymous section: nothing but this
topic read public/#

user alice
topic readwrite alice/#
topic read public/#
topic write cmd/#
topic deny alice/secret/#

user bob
topic readwrite #
topic read $SYS/#

pattern readwrite devices/%c/#
"""


# ----------------------------------------------------------------- ACLs
class AclFile(AuthCase):
    """ACL deny on publish, subscribe, wildcard delivery, retained and
    will, from a Mosquitto-syntax file."""

    files = {"acl": ACL}
    auth = {"acl_file": "acl", "allow_anonymous": True}

    def sentinel(self, sub, topic):
        """Publish a sentinel the subscriber may read and return every
        PUBLISH it got up to and including it."""
        bob, rc = self.conn4(self.id()[-20:] + "-sn", "bob")
        self.assertEqual(rc, 0)
        bob.publish(topic, b"sentinel", qos=1)
        got = []
        while True:
            m = sub.recv_publish(timeout=5)
            got.append((m.topic, m.payload))
            if m.payload == b"sentinel":
                return got

    def test_publish_denied_v5_0x87_qos1_and_qos2(self):
        a, rc = self.conn5("p5", "alice")
        self.assertEqual(rc, 0)
        self.assertEqual(a.publish("bob/x", b"no", qos=1, pid=3).rc, 0x87)
        self.assertEqual(a.publish("bob/x", b"no", qos=2, pid=4).rc, 0x87)
        self.assertLess(a.publish("alice/x", b"ok", qos=1, pid=5).rc, 0x80)

    def test_publish_denied_311_acked_and_dropped(self):
        watcher, _ = self.conn4("p4-w", "bob")
        self.assertEqual(watcher.subscribe([("#", 1)]), [1])
        a, rc = self.conn4("p4", "alice")
        self.assertEqual(rc, 0)
        a.publish("bob/denied", b"dropped", qos=1)   # PUBACK comes back
        a.publish("bob/denied", b"dropped2", qos=2)  # PUBREC/PUBCOMP too
        a.publish("alice/allowed", b"sentinel", qos=1)
        m = watcher.recv_publish(timeout=5)
        self.assertEqual((m.topic, m.payload), ("alice/allowed", b"sentinel"))

    def test_subscribe_denied_0x80_and_0x87(self):
        a, _ = self.conn4("s4", "alice")
        self.assertEqual(a.subscribe([("bob/#", 1), ("alice/#", 1),
                                      ("alice/secret/#", 1), ("$SYS/#", 0)]),
                         [0x80, 1, 0x80, 0x80])
        a5, _ = self.conn5("s5", "alice")
        self.assertEqual(a5.subscribe([("bob/#", 1), ("public/+", 1)]),
                         [0x87, 1])

    def test_wildcard_delivery_filtered_by_read_rights(self):
        a, _ = self.conn4("w4", "alice")
        self.assertEqual(a.subscribe([("#", 1)]), [1])
        bob, _ = self.conn4("w4-bob", "bob")
        bob.publish("other/x", b"hidden", qos=1)
        bob.publish("alice/secret/k", b"hidden2", qos=1)
        bob.publish("alice/open", b"seen", qos=1)
        got = self.sentinel(a, "public/w4")
        self.assertEqual(got, [("alice/open", b"seen"), ("public/w4", b"sentinel")])

    def test_retained_on_subscribe_filtered(self):
        bob, _ = self.conn4("r-bob", "bob")
        bob.publish("other/r", b"hidden", qos=1, retain=True)
        bob.publish("public/r", b"shown", qos=1, retain=True)
        a, _ = self.conn4("r4", "alice")
        self.assertEqual(a.subscribe([("+/r", 1)]), [1])
        got = self.sentinel(a, "public/r")  # live, after the retained ones
        self.assertEqual(got, [("public/r", b"shown"), ("public/r", b"sentinel")])
        bob.publish("other/r", b"", qos=1, retain=True)  # leave no retained state
        bob.publish("public/r", b"", qos=1, retain=True)

    def test_will_topic_denied_is_dropped(self):
        """As Mosquitto 2.0 (checked: 2.0.11) and EMQX: the client connects,
        its will is never published."""
        watcher, _ = self.conn4("will-w", "bob")
        self.assertEqual(watcher.subscribe([("bob/will", 0), ("alice/will", 0)]), [0, 0])
        a, rc = self.conn4("will-a", "alice", will=("bob/will", b"denied", 0, False))
        self.assertEqual(rc, 0)
        a5, rc = self.conn5("will-a5", "alice", will=("bob/will", b"denied5", 0, False))
        self.assertEqual(rc, 0)
        a.abort()
        a5.abort()
        # the same client ids again (session taken over: the old connections
        # are closed, and their wills handled, before these go on), with a
        # will alice may publish: it is the sentinel
        for cid in ("will-a", "will-a5"):
            c = self.keep(rawmqtt.RawClient(self.broker.port))
            self.assertEqual(c.connect(cid, clean=False, username="alice",
                                       will=("alice/will", cid.encode(), 0, False)).rc, 0)
            c.abort()
            m = watcher.recv_publish(timeout=5)
            self.assertEqual((m.topic, m.payload), ("alice/will", cid.encode()))
        self.assertIn("SLUICE-AUTH-WILL", self.broker.log_text())

    def test_pattern_with_client_id(self):
        a, _ = self.conn5("dev7", "alice")
        self.assertEqual(a.publish("devices/dev7/t", b"1", qos=1, pid=1).rc, 0x10)
        self.assertEqual(a.publish("devices/dev8/t", b"1", qos=1, pid=2).rc, 0x87)
        anon, rc = self.conn5("dev9")  # patterns apply to anonymous clients too
        self.assertEqual(rc, 0)
        self.assertEqual(anon.publish("devices/dev9/t", b"1", qos=1, pid=1).rc, 0x10)
        self.assertEqual(anon.publish("public/t", b"1", qos=1, pid=2).rc, 0x87)

    def test_sys_readable_only_where_allowed(self):
        a, _ = self.conn4("sys-a", "alice")
        self.assertEqual(a.subscribe([("$SYS/broker/uptime", 0)]), [0x80])
        b, _ = self.conn4("sys-b", "bob")
        self.assertEqual(b.subscribe([("$SYS/broker/uptime", 0)]), [0])
        m = b.recv_publish(timeout=5)  # sys_interval 1
        self.assertEqual(m.topic, "$SYS/broker/uptime")


class AclDenyAll(AuthCase):
    """An ACL without rules denies every site: nothing is published,
    subscribed, delivered (live or retained), and no will is accepted."""

    files = {"acl": "# nothing is allowed\n"}
    auth = {"acl_file": "acl"}

    def test_every_site_denied(self):
        c, rc = self.conn4("all-1")
        self.assertEqual(rc, 0)  # anonymous may connect: only rights are gone
        self.assertEqual(c.subscribe([("#", 1), ("a/b", 0)]), [0x80, 0x80])
        c.publish("a/b", b"x", qos=1, retain=True)
        c5_, _ = self.conn5("all-2")
        self.assertEqual(c5_.subscribe([("a/#", 1)]), [0x87])
        self.assertEqual(c5_.publish("a/b", b"x", qos=1, pid=2).rc, 0x87)
        before = self.broker.log_text().count("SLUICE-AUTH-WILL")
        _, rc = self.conn4("all-3", will=("a/w", b"x", 0, False))
        self.assertEqual(rc, 0)
        self.assertEqual(self.broker.log_text().count("SLUICE-AUTH-WILL"), before + 1)
        m = self.broker.metrics()
        self.assertGreaterEqual(m["sluice_auth_acl_denied_total"], 5)
        self.assertEqual(m["sluice_retained_messages"], 0)


class InlineAclAndListeners(AuthCase):
    """Rules inline in the JSON config; a listener with its own auth
    object that replaces the top-level one."""

    n_mqtt = 2
    files = {}
    auth = {"allow_anonymous": True,
            "acl": [{"topic": "open/#"},
                    {"user": "zed", "topic": "zed/#", "access": "readwrite"}]}
    listener_auth = {1: {"password_file": "pw"}}

    @classmethod
    def prepare(cls):
        with open(os.path.join(cls.tmp, "pw"), "w") as f:
            f.write(line7("zed", "zpw", 101))

    def test_inline_rules(self):
        a, rc = self.conn5("in-1")
        self.assertEqual(rc, 0)
        self.assertEqual(a.publish("open/x", b"1", qos=1, pid=1).rc, 0x10)
        self.assertEqual(a.publish("zed/x", b"1", qos=1, pid=2).rc, 0x87)
        z, rc = self.conn5("in-2", "zed", "anything")  # no password file here
        self.assertEqual(rc, 0)
        self.assertEqual(z.publish("zed/x", b"1", qos=1, pid=1).rc, 0x10)

    def test_listener_auth_replaces_top(self):
        p2 = self.broker.ports[1]
        _, rc = self.conn4("l-1", port=p2)
        self.assertEqual(rc, 5)  # password_file there: anonymous refused
        _, rc = self.conn4("l-2", "zed", "bad", port=p2)
        self.assertEqual(rc, 4)
        z, rc = self.conn5("l-3", "zed", "zpw", port=p2)
        self.assertEqual(rc, 0)
        # no ACL on that listener: everything goes
        self.assertEqual(z.publish("any/where", b"1", qos=1, pid=1).rc, 0x10)


if __name__ == "__main__":
    unittest.main()
