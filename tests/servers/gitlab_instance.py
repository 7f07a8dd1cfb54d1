"""What a consumer's pipeline fetches from a GitLab instance, served on 127.0.0.1 for gitlab-ci-local.

- Repositories over git's smart HTTP protocol, by git's own `git http-backend` (CGI), from bare repositories
  under `repos/` (`http://127.0.0.1:PORT/<group>/<project>.git`), as gitlab-ci-local clones an included
  component or project file from the consumer remote's host.
- A project's PyPI package registry, GitLab's simple API (doc/user/packages/pypi_repository/index.md, API
  `GET /api/v4/projects/:id/packages/pypi/simple/:package_name`, `:id` the URL-encoded project path): one
  anchor per file with its `#sha256=` fragment, files at `.../packages/pypi/files/<sha256>/<name>`.

Every request is recorded (`requests`), so a test can show which names were asked for and which were not.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import subprocess
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_SIMPLE = re.compile(r"^/api/v4/projects/(?P<project>[^/]+)/packages/pypi/simple/(?P<name>[^/]+)/?$")
_FILE = re.compile(r"^/api/v4/projects/(?P<project>[^/]+)/packages/pypi/files/(?P<sha>[0-9a-f]{64})/(?P<file>[^/]+)$")
_GIT_TIMEOUT_S = 60


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class GitLabInstance:
    root: Path
    packages: dict[str, list[Path]] = field(default_factory=dict)  # URL-encoded project path -> wheels
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_repository(self, path: str, source: Path) -> None:
        """Serves the git repository at `source` as `<path>.git` (a bare clone, tags included)."""
        target = self.root / "repos" / f"{path}.git"
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(target)], check=True, timeout=_GIT_TIMEOUT_S)
        subprocess.run(["git", "config", "http.receivepack", "false"], cwd=target, check=True, timeout=30)

    def add_package(self, project: str, wheel: Path) -> None:
        self.packages.setdefault(urllib.parse.quote(project, safe=""), []).append(wheel)

    def start(self) -> GitLabInstance:
        instance = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                instance.requests.append(f"{self.command} {self.path}")
                path = urllib.parse.urlsplit(self.path).path
                if path.startswith("/api/v4/"):
                    instance._package(self, path)
                else:
                    instance._git(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def _package(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        simple, file = _SIMPLE.match(path), _FILE.match(path)
        if simple:
            name = _normalize(simple.group("name"))
            wheels = [
                w for w in self.packages.get(simple.group("project"), []) if _normalize(w.name.split("-")[0]) == name
            ]
            if not wheels:
                _reply(handler, 404, b'{"message":"404 Not Found"}', "application/json")
                return
            links = []
            for wheel in wheels:
                sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
                href = f"/api/v4/projects/{simple.group('project')}/packages/pypi/files/{sha}/{wheel.name}#sha256={sha}"
                links.append(f'<a href="{html.escape(href)}" data-requires-python="&gt;=3.11">{wheel.name}</a><br>')
            page = f"<!DOCTYPE html><html><body><h1>Links for {name}</h1>{''.join(links)}</body></html>"
            _reply(handler, 200, page.encode(), "text/html")
            return
        if file:
            for wheel in self.packages.get(file.group("project"), []):
                if wheel.name == file.group("file") and hashlib.sha256(wheel.read_bytes()).hexdigest() == file.group(
                    "sha"
                ):
                    _reply(handler, 200, wheel.read_bytes(), "application/octet-stream")
                    return
        _reply(handler, 404, b'{"message":"404 Not Found"}', "application/json")

    def _git(self, handler: BaseHTTPRequestHandler) -> None:
        """git http-backend as a CGI program: the request in its environment and stdin, the answer on stdout."""
        parts = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root / "repos"),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": urllib.parse.unquote(parts.path),
            "QUERY_STRING": parts.query,
            "REQUEST_METHOD": handler.command,
            "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GIT_PROTOCOL": handler.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": handler.headers.get("Content-Encoding", ""),
            "REMOTE_ADDR": "127.0.0.1",
        }
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, timeout=_GIT_TIMEOUT_S)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _ and b"\n\n" in done.stdout:
            head, _, payload = done.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        handler.send_response(status)
        for key, value in headers:
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
