"""TLS and proxy helpers for the HTTP-layer tests: a throwaway PKI, the generic scheduler over HTTPS, a forward proxy.

* ``make_pki(directory)`` creates a CA, a server certificate for 127.0.0.1 (SAN IP:127.0.0.1) and a client
  certificate with the ``openssl`` command line tool.
* ``TlsScheduler.start(pki, ...)`` runs this file as a subprocess: it reuses generic_scheduler.py's
  ``SchedulerServer`` (handler, state and admin API unchanged) and wraps each accepted connection with
  ``ssl.SSLContext.wrap_socket(server_side=True)``, optionally requiring a client certificate signed by the CA.
* ``ForwardProxy`` is an in-process HTTP forward proxy on 127.0.0.1: absolute-URI requests are forwarded with
  ``http.client``; ``CONNECT`` is tunnelled with ``select``. It records each request line and the *names* of the
  headers it saw, never their values, so nothing it records can leak a credential into test output.

Only 127.0.0.1 is ever contacted; every wait and loop is bounded.

    python tests/servers/tls_proxy.py --port-file PATH --token TOKEN --cert PEM --key PEM [--client-ca PEM]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Optional
from urllib.parse import urlsplit

HOST = "127.0.0.1"
OPENSSL_TIMEOUT_S = 30.0
STARTUP_TIMEOUT_S = 15.0
STARTUP_POLL_S = 0.05
STOP_TIMEOUT_S = 5.0
ADMIN_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 10.0
UPSTREAM_TIMEOUT_S = 15.0
TUNNEL_MAX_S = 60.0
TUNNEL_IDLE_S = 15.0
MAX_BODY_BYTES = 10 * 1024 * 1024
# Hop-by-hop headers (RFC 9110 7.6.1) a proxy must not forward.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


# -- PKI ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    directory: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca_cert: Path  # a second, unrelated CA: trusting it must not make the server trusted


def openssl_binary() -> Optional[str]:
    return shutil.which("openssl")


def _openssl(*args: str, cwd: Path) -> None:
    binary = openssl_binary()
    if binary is None:
        raise RuntimeError("the openssl command line tool is not installed")
    result = subprocess.run(
        [binary, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=OPENSSL_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")


def _new_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key.name,
        "-out",
        cert.name,
        "-days",
        "2",
        "-subj",
        f"/CN=trigger-schedule test {name}",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "subjectKeyIdentifier=hash",
        cwd=directory,
    )
    return cert, key


def _new_leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: list[str]) -> tuple[Path, Path]:
    cert, key, csr, ext = (directory / f"{name}{suffix}" for suffix in (".pem", ".key", ".csr", ".ext"))
    ext.write_text(
        "\n".join(
            [
                "basicConstraints=critical,CA:FALSE",
                "keyUsage=critical,digitalSignature",
                "subjectKeyIdentifier=hash",
                "authorityKeyIdentifier=keyid",
                *extensions,
            ]
        )
        + "\n",
        encoding="ascii",
    )
    _openssl(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key.name,
        "-out",
        csr.name,
        "-subj",
        f"/CN={name}",
        cwd=directory,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        csr.name,
        "-CA",
        ca[0].name,
        "-CAkey",
        ca[1].name,
        "-CAcreateserial",
        "-out",
        cert.name,
        "-days",
        "2",
        "-extfile",
        ext.name,
        cwd=directory,
    )
    return cert, key


def make_pki(directory: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1, a client certificate, and an unrelated second CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _new_ca(directory, "ca")
    other_ca, _ = _new_ca(directory, "other-ca")
    server_cert, server_key = _new_leaf(
        directory, "server", ca, ["extendedKeyUsage=serverAuth", "subjectAltName=IP:127.0.0.1"]
    )
    client_cert, client_key = _new_leaf(directory, "client", ca, ["extendedKeyUsage=clientAuth"])
    return Pki(directory, ca[0], server_cert, server_key, client_cert, client_key, other_ca)


# -- the generic scheduler over HTTPS (subprocess) ---------------------------------------------


def server_context(cert: str, key: str, client_ca: Optional[str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


def client_context(pki: Pki, with_client_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    if with_client_cert:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


def serve_tls(argv: Optional[list[str]] = None) -> int:
    """The subprocess: generic_scheduler.py's server and handler, each connection wrapped in TLS."""
    parser = argparse.ArgumentParser(description="the generic scheduler over HTTPS")
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca", help="require a client certificate signed by this CA (mTLS)")
    parser.add_argument("--max-lifetime", type=float, default=3600.0)
    args = parser.parse_args(argv)

    tests_dir = str(Path(__file__).resolve().parent.parent)
    if tests_dir not in sys.path:
        sys.path.insert(0, tests_dir)
    from servers.generic_scheduler import SchedulerServer, State, write_port_file

    context = server_context(args.cert, args.key, args.client_ca)

    class TlsSchedulerServer(SchedulerServer):
        """Accepts plain TCP in the serving thread; the TLS handshake runs in the request's own thread."""

        def get_request(self) -> tuple[Any, Any]:
            sock, address = self.socket.accept()
            return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

        def finish_request(self, request: Any, client_address: Any) -> None:
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                print(f"tls handshake failed from {client_address[0]}: {exc}", file=sys.stderr, flush=True)
                return
            super().finish_request(request, client_address)

        def handle_error(self, request: Any, client_address: Any) -> None:
            print(f"error serving {client_address[0]}: {sys.exc_info()[1]!r}", file=sys.stderr, flush=True)

    state = State(token=args.token, signing_secret=None, initial_token=args.token, initial_signing_secret=None)
    server = TlsSchedulerServer((HOST, 0), state)
    server.base_url = f"https://{HOST}:{server.port}"
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    write_port_file(args.port_file, server.port)
    print(f"listening on {server.base_url}", file=sys.stderr, flush=True)
    parent = os.getppid()
    deadline = time.monotonic() + args.max_lifetime
    while not stop.wait(0.5):
        if time.monotonic() >= deadline or os.getppid() != parent:
            break
    server.shutdown()
    server.server_close()
    thread.join(timeout=STOP_TIMEOUT_S)
    return 0


