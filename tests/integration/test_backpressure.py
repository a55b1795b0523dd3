"""A client that publishes QoS 1 without ever reading its PUBACKs: the
broker stops reading it once its unread output passes 2 x max_out_bytes,
instead of buffering acknowledgements without bound, and keeps serving
everyone else."""
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


if __name__ == "__main__":
    unittest.main()
