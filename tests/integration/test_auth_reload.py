"""Authentication reloads with the config (issue 13 item 8): a user added to
the password file can connect after SIGHUP, a removed one cannot, a client
already connected stays connected, and a bad password file refuses the
whole reload (the running files stay)."""
import os
import signal
import time
import unittest

import rawmqtt as R
from auth_util import line7
from harness import ConfigBroker, HOST, free_port


class AuthReload(unittest.TestCase):
    def setUp(self):
        self.clients = []

        def make(tmp):
            self.passwd = os.path.join(tmp, "passwd")
            with open(self.passwd, "w") as f:
                f.write(line7("alice", "a-pw", 101))
            port = free_port()
            self.port = port
            return ({"listeners": [{"protocol": "mqtt", "bind": "%s:%d" % (HOST, port)}],
                     "auth": {"allow_anonymous": False, "password_file": self.passwd}}, [port])
        self.b = ConfigBroker(make)

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.assertEqual(self.b.stop(), 0)

    def connack(self, user, pw):
        c = R.RawClient(self.port)
        self.clients.append(c)
        return c, c.connect("c-%s-%f" % (user, time.time()), username=user, password=pw).rc

    def reload(self, marker):
        n = self.b.log_text().count(marker)
        self.b.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while self.b.log_text().count(marker) <= n:
            self.assertLess(time.monotonic(), deadline, "no %s line" % marker)
            time.sleep(0.02)  # polling the log for the sync line

    def test_users_change_on_sighup_connected_clients_stay(self):
        alice, rc = self.connack("alice", "a-pw")
        self.assertEqual(rc, 0)
        self.assertEqual(self.connack("bob", "b-pw")[1], 4)
        with open(self.passwd, "w") as f:
            f.write(line7("bob", "b-pw", 101))
        self.reload("password, ACL and JWT files reloaded")
        self.assertEqual(self.connack("bob", "b-pw")[1], 0)
        self.assertEqual(self.connack("alice", "a-pw")[1], 4)
        alice.send(R.pingreq())  # the connected client was not dropped
        alice.expect(R.PINGRESP)

    def test_bad_password_file_refuses_the_reload(self):
        with open(self.passwd, "w") as f:
            f.write("this is not a password line\n")
        self.reload("SLUICE-RELOAD-REFUSED")
        self.assertEqual(self.connack("alice", "a-pw")[1], 0)


if __name__ == "__main__":
    unittest.main()
