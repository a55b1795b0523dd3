"""Will messages: published on abnormal disconnect, not on DISCONNECT."""

import unittest

import rawmqtt as R
from harness import BrokerTestCase


class WillTest(BrokerTestCase):

    def watcher(self, topic, qos=1):
        s = self.client(self.uid("watch"))
        s.subscribe([(topic, qos), (topic + "/end", 1)])
        return s

    def test_will_on_socket_close_without_disconnect(self):
        wt = self.uid("will")
        s = self.watcher(wt)
        c = self.client(self.uid(), will=(wt, b"gone", 1, False))
        c.close()
        m = s.recv_publish(5)
        self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                         (wt, b"gone", 1, False))

    def test_no_will_on_disconnect(self):
        wt = self.uid("nowill")
        s = self.watcher(wt)
        c = self.client(self.uid(), will=(wt, b"must-not", 1, False))
        c.disconnect()
        # give the broker a moment to (wrongly) publish; then a marker
        self.assertTrue(s.no_packet(1.0))
        p = self.client(self.uid())
        p.publish(wt + "/end", b"end", qos=1)
        m = s.recv_publish()
        self.assertEqual(m.topic, wt + "/end")

    def test_will_retain(self):
        wt = self.uid("wr")
        w = self.watcher(wt)
        c = self.client(self.uid(), will=(wt, b"last", 1, True))
        c.close()
        # sync point: the will has been published (live, so retain=0 here)
        self.assertEqual(w.recv_publish(5).payload, b"last")
        # the will is retained: a later subscriber gets it with retain=1
        s = self.client(self.uid())
        s.subscribe([(wt, 1)])
        m = s.recv_publish(5)
        self.assertEqual((m.payload, m.retain), (b"last", True))

    def test_will_qos2(self):
        wt = self.uid("wq2")
        s = self.watcher(wt, qos=2)
        c = self.client(self.uid(), will=(wt, b"q2", 2, False))
        c.close()
        m = s.recv_publish(5)
        self.assertEqual((m.payload, m.qos), (b"q2", 2))

    def test_will_on_protocol_violation(self):
        wt = self.uid("wpv")
        s = self.watcher(wt)
        c = self.client(self.uid(), will=(wt, b"violated", 0, False))
        c.send(R.publish("a/+", b"x"))  # wildcard in PUBLISH topic
        c.wait_closed(5)
        m = s.recv_publish(5)
        self.assertEqual(m.payload, b"violated")

    def test_will_on_keepalive_timeout(self):
        wt = self.uid("wka")
        s = self.watcher(wt)
        c = self.client(self.uid(), keepalive=1, will=(wt, b"timeout", 1,
                                                        False))
        m = s.recv_publish(8)
        self.assertEqual(m.payload, b"timeout")
        self.assertTrue(c.is_closed(3))

    def test_will_level3_client(self):
        wt = self.uid("w31")
        s = self.watcher(wt)
        c = self.raw()
        ack = c.connect(self.uid(), level=3, will=(wt, b"v31", 0, False))
        self.assertEqual(ack.rc, 0)
        c.close()
        self.assertEqual(s.recv_publish(5).payload, b"v31")


if __name__ == "__main__":
    unittest.main()
