"""Static files on an `http` listener with "static_dir" (the browser console,
issue 16): content types, ETag / Cache-Control / 304, JSON 404 and 403, and
never a byte from outside the directory: `..` in every spelling, absolute
paths, symlinks leading out, oversized files.  The traversal requests go out
as raw bytes on a socket so no client library normalises them first."""
import os
import socket
import unittest

from harness import ConfigBroker, free_port, is_mosquitto

SECRET = b"TOP-SECRET-outside-static-dir"


def raw_get(port, target, extra=b"", method=b"GET"):
    """Send one request line exactly as given; returns (status, headers
    dict, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra +
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > 8 << 20:
                break
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines or len(lines[0].split()) < 2:
        return None, {}, body
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        hdrs[k.strip().lower().decode()] = v.strip().decode()
    return status, hdrs, body


@unittest.skipIf(is_mosquitto(), "sluice-specific listener")
class StaticFilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        def config(tmp):
            root = os.path.join(tmp, "www")
            os.makedirs(os.path.join(root, "sub"))
            with open(os.path.join(tmp, "secret.txt"), "wb") as f:
                f.write(SECRET)
            files = {"index.html": b"<!doctype html><title>console</title>",
                     "app.js": b"export const x = 1;\n",
                     "style.css": b"body{}\n",
                     "data.json": b"{}\n",
                     "sub/index.html": b"<p>sub</p>"}
            for name, body in files.items():
                with open(os.path.join(root, name), "wb") as f:
                    f.write(body)
            with open(os.path.join(root, "big.bin"), "wb") as f:
                f.truncate((4 << 20) + 1)
            os.symlink(os.path.join(tmp, "secret.txt"), os.path.join(root, "out.txt"))
            os.symlink(tmp, os.path.join(root, "updir"))
            os.symlink(os.path.join(root, "app.js"), os.path.join(root, "in.js"))
            cls.http = free_port()
            return {"listeners": [{"protocol": "http", "bind": "127.0.0.1:%d" % cls.http,
                                   "static_dir": root}]}, [cls.http]
        cls.broker = ConfigBroker(config)

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop_clean()

    def get(self, target, extra=b""):
        return raw_get(self.http, target, extra)

    def assertRefused(self, target, status):
        st, hdrs, body = self.get(target)
        self.assertNotIn(SECRET, body, target)
        self.assertEqual(st, status, (target, body))
        self.assertTrue(hdrs.get("content-type", "").startswith("application/json"), hdrs)

    def test_index_and_content_types(self):
        for target, ctype in [(b"/", "text/html"), (b"/index.html", "text/html"),
                              (b"/app.js", "javascript"), (b"/style.css", "text/css"),
                              (b"/data.json", "application/json"), (b"/sub/", "text/html")]:
            st, hdrs, body = self.get(target)
            self.assertEqual(st, 200, target)
            self.assertIn(ctype, hdrs["content-type"], target)
            self.assertEqual(hdrs.get("x-content-type-options"), "nosniff")
        self.assertEqual(self.get(b"/app.js")[2], b"export const x = 1;\n")

    def test_endpoints_still_answer(self):
        self.assertEqual(self.get(b"/healthz")[:1], (200,))

    def test_etag_and_304(self):
        st, hdrs, body = self.get(b"/app.js")
        self.assertEqual(st, 200)
        self.assertIn("no-cache", hdrs["cache-control"])
        self.assertTrue(hdrs["last-modified"].endswith("GMT"))
        etag = hdrs["etag"].encode()
        st2, _, body2 = self.get(b"/app.js", b"If-None-Match: " + etag + b"\r\n")
        self.assertEqual((st2, body2), (304, b""))
        st3, _, _ = self.get(b"/app.js", b'If-None-Match: "other"\r\n')
        self.assertEqual(st3, 200)

    def test_if_modified_since(self):
        st, hdrs, _ = self.get(b"/app.js")
        self.assertEqual(st, 200)
        lm = hdrs["last-modified"].encode()
        st, _, body = self.get(b"/app.js", b"If-Modified-Since: " + lm + b"\r\n")
        self.assertEqual((st, body), (304, b""))
        old = b"If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n"
        st, _, body = self.get(b"/app.js", old)
        self.assertEqual((st, body), (200, b"export const x = 1;\n"))
        # not a date: ignored, the file is sent
        st, _, _ = self.get(b"/app.js", b"If-Modified-Since: yesterday\r\n")
        self.assertEqual(st, 200)
        # If-None-Match decides when both are given (RFC 9110 13.1.3)
        st, _, _ = self.get(b"/app.js", b'If-None-Match: "other"\r\n' +
                            b"If-Modified-Since: " + lm + b"\r\n")
        self.assertEqual(st, 200)

    def test_head_has_the_headers_of_get_and_no_body(self):
        st, hdrs, body = raw_get(self.http, b"/app.js", method=b"HEAD")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(hdrs["content-length"], str(len(b"export const x = 1;\n")))
        self.assertTrue(hdrs["content-type"].startswith("text/javascript"), hdrs)
        self.assertIn("etag", hdrs)
        st, _, body = raw_get(self.http, b"/../secret.txt", method=b"HEAD")
        self.assertIn(st, (403, 404))  # lws folds the "/../" first: not found
        self.assertNotIn(SECRET, body)

    def test_missing_is_json_404(self):
        self.assertRefused(b"/nope.html", 404)
        self.assertRefused(b"/sub/nope/deeper.js", 404)

    def test_dot_dot_in_every_spelling(self):
        for target in [b"/../secret.txt", b"/sub/../../secret.txt", b"/%2e%2e/secret.txt",
                       b"/%2E%2E%2Fsecret.txt", b"/sub/%2e%2e/%2e%2e/secret.txt",
                       b"/..%2fsecret.txt", b"/sub/..\\..\\secret.txt",
                       b"/%5c..%5csecret.txt", b"/./../secret.txt"]:
            st, _, body = self.get(target)
            self.assertNotIn(SECRET, body, target)
            self.assertIn(st, (400, 403, 404), target)

    def test_absolute_paths(self):
        for target in [b"//etc/passwd", b"/%2fetc/passwd", b"/etc/passwd",
                       b"http://127.0.0.1/../secret.txt"]:
            st, _, body = self.get(target)
            self.assertNotIn(b"root:", body, target)
            self.assertNotIn(SECRET, body, target)
            self.assertIn(st, (400, 403, 404), target)

    def test_symlink_leading_out_is_403(self):
        self.assertRefused(b"/out.txt", 403)
        self.assertRefused(b"/updir/secret.txt", 403)

    def test_symlink_inside_is_served(self):
        st, _, body = self.get(b"/in.js")
        self.assertEqual((st, body), (200, b"export const x = 1;\n"))

    def test_oversized_file_is_403(self):
        self.assertRefused(b"/big.bin", 403)

    def test_post_is_405(self):
        s = socket.create_connection(("127.0.0.1", self.http), timeout=5)
        s.sendall(b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                  b"Connection: close\r\n\r\n")
        data = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            data += c
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 405"), data[:80])


@unittest.skipIf(is_mosquitto(), "sluice-specific listener")
class StaticDirConfigTest(unittest.TestCase):
    def test_missing_directory_fails_at_start(self):
        import subprocess
        import tempfile
        from harness import sluice_bin
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "c.json")
            with open(path, "w") as f:
                f.write('{"listeners":[{"protocol":"http","bind":"127.0.0.1:%d",'
                        '"static_dir":"%s/none"}]}' % (free_port(), tmp))
            r = subprocess.run([sluice_bin(), "-c", path], capture_output=True, timeout=20)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"static_dir", r.stderr + r.stdout)

    def test_static_dir_only_for_http(self):
        import subprocess
        import tempfile
        from harness import sluice_bin
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "c.json")
            with open(path, "w") as f:
                f.write('{"listeners":[{"protocol":"mqtt","bind":"127.0.0.1:%d",'
                        '"static_dir":"%s"}]}' % (free_port(), tmp))
            r = subprocess.run([sluice_bin(), "-c", path], capture_output=True, timeout=20)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(b"only for protocol http", r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
