"""The HTTP admin API (issue 15 item 1): every endpoint authorised and not,
good and bad input, each with its documented status and JSON error; the
OpenAPI document checked against the real routes; the API's publish reaching
MQTT subscribers (properties included); kicking a v5 client (DISCONNECT
0x98); API keys from a file; the API absent from device ports.
Negative assertions ("nothing was delivered") are proved by a sentinel
message sent after them."""
import base64
import os
import re
import unittest
import urllib.parse

import raw5
from admin_util import KEY, AdminBroker
from harness import is_mosquitto

T = 5.0


def c5(broker, cid, props=None, **kw):
    c = raw5.Client5(broker.port)
    ack = c.connect(cid, props=props, **kw)
    assert ack.rc == 0, ack
    return c


@unittest.skipIf(is_mosquitto(), "sluice-specific API")
class AdminApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = AdminBroker()

    @classmethod
    def tearDownClass(cls):
        cls.b.stop_clean()

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass

    def client(self, cid, **kw):
        c = c5(self.b, cid, **kw)
        self.clients.append(c)
        return c

    def api(self, *a, **kw):
        return self.b.api(*a, **kw)

    def assertError(self, got, status, code):
        st, _, body = got
        self.assertEqual(st, status, body)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(body.get("error"), code, body)
        self.assertTrue(body.get("message"), body)

    # -- authentication --------------------------------------------------
    def test_every_documented_route_needs_the_key(self):
        st, _, doc = self.api("GET", "/api/v1/openapi.json")
        self.assertEqual(st, 200)
        for path, item in doc["paths"].items():
            url = "/api/v1" + path.replace("{id}", "x").replace("{topic}", "a/b")
            for method in ("get", "post", "delete"):
                if method not in item:
                    continue
                for key in (None, "wrong-key", KEY[:-1], KEY + "x"):
                    st, hdrs, body = self.api(method.upper(), url, key=key,
                                              raw=b"{}" if method == "post" else None)
                    self.assertEqual(st, 401, (method, url, key, body))
                    self.assertEqual(body.get("error"), "unauthorized")
                    self.assertEqual(hdrs.get("www-authenticate"), "Bearer")
                    self.assertNotIn(KEY, str(body))

    def test_basic_scheme_refused(self):
        st, _, body = self.api("GET", "/api/v1/stats", key=None,
                               headers={"Authorization": "Basic " + KEY})
        self.assertEqual(st, 401, body)

    def test_not_on_device_ports(self):
        st, _, body = self.api("GET", "/api/v1/stats", port=self.b.ws)
        self.assertEqual(st, 404, body)
        self.assertNotIsInstance(body, dict)

    # -- routing ---------------------------------------------------------
    def test_openapi_matches_routes(self):
        """For each documented path, the methods the server allows (its 405
        answer to PUT) are exactly the documented ones, and each documented
        method is served (not 404 "no such endpoint", not 405)."""
        st, _, doc = self.api("GET", "/api/v1/openapi.json")
        self.assertEqual(doc["openapi"][:2], "3.")
        for path, item in doc["paths"].items():
            url = "/api/v1" + path.replace("{id}", "nobody").replace("{topic}", "no/such")
            st, _, body = self.api("PUT", url)
            self.assertError((st, None, body), 405, "method_not_allowed")
            served = sorted(m.strip().lower() for m in body["message"].split(":")[1].split(","))
            documented = sorted(m for m in item if m in ("get", "post", "delete"))
            self.assertEqual(served, documented, path)
            for m in documented:
                if m == "post":
                    continue  # bodies are tested per endpoint
                st, _, body = self.api(m.upper(), url)
                self.assertNotIn(st, (405,), (m, url, body))
                if st == 404:
                    self.assertNotEqual(body.get("message"), "no such endpoint", (m, url))
        self.assertError(self.api("GET", "/api/v1/nothing"), 404, "not_found")

    def test_operations_md_documents_every_route(self):
        """docs/OPERATIONS.md lists exactly the documented (method, path) pairs."""
        st, _, doc = self.api("GET", "/api/v1/openapi.json")
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                               "OPERATIONS.md")) as f:
            text = f.read()
        want = {"%s /api/v1%s" % (m.upper(), p) for p, item in doc["paths"].items()
                for m in item if m in ("get", "post", "delete")}
        got = set(re.findall(r"`((?:GET|POST|DELETE) /api/v1[^`? ]*)`", text))
        self.assertEqual(got, want)

    def test_wrong_method(self):
        self.assertError(self.api("GET", "/api/v1/publish"), 405, "method_not_allowed")
        self.assertError(self.api("DELETE", "/api/v1/stats"), 405, "method_not_allowed")
        self.assertError(self.api("POST", "/api/v1/clients", raw=b"{}"), 405,
                         "method_not_allowed")

    # -- clients ---------------------------------------------------------
    def test_clients_list_filters_and_pages(self):
        a = self.client("flt-a1", username="alice")
        a.subscribe([("x/#", 1)])
        self.client("flt-a2")
        self.client("flt-b1")
        st, _, body = self.api("GET", "/api/v1/clients?clientid=flt-a")
        self.assertEqual(st, 200, body)
        ids = sorted(c["clientid"] for c in body["data"])
        self.assertEqual(ids, ["flt-a1", "flt-a2"])
        self.assertEqual(body["meta"]["count"], 2)
        st, _, body = self.api("GET", "/api/v1/clients?username=alice")
        self.assertEqual([c["clientid"] for c in body["data"]], ["flt-a1"])
        one = body["data"][0]
        self.assertEqual(one["protocol"], "5")
        self.assertEqual(one["listener"], "mqtt:%d" % self.b.port)
        self.assertTrue(one["connected"])
        self.assertEqual(one["peer"], "127.0.0.1")
        self.assertEqual(one["subscriptions_count"], 1)
        st, _, body = self.api("GET", "/api/v1/clients?clientid=flt-&limit=1&page=2")
        self.assertEqual(len(body["data"]), 1)
        self.assertEqual(body["meta"], {"page": 2, "limit": 1, "count": 3})
        st, _, body = self.api("GET", "/api/v1/clients?clientid=flt-&listener=ws")
        self.assertEqual(body["data"], [])
        st, _, body = self.api("GET", "/api/v1/clients?clientid=flt-&listener=%d" % self.b.port)
        self.assertEqual(body["meta"]["count"], 3)
        for bad in ("page=0", "limit=1001", "limit=x", "page=-1", "connected=maybe"):
            self.assertError(self.api("GET", "/api/v1/clients?" + bad), 400, "bad_request")

    def test_client_detail_offline_and_unknown(self):
        c = self.client("det-1", props=[(0x11, 600)], keepalive=33)
        c.subscribe([("det/+/x", 2)])
        st, _, body = self.api("GET", "/api/v1/clients/det-1")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["keepalive"], 33)
        self.assertEqual(body["session_expiry_interval"], 600)
        self.assertEqual(body["subscriptions"], [{"topic": "det/+/x", "qos": 2}])
        c.disconnect()
        # offline now: the session stays (expiry 600)
        deadline = T
        import time
        end = time.monotonic() + deadline
        while True:
            st, _, body = self.api("GET", "/api/v1/clients/det-1")
            if not body.get("connected") or time.monotonic() > end:
                break
            time.sleep(0.05)
        self.assertEqual(st, 200)
        self.assertFalse(body["connected"])
        st, _, body = self.api("GET", "/api/v1/clients?connected=false&clientid=det-")
        self.assertEqual([x["clientid"] for x in body["data"]], ["det-1"])
        self.assertError(self.api("GET", "/api/v1/clients/nobody-here"), 404, "not_found")

    def test_kick_v5_gets_0x98_and_discard_ends_session(self):
        c = self.client("kick-1", props=[(0x11, 600)])
        st, _, body = self.api("DELETE", "/api/v1/clients/kick-1")
        self.assertEqual(st, 200, body)
        self.assertEqual(body, {"kicked": True, "session_discarded": False})
        d = c.expect_disconnect(T)
        self.assertIsNotNone(d)
        self.assertEqual(d.rc, 0x98)
        st, _, body = self.api("GET", "/api/v1/clients/kick-1")
        self.assertEqual(st, 200)  # the session persists
        self.assertFalse(body["connected"])
        # kicking the offline client again: not connected
        self.assertError(self.api("DELETE", "/api/v1/clients/kick-1"), 404, "not_found")
        self.assertError(self.api("DELETE", "/api/v1/clients/kick-1?discard=maybe"), 400,
                         "bad_request")
        st, _, body = self.api("DELETE", "/api/v1/clients/kick-1?discard=true")
        self.assertEqual(st, 200, body)
        self.assertError(self.api("GET", "/api/v1/clients/kick-1"), 404, "not_found")
        self.assertError(self.api("DELETE", "/api/v1/clients/nobody?discard=true"), 404,
                         "not_found")

    def test_kick_with_discard_of_connected_client(self):
        c = self.client("kick-2", props=[(0x11, 600)])
        st, _, body = self.api("DELETE", "/api/v1/clients/kick-2?discard=true")
        self.assertEqual(body, {"kicked": True, "session_discarded": True})
        self.assertEqual(c.expect_disconnect(T).rc, 0x98)
        import time
        end = time.monotonic() + T
        while self.api("GET", "/api/v1/clients/kick-2")[0] != 404:
            self.assertLess(time.monotonic(), end, "session not ended")
            time.sleep(0.05)

    def test_subscriptions(self):
        c = self.client("subs-1")
        c.subscribe([("s/1", 1), ("s/2/#", 0x04 | 2)])
        st, _, body = self.api("GET", "/api/v1/subscriptions?clientid=subs-1")
        self.assertEqual(st, 200)
        got = sorted((s["topic"], s["qos"], s["no_local"]) for s in body["data"])
        self.assertEqual(got, [("s/1", 1, False), ("s/2/#", 2, True)])
        st, _, body = self.api("GET", "/api/v1/subscriptions?topic=s/1&clientid=subs-1")
        self.assertEqual(len(body["data"]), 1)
        self.assertError(self.api("GET", "/api/v1/subscriptions?limit=0"), 400, "bad_request")

    # -- publish ---------------------------------------------------------
    def test_publish_reaches_subscriber_with_properties(self):
        s = self.client("pub-sub")
        s.subscribe([("pub/#", 1)])
        st, _, body = self.api("POST", "/api/v1/publish", {
            "topic": "pub/t1", "payload": base64.b64encode(b"\x00\xffbin").decode(),
            "encoding": "base64", "qos": 1,
            "properties": {"content_type": "application/octet-stream",
                           "user_properties": {"k1": "v1", "k2": "v2"},
                           "response_topic": "pub/reply", "correlation_data": "c-1",
                           "message_expiry_interval": 100}})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["subscribers"], 1)
        p = s.recv_publish(T)
        self.assertEqual(p.topic, "pub/t1")
        self.assertEqual(p.payload, b"\x00\xffbin")
        self.assertEqual(p.qos, 1)
        self.assertEqual(p.props.get(0x03), "application/octet-stream")
        self.assertEqual(p.props.get(0x08), "pub/reply")
        self.assertEqual(p.props.get(0x09), b"c-1")
        self.assertEqual(sorted(p.props.user), [("k1", "v1"), ("k2", "v2")])
        self.assertIn(0x02, p.props)

    def test_publish_bad_input(self):
        s = self.client("bad-sub")
        s.subscribe([("bad/#", 0)])
        P = "/api/v1/publish"
        self.assertError(self.api("POST", P, raw=b"{not json"), 400, "bad_json")
        self.assertError(self.api("POST", P, raw=b""), 400, "bad_json")
        for body in ({"payload": "x"}, {"topic": 5}, {"topic": "bad/+"}, {"topic": ""},
                     {"topic": "bad/1", "qos": "1"}, {"topic": "bad/1", "qos": 3},
                     {"topic": "bad/1", "retain": "yes"}, {"topic": "bad/1", "encoding": "hex"},
                     {"topic": "bad/1", "payload": "!!!", "encoding": "base64"},
                     {"topic": "bad/1", "payload": 7}, {"topic": "bad/1", "extra": 1},
                     {"topic": "bad/1", "properties": {"nope": 1}},
                     {"topic": "bad/1", "properties": {"user_properties": {"k": 1}}},
                     {"topic": "bad/1", "properties": {"payload_format_indicator": 1},
                      "payload": "/w==", "encoding": "base64"},
                     {"topic": "$SYS/x"}, [1, 2]):
            self.assertError(self.api("POST", P, body), 400, "bad_request")
        st, hdrs, body = self.api("POST", P, raw=b"{\"topic\":\"bad/1\",\"payload\":\"" +
                                  b"a" * (1 << 20) + b"\"}")
        self.assertError((st, hdrs, body), 413, "too_large")
        # sentinel: none of the above was delivered
        self.assertEqual(self.api("POST", P, {"topic": "bad/sentinel"})[0], 200)
        self.assertEqual(s.recv_publish(T).topic, "bad/sentinel")

    def test_publish_bulk_all_or_nothing(self):
        s = self.client("bulk-sub")
        s.subscribe([("bulk/#", 0)])
        B = "/api/v1/publish/bulk"
        st, _, body = self.api("POST", B, [{"topic": "bulk/1", "payload": "one"},
                                           {"topic": "bulk/2", "payload": "two", "qos": 1}])
        self.assertEqual(st, 200, body)
        self.assertEqual([r["subscribers"] for r in body["data"]], [1, 1])
        self.assertEqual([s.recv_publish(T).payload for _ in range(2)], [b"one", b"two"])
        self.assertError(self.api("POST", B, [{"topic": "bulk/3"}, {"topic": "bulk/+"}]), 400,
                         "bad_request")
        self.assertError(self.api("POST", B, []), 400, "bad_request")
        self.assertError(self.api("POST", B, {"topic": "bulk/4"}), 400, "bad_request")
        self.api("POST", "/api/v1/publish", {"topic": "bulk/sentinel"})
        self.assertEqual(s.recv_publish(T).topic, "bulk/sentinel")  # not bulk/3

    # -- retained --------------------------------------------------------
    def test_retained_topics_get_delete(self):
        for t, pl in (("ret/a/1", "one"), ("ret/a/2", "two"), ("ret/b", "three")):
            st, _, _ = self.api("POST", "/api/v1/publish", {"topic": t, "payload": pl,
                                                            "retain": True, "qos": 1})
            self.assertEqual(st, 200)
        st, _, body = self.api("GET", "/api/v1/topics?match=" + urllib.parse.quote("ret/a/#"))
        self.assertEqual(st, 200, body)
        self.assertEqual(sorted(x["topic"] for x in body["data"]), ["ret/a/1", "ret/a/2"])
        self.assertError(self.api("GET", "/api/v1/topics?match=a/%23/b"), 400, "bad_request")
        st, _, body = self.api("GET", "/api/v1/retained/ret/a/1")
        self.assertEqual(st, 200, body)
        self.assertEqual((body["payload"], body["encoding"], body["qos"]), ("one", "plain", 1))
        self.assertError(self.api("GET", "/api/v1/retained/ret/+/1"), 400, "bad_request")
        self.assertError(self.api("GET", "/api/v1/retained/ret/none"), 404, "not_found")
        st, _, body = self.api("DELETE", "/api/v1/retained/ret/a/1")
        self.assertEqual(st, 204, body)
        self.assertError(self.api("GET", "/api/v1/retained/ret/a/1"), 404, "not_found")
        self.assertError(self.api("DELETE", "/api/v1/retained/ret/a/1"), 404, "not_found")
        # a new subscriber gets only what is left
        s = self.client("ret-sub")
        s.subscribe([("ret/#", 0)])
        got = sorted(s.recv_publish(T).topic for _ in range(2))
        self.assertEqual(got, ["ret/a/2", "ret/b"])

    def test_metrics_per_listener(self):
        c = self.client("ml-tcp")
        c.publish("ml/x", b"1", qos=1)  # returns once the PUBACK is in
        w = raw5.Client5(self.b.ws, ws=True)
        self.clients.append(w)
        self.assertEqual(w.connect("ml-ws").rc, 0)
        st, _, text = self.api("GET", "/metrics", key=None)
        self.assertEqual(st, 200)
        vals = dict(re.findall(r'^sluice_listener_connections\{listener="([^"]+)",[^}]*\} (\d+)$',
                               text, re.M))
        self.assertEqual(int(vals["ws:%d" % self.b.ws]), 1, text)
        self.assertGreaterEqual(int(vals["mqtt:%d" % self.b.port]), 1)
        self.assertNotIn("http:%d" % self.b.http, vals)
        self.assertIn("# TYPE sluice_publish_ack_seconds histogram", text)
        n = int(re.search(r"^sluice_publish_ack_seconds_count (\d+)$", text, re.M).group(1))
        self.assertGreaterEqual(n, 1)
        inf = re.search(r'^sluice_publish_ack_seconds_bucket\{le="\+Inf"\} (\d+)$', text, re.M)
        self.assertEqual(int(inf.group(1)), n)

    # -- read-only views -------------------------------------------------
    def test_stats_config_bridge(self):
        self.client("stats-1")
        st, _, body = self.api("GET", "/api/v1/stats")
        self.assertEqual(st, 200)
        self.assertGreaterEqual(body["conns"], 1)
        self.assertEqual(body["workers"], 2)
        st, _, body = self.api("GET", "/api/v1/config")
        self.assertEqual(st, 200)
        self.assertEqual(body["admin"]["api_keys"], ["***"])
        self.assertEqual(body["node_id"], "admin-test")
        st, _, text = self.api("GET", "/api/v1/config")
        self.assertNotIn(KEY, str(text))
        st, _, body = self.api("GET", "/api/v1/bridge")
        self.assertEqual((st, body), (200, {"enabled": False}))
        self.assertError(self.api("GET", "/api/v1/bridge/dead-letters"), 409, "conflict")
        self.assertError(self.api("POST", "/api/v1/bridge/dead-letters/replay"), 409, "conflict")


@unittest.skipIf(is_mosquitto(), "sluice-specific API")
class AdminKeysTest(unittest.TestCase):
    def test_keys_file_and_disabled_api(self):
        def extra(tmp):
            path = os.path.join(tmp, "keys")
            with open(path, "w") as f:
                f.write("# operators\n\n  file-key-1  \nfile-key-2\n")
            return {"admin": {"api_keys_file": path}}
        b = AdminBroker(admin={}, extra=extra)
        try:
            for k in ("file-key-1", "file-key-2"):
                self.assertEqual(b.api("GET", "/api/v1/stats", key=k)[0], 200)
            self.assertEqual(b.api("GET", "/api/v1/stats", key="# operators")[0], 401)
            self.assertEqual(b.api("GET", "/api/v1/stats", key=KEY)[0], 401)
        finally:
            b.stop_clean()
        b = AdminBroker(admin={})
        try:
            st, _, body = b.api("GET", "/api/v1/stats")
            self.assertEqual(st, 403)
            self.assertEqual(body["error"], "disabled")
            self.assertEqual(b.api("GET", "/healthz", key=None)[0], 200)
        finally:
            b.stop_clean()


if __name__ == "__main__":
    unittest.main()
