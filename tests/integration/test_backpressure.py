"""Clients that do not read.  One that publishes QoS 1 without ever reading
its PUBACKs: the broker stops reading it once its unread output passes
2 x max_out_bytes, instead of buffering acknowledgements without bound, and
keeps serving everyone else.  One that is closed (taken over) while its
socket is full: the broker drops it after the close grace (3 s) instead of
waiting for it forever."""
import socket
import time
import unittest

import rawmqtt as R
from harness import BrokerTestCase, vmrss_kb


class UnreadOutputTest(BrokerTestCase):
    broker_mqtt = {"max_out_bytes": 4096}

    def test_client_that_never_reads_is_not_read(self):
        self.skipForMosquitto("sluice's max_out_bytes")
        rss_before = vmrss_kb(self.broker.proc.pid)
        s = socket.create_connection(("127.0.0.1", self.broker.port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # keep ours small too
        s.sendall(R.connect("never-reads"))
        s.setblocking(False)
        chunk = b"".join(R.publish("bp/t", b"x" * 16, qos=1, pid=(i % 65535) + 1)
                         for i in range(2000))
        sent, deadline = 0, time.time() + 10
        while time.time() < deadline and sent < 200 * 1024 * 1024:
            try:
                sent += s.send(chunk)
            except BlockingIOError:
                time.sleep(0.05)  # the broker stopped reading us
                if time.time() > deadline - 7:
                    break
        # the broker took far less than we offered, and its memory did not grow with it
        self.assertLess(sent, 100 * 1024 * 1024, "broker kept reading a client that never reads")
        self.assertLess(vmrss_kb(self.broker.proc.pid) - rss_before, 64 * 1024,
                        "broker buffered the unread acknowledgements")
        other = self.client(self.uid())  # others are still served
        other.publish("bp/other", b"ok", qos=1)
        other.disconnect()
        s.close()


class CloseGraceTest(BrokerTestCase):
    broker_mqtt = {"max_out_bytes": 4096, "sys_interval": 1}

    def counts(self, watcher, until, timeout):
        """$SYS/broker/clients/connected values as they are published, until
        one equals `until` or the time is up."""
        seen, deadline = [], time.time() + timeout
        while time.time() < deadline:
            try:
                p = watcher.recv_publish(timeout=max(0.1, deadline - time.time()))
            except R.Timeout:
                break
            if p.topic == "$SYS/broker/clients/connected":
                seen.append(int(p.payload))
                if seen[-1] == until:
                    break
        return seen

    def test_closed_client_that_never_reads_is_dropped_after_grace(self):
        self.skipForMosquitto("sluice's close grace")
        watcher = self.raw()
        watcher.connect(self.uid("w"))
        watcher.subscribe("$SYS/broker/clients/connected")
        cid = self.uid("stuck")
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.settimeout(5)
        stuck.connect(("127.0.0.1", self.broker.port))
        # CONNACK and SUBACK stay unread, like everything after them
        stuck.sendall(R.connect(cid) + R.subscribe(1, [("grace/t", 0)]))
        pub = self.raw()
        pub.connect(self.uid("p"))
        self.assertEqual(self.counts(watcher, 3, 5)[-1:], [3])  # watcher, stuck, pub
        burst = b"".join(R.publish("grace/t", b"y" * 1024) for _ in range(1000))
        for _ in range(16):  # 16 MB: more than every socket buffer in between
            pub.send(burst)
        # take the session over: the old connection is closed, its output unwritten
        taker = self.raw()
        taker.connect(cid)
        t0 = time.time()
        seen = self.counts(watcher, 3, 8)  # watcher, pub, taker: the stuck one gone
        self.assertEqual(seen[-1:], [3], "stuck connection still counted: %r" % seen)
        self.assertIn(4, seen, "the stuck connection was not held for the grace: %r" % seen)
        self.assertLess(time.time() - t0, 6.5)
        stuck.close()
        for c in (pub, taker, watcher):
            c.close()


if __name__ == "__main__":
    unittest.main()
