"""The command line: a bad config is refused at start with the file, the
JSON path and the expectation, exit status 2; --check; --repair; unknown
arguments. Runs the real binary."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import sluice_bin, is_mosquitto


@unittest.skipIf(is_mosquitto(), "sluice command line")
class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sluice-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_sluice(self, *args):
        return subprocess.run([sluice_bin(), *args], capture_output=True, timeout=30, text=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_wrong_type_names_file_path_and_expectation(self):
        bad = self.write("bad.json", json.dumps(
            {"listeners": [{"protocol": "mqtt", "bind": "127.0.0.1:1883"},
                           {"protocol": "ws", "bind": 8083}]}))
        r = self.run_sluice("-c", bad)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("bad.json", r.stderr)
        self.assertIn("listeners[1].bind", r.stderr)
        self.assertIn("expected", r.stderr)

    def test_unknown_key_is_refused(self):
        bad = self.write("typo.json", '{"mqtt": {"max_inflght": 10}}')
        r = self.run_sluice("-c", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("mqtt.max_inflght", r.stderr)

    def test_syntax_error_gives_line(self):
        bad = self.write("syntax.json", '{\n  "workers": 2,\n  oops\n}')
        r = self.run_sluice("-c", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("syntax.json:3", r.stderr)

    def test_missing_file(self):
        r = self.run_sluice("-c", os.path.join(self.tmp, "nope.json"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("nope.json", r.stderr)

    def test_check_accepts_a_good_file(self):
        good = self.write("good.json", '{"workers": 1}')
        r = self.run_sluice("-c", good, "--check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)

    def test_unknown_argument_is_refused(self):
        r = self.run_sluice("--frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown argument", r.stderr)

    def test_repair_on_a_fresh_directory(self):
        cfg = self.write("c.json", json.dumps({"data_dir": os.path.join(self.tmp, "data")}))
        os.makedirs(os.path.join(self.tmp, "data"))
        r = self.run_sluice("-c", cfg, "--repair")
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
