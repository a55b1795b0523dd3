"""`make run` installs only what building and running need (issue 11,
item 11): never the mosquitto broker package (its systemd unit takes port
1883 on a normal Debian box, and sluice then cannot start), gnuplot or
ImageMagick. Read from make's own database (`make -pn`), so nothing is
installed or run."""
import os
import re
import subprocess
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NOT_FOR_RUN = {"mosquitto", "gnuplot", "gnuplot-nox", "imagemagick", "chromium", "nodejs", "npm",
               "kcat", "python3-paho-mqtt"}


def make_db(target):
    p = subprocess.run(["make", "-C", REPO, "-pn", target], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, MAKEFLAGS=""))
    return p.stdout


def variable(db, name):
    m = re.search(r"^%s :?= (.*)$" % re.escape(name), db, re.M)
    return m.group(1) if m else None


def prerequisites(db, target):
    """The target's prerequisites (not its target-specific variables)."""
    out = []
    for line in re.findall(r"^%s:(.*)$" % re.escape(target), db, re.M):
        if "=" not in line:
            out += [w for w in line.split() if w != "|"]
    return out


class MakeRunDeps(unittest.TestCase):
    def packages_installed_by(self, target):
        """Every package list variable the target's prerequisite chain
        installs, expanded by make itself."""
        db = make_db(target)
        seen, todo, pkgs = set(), [target], set()
        while todo:
            t = todo.pop()
            if t in seen:
                continue
            seen.add(t)
            todo += prerequisites(db, t)
            # the target's entry runs to the next blank line: its recipe
            # lines are the ones that start with a tab
            m = re.search(r"^%s:.*\n(?:.+\n)*" % re.escape(t), db, re.M)
            recipe = "".join(l for l in (m.group(0) if m else "").splitlines(True)
                             if l.startswith("\t"))
            for var in re.findall(r"\$\((\w+_PKGS|DEB_PKGS)\)", recipe):
                pkgs.update((variable(db, var) or "").split())
        return seen, pkgs

    def test_make_run_installs_only_build_and_run_needs(self):
        targets, pkgs = self.packages_installed_by("run")
        self.assertIn("librdkafka-dev", pkgs, "no package list found for make run: %s" % targets)
        self.assertFalse(pkgs & NOT_FOR_RUN,
                         "make run would install %s" % sorted(pkgs & NOT_FOR_RUN))

    def test_make_test_still_installs_the_test_tools(self):
        _, pkgs = self.packages_installed_by("test")
        for p in ("mosquitto-clients", "kcat", "python3-paho-mqtt"):
            self.assertIn(p, pkgs)


if __name__ == "__main__":
    unittest.main()
