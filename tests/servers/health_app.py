"""A deployed application's health endpoint that turns healthy after a delay (or never).

Run: python health_app.py --port-file F [--healthy-after SECONDS | --never]
GET /health -> 503 {"status": "STARTING"} until healthy, then 200 {"status": "UP"}.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--healthy-after", type=float, default=2.0)
    parser.add_argument("--never", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            healthy = not args.never and time.monotonic() - started >= args.healthy_after
            body = json.dumps({"status": "UP" if healthy else "STARTING"}).encode()
            self.send_response(200 if healthy else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *values: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    temp = args.port_file + ".tmp"
    with open(temp, "w") as handle:
        handle.write(str(server.server_address[1]))
    os.replace(temp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
