"""`make install` (issue 15 item 7): DESTDIR/PREFIX produce a tree with the
binary, man page, starting config, examples and a systemd unit; the
installed binary runs (--version, --check on the installed config, a
broker that accepts an MQTT connection and stops with exit 0); --help and
the man page name every option; the unit passes `systemd-analyze verify`
(where systemd-analyze exists) once its paths point into the tree."""
import os
import shutil
import subprocess
import tempfile
import unittest

import rawmqtt
from harness import ConfigBroker, free_port, is_mosquitto, sluice_bin

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OPTIONS = ["--config", "--check", "--repair", "--dev-kafka", "dlq", "ctl", "--version",
           "--help"]


@unittest.skipIf(is_mosquitto(), "sluice-specific")
class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="sluice-install-")
        build = os.path.dirname(os.path.abspath(sluice_bin()))
        p = subprocess.run(["make", "-C", ROOT, "install", "DESTDIR=" + cls.dest,
                            "PREFIX=/usr", "BUILD=" + build],
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        cls.make = p

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def path(self, p):
        return os.path.join(self.dest, p.lstrip("/"))

    def test_tree_runs(self):
        self.assertEqual(self.make.returncode, 0, self.make.stderr.decode())
        for f in ("usr/bin/sluice", "usr/share/man/man1/sluice.1", "etc/sluice/sluice.json",
                  "usr/lib/systemd/system/sluice.service",
                  "usr/share/doc/sluice/examples/sluice.json",
                  "usr/share/doc/sluice/examples/grafana-sluice.json",
                  "usr/share/doc/sluice/OPERATIONS.md"):
            self.assertTrue(os.path.isfile(self.path(f)), f)
        binary = self.path("usr/bin/sluice")
        self.assertTrue(os.access(binary, os.X_OK))
        out = subprocess.run([binary, "--version"], capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        self.assertTrue(out.stdout.startswith(b"sluice "))
        out = subprocess.run([binary, "--check", "-c", self.path("etc/sluice/sluice.json")],
                             capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 0, out.stderr)
        # the installed binary serves
        port = free_port()

        def cfg(tmp):
            return {"listeners": [{"protocol": "mqtt", "bind": "127.0.0.1:%d" % port}]}, [port]
        old = os.environ.get("SLUICE_BIN")
        os.environ["SLUICE_BIN"] = binary
        try:
            b = ConfigBroker(cfg)
        finally:
            if old is None:
                os.environ.pop("SLUICE_BIN")
            else:
                os.environ["SLUICE_BIN"] = old
        try:
            c = rawmqtt.RawClient(port)
            self.assertEqual(c.connect("installed").rc, 0)
            c.disconnect()
        finally:
            self.assertEqual(b.stop(), 0)

    def test_help_and_man_page_name_every_option(self):
        out = subprocess.run([self.path("usr/bin/sluice"), "--help"], capture_output=True,
                             timeout=10).stdout.decode()
        with open(self.path("usr/share/man/man1/sluice.1")) as f:
            man = f.read().replace("\\-", "-")
        for opt in OPTIONS:
            self.assertIn(opt, out)
            self.assertIn(opt, man)
        for cmd in ("clients", "kick", "publish", "reload", "bridge", "stats"):
            self.assertIn(cmd, out)
            self.assertIn(cmd, man)

    def test_unit(self):
        with open(self.path("usr/lib/systemd/system/sluice.service")) as f:
            unit = f.read()
        for want in ("Type=simple", "ExecStart=/usr/bin/sluice -c /etc/sluice/sluice.json",
                     "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=sluice",
                     "WorkingDirectory=/var/lib/sluice", "LimitNOFILE=1048576",
                     "NoNewPrivileges=yes", "ProtectSystem=strict"):
            self.assertIn(want, unit)
        sa = shutil.which("systemd-analyze")
        if not sa:
            self.skipTest("no systemd-analyze")
        local = os.path.join(self.dest, "sluice.service")
        with open(local, "w") as f:
            f.write(unit.replace("/usr/bin/sluice", self.path("usr/bin/sluice"))
                    .replace("/etc/sluice", self.path("etc/sluice")))
        env = dict(os.environ, MANPATH=self.path("usr/share/man"))
        p = subprocess.run([sa, "verify", local], capture_output=True, timeout=60, env=env)
        self.assertEqual(p.returncode, 0, p.stderr.decode() + p.stdout.decode())


if __name__ == "__main__":
    unittest.main()
