"""The HTTP authentication hook of tests/bench/hook.sh: allow at once,
except user "slow", allowed after SLOW_S seconds (an overloaded identity
service). Loopback; prints its port, then serves until killed.
Usage: python3 hook_server.py SLOW_S
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_S = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0


class Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        if body.get("username") == "slow":
            time.sleep(SLOW_S)
        data = b'{"result":"allow"}'
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