class TlsScheduler:
    """A running generic scheduler over HTTPS on 127.0.0.1 (this file as a subprocess)."""

    def __init__(
        self, process: subprocess.Popen[bytes], pki: Pki, mtls: bool, workdir: Path, stderr_file: IO[bytes]
    ) -> None:
        self.process = process
        self.pki = pki
        self.mtls = mtls
        self.port = 0
        self._workdir = workdir
        self._stderr_file = stderr_file

    @classmethod
    def start(cls, pki: Pki, token: str, mtls: bool = False) -> TlsScheduler:
        workdir = Path(tempfile.mkdtemp(prefix="tls-scheduler-"))
        port_file = workdir / "port"
        stderr_file = open(workdir / "stderr.log", "w+b")  # noqa: SIM115 - closed in stop()
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--port-file",
            str(port_file),
            "--token",
            token,
            "--cert",
            str(pki.server_cert),
            "--key",
            str(pki.server_key),
        ]
        if mtls:
            command += ["--client-ca", str(pki.ca_cert)]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr_file)
        server = cls(process, pki, mtls, workdir, stderr_file)
        try:
            server._wait_ready(port_file)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, port_file: Path) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last_error = "port file not written yet"
        for _ in range(int(STARTUP_TIMEOUT_S / STARTUP_POLL_S) + 1):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"TLS scheduler exited with code {self.process.returncode} before it was ready\n{self.stderr()}"
                )
            if self.port == 0 and port_file.exists():
                text = port_file.read_text(encoding="ascii").strip()
                if text:
                    self.port = int(text)
            if self.port:
                try:
                    with urllib.request.urlopen(
                        f"{self.url}/healthz", timeout=1, context=client_context(self.pki, self.mtls)
                    ) as response:
                        if response.status == 200:
                            return
                except OSError as err:
                    last_error = f"healthz: {err}"
            if time.monotonic() >= deadline:
                break
            time.sleep(STARTUP_POLL_S)
        raise RuntimeError(f"TLS scheduler not ready after {STARTUP_TIMEOUT_S:.0f} s ({last_error})\n{self.stderr()}")

    def stop(self) -> Optional[int]:
        """SIGTERM this server's PID, wait up to 5 s, then SIGKILL it. Safe to call twice."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        if not self._stderr_file.closed:
            self._stderr_file.close()
        shutil.rmtree(self._workdir, ignore_errors=True)
        return self.process.returncode

    def stderr(self) -> str:
        if self._stderr_file.closed:
            return ""
        self._stderr_file.flush()
        return (self._workdir / "stderr.log").read_text(encoding="utf-8", errors="replace")

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def _admin(self, method: str, path: str, payload: Optional[dict[str, Any]] = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(f"{self.url}/_admin/{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(
                request, timeout=ADMIN_TIMEOUT_S, context=client_context(self.pki, self.mtls)
            ) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"admin {method} /_admin/{path} failed: HTTP {err.code}") from None

    def requests(self, endpoint: Optional[str] = None) -> list[dict[str, Any]]:
        recorded: list[dict[str, Any]] = self._admin("GET", "requests")["requests"]
        return [entry for entry in recorded if endpoint is None or entry["endpoint"] == endpoint]

    def reset(self) -> None:
        self._admin("POST", "reset", {})


# -- a forward proxy (in-process) ---------------------------------------------------------------


@dataclass(frozen=True)
class ProxiedRequest:
    """One request as the proxy saw it: the request line and header *names* (values are never kept)."""

    method: str
    target: str
    header_names: tuple[str, ...]
    status: int


@dataclass
class ProxyLog:
    lock: threading.Lock = field(default_factory=threading.Lock)
    entries: list[ProxiedRequest] = field(default_factory=list)

    def add(self, entry: ProxiedRequest) -> None:
        with self.lock:
            self.entries.append(entry)

    def snapshot(self) -> list[ProxiedRequest]:
        with self.lock:
            return list(self.entries)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = UPSTREAM_TIMEOUT_S
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the request line is in the ProxyLog, and headers are never printed

    def _record(self, status: int) -> None:
        names = tuple(sorted({name.lower() for name in self.headers}))
        self.server.log.add(ProxiedRequest(self.command, self.path, names, status))

    def _refuse(self, status: int, reason: str) -> None:
        self._record(status)
        body = reason.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _forward(self) -> None:
        parts = urlsplit(self.path)
        if parts.scheme != "http" or not parts.hostname:
            self._refuse(400, "a forward proxy needs an absolute http:// URI")
            return
        if parts.hostname != HOST:
            self._refuse(403, "this test proxy only reaches 127.0.0.1")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._refuse(413, "body too large")
            return
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        upstream = http.client.HTTPConnection(HOST, parts.port or 80, timeout=UPSTREAM_TIMEOUT_S)
        try:
            upstream.request(self.command, target, body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read(MAX_BODY_BYTES)
            status, reason, response_headers = response.status, response.reason, response.getheaders()
        except OSError as exc:
            self._refuse(502, f"upstream failed: {type(exc).__name__}")
            return
        finally:
            upstream.close()
        self._record(status)
        self.send_response(status, reason)
        for name, value in response_headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _forward
    do_POST = _forward
    do_PUT = _forward
    do_PATCH = _forward
    do_DELETE = _forward

    def do_CONNECT(self) -> None:
        host, _, port_text = self.path.rpartition(":")
        if host != HOST or not port_text.isdigit():
            self._refuse(403, "this test proxy only tunnels to 127.0.0.1")
            return
        try:
            upstream = socket.create_connection((HOST, int(port_text)), timeout=UPSTREAM_TIMEOUT_S)
        except OSError as exc:
            self._refuse(502, f"cannot connect: {type(exc).__name__}")
            return
        self._record(200)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self._tunnel(self.connection, upstream)

    @staticmethod
    def _tunnel(client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways until either side closes; bounded by TUNNEL_MAX_S and TUNNEL_IDLE_S."""
        peers = {client: upstream, upstream: client}
        deadline = time.monotonic() + TUNNEL_MAX_S
        try:
            while time.monotonic() < deadline:
                readable, _, broken = select.select(list(peers), [], list(peers), TUNNEL_IDLE_S)
                if broken or not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            upstream.close()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _ProxyHandler)
        self.log = ProxyLog()


class ForwardProxy:
    """A forward HTTP proxy on 127.0.0.1 in a thread of the test process; use as a context manager."""

    def __init__(self) -> None:
        self._server = _ProxyServer()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}"

    @property
    def log(self) -> ProxyLog:
        return self._server.log

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT_S)


if __name__ == "__main__":
    sys.exit(serve_tls())
