"""Notification receivers on 127.0.0.1: a JSON webhook and an SMTP server (aiosmtpd).

Run: python receivers.py --dir D
Writes D/http.port and D/smtp.port when listening, and appends every delivery to D/received.jsonl
as {"kind": "http"|"smtp", "headers": {...}, "body": "..."}. The HTTP side is an OTLP/HTTP receiver too: a
protobuf body (gzip-decompressed) is also kept byte-exact as "body_base64", for the telemetry tests to decode;
an empty 200 answer is an empty Export*ServiceResponse, as the OTLP/HTTP spec has it.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def _free_port() -> int:
    # aiosmtpd checks its own port by connecting to it, so it cannot be given port 0.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    folder = Path(args.dir)
    lock = threading.Lock()

    def record(entry: dict[str, Any]) -> None:
        with lock, open(folder / "received.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                raw = gzip.decompress(raw)
            entry = {
                "kind": "http",
                "path": self.path,
                "headers": dict(self.headers),
                "body": raw.decode("utf-8", "replace"),
            }
            if "protobuf" in self.headers.get("Content-Type", ""):
                entry["body_base64"] = base64.b64encode(raw).decode()
            record(entry)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # health
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *values: object) -> None:
            pass

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            login = session.auth_data
            record(
                {
                    "kind": "smtp",
                    "headers": {
                        "from": envelope.mail_from,
                        "to": envelope.rcpt_tos,
                        "login": login.decode() if isinstance(login, bytes) else str(login),
                    },
                    "body": envelope.content.decode("utf-8", "replace"),
                }
            )
            return "250 OK"

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == os.environ.get("SMTP_PASSWORD", "").encode()
        return AuthResult(success=ok, auth_data=data.login if ok else None)

    http = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    smtp = Controller(
        Mailbox(), hostname="127.0.0.1", port=_free_port(), authenticator=authenticate, auth_require_tls=False
    )
    smtp.start()
    for name, port in (("http", http.server_address[1]), ("smtp", smtp.port)):
        (folder / f"{name}.port.tmp").write_text(str(port))
        os.replace(folder / f"{name}.port.tmp", folder / f"{name}.port")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=http.shutdown).start())
    try:
        http.serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
