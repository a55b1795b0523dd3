"""QoS 2 exactly once to an ONLINE subscriber across kill -9 (issue 5):
the subscriber is connected and completing QoS 2 flows while the broker is
killed mid-stream; after the restart it reconnects (its ids awaiting PUBREL
are session state and are kept, MQTT-4.3.3) and must get every
acknowledged message, none twice.

This needs the outbound packet id (queue -> in-flight) and the PUBREL state
to be on disk before the PUBLISH / PUBREL goes out: a PUBLISH re-sent under
a new id after the restart is a duplicate no receiver can detect, and the
old id, still awaiting PUBREL at the receiver, swallows the next message
sent with it.  Rounds, seed and N as in test_persist_crash.py.
"""

import unittest

import test_persist_crash as crash


class CrashOnlineSubscriberQos2(crash.CrashRounds, unittest.TestCase):

    def test_qos2_online_subscriber_kill9_exactly_once(self):
        self.online_rounds(2)


if __name__ == "__main__":
    unittest.main()
