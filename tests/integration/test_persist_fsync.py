"""sync "always" acknowledges only after fsync (issue 5).  kill -9 cannot
show this (the page cache survives a killed process), so the broker's
system calls are watched with strace: between reading a QoS 1 PUBLISH (for
an offline persistent subscriber, so its queued copy must be durable) and
writing its PUBACK, an fsync/fdatasync must have completed.  With sync
"batch" no such wait is required (not checked).  Skipped without strace or
ptrace permission.
"""

import os
import re
import select
import shutil
import subprocess
import time
import unittest

from persist_util import PersistCase, log

PID = 0x1234
SYSCALLS = ("read,readv,recvfrom,recvmsg,write,writev,sendto,sendmsg,"
            "fsync,fdatasync,sync_file_range")


def hexs(data):
    return "".join("\\x%02x" % c for c in data)


class FsyncBeforeAck(PersistCase, unittest.TestCase):

    def test_puback_after_fsync_with_sync_always(self):
        strace = shutil.which("strace")
        if not strace:
            self.skipTest("strace not installed")
        b = self.broker(sync="always", workers=1)
        b.start()
        topic = "fsync/%d" % os.getpid()
        s = b.client("fsync-sub-%d" % os.getpid(), clean=False)
        s.subscribe([(topic, 1)])
        b.disconnect(s)  # offline: its copy of the PUBLISH must be durable
        p = self.track(b.client("fsync-pub-%d" % os.getpid()))
        out = os.path.join(b.tmp, "strace.txt")
        tr = subprocess.Popen([strace, "-f", "-xx", "-s", "256", "-o", out,
                               "-e", "trace=" + SYSCALLS, "-p", str(b.pid)],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        try:
            # wait until strace says it is attached (its stderr), or exits
            said = b""
            deadline = time.monotonic() + 10
            while b"attached" not in said and tr.poll() is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.fail("strace not attached after 10 s: %r" % said)
                r, _w, _x = select.select([tr.stderr], [], [], left)
                if r:
                    chunk = os.read(tr.stderr.fileno(), 4096)
                    if not chunk:
                        break
                    said += chunk
            if b"attached" not in said:
                tr.wait(5)
                self.skipTest("strace cannot attach: %s"
                              % (said + tr.stderr.read()).decode(
                                  errors="replace"))
            payload = b"durable-before-ack-%d" % os.getpid()
            # strace logs each call before the traced thread goes on, so
            # once the PUBACK is here its write and the fsync are logged
            p.publish(topic, payload, qos=1, pid=PID)
        finally:
            if tr.poll() is None:
                tr.terminate()
            tr.wait(10)
            tr.stderr.close()
        with open(out) as f:
            lines = f.read().splitlines()
        pub_hex = hexs(payload)
        ack_hex = hexs(bytes([0x40, 0x02, PID >> 8, PID & 0xFF]))
        i_pub = next((i for i, ln in enumerate(lines) if pub_hex in ln),
                     None)
        i_ack = next((i for i, ln in enumerate(lines)
                      if ack_hex in ln and re.search(
                          r"\b(write|writev|sendto|sendmsg)\(", ln)), None)
        if i_pub is None or i_ack is None:
            self.fail("could not find the PUBLISH read (%s) or the PUBACK "
                      "write (%s) in the trace:\n%s"
                      % (i_pub, i_ack, "\n".join(lines[:60])))
        between = lines[i_pub:i_ack]
        syncs = [ln for ln in between
                 if re.search(r"(fsync|fdatasync|sync_file_range)", ln) and
                 re.search(r"= 0\s*$", ln)]
        log("trace: PUBLISH at line %d, PUBACK at line %d, %d completed "
            "syncs between" % (i_pub, i_ack, len(syncs)))
        self.assertTrue(syncs, "PUBACK written without a completed "
                        "fsync/fdatasync after the PUBLISH was read:\n%s"
                        % "\n".join(between[-40:]))


if __name__ == "__main__":
    unittest.main()
