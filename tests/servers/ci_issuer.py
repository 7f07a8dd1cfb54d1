"""A CI's OIDC issuer on 127.0.0.1, as GitHub Actions runs one, for the keyless-auth tests.

It serves OpenID Connect discovery (`/.well-known/openid-configuration`, OpenID Connect Discovery 1.0 section 4)
and its JWKS, and GitHub's ID-token request endpoint as @actions/core getIDToken calls it (actions/toolkit
packages/core/src/oidc-utils.ts): `GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>` with
`Authorization: Bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`, answered `{"value": "<jwt>"}` (or `{"message": ...}` on
an error). Tokens are RS256 JWTs. `/_admin/mint` (no auth) hands tests a token for a variable (GitLab's
`id_tokens:`, Jenkins' OpenID Connect credential), `/_admin/config` sets the token lifetime.
Standard library only:

    python tests/servers/ci_issuer.py --port-file PATH [--request-token TOKEN]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jwt_rs256

ID_TOKEN_PATH = "/_apis/distributedtask/hubs/Actions/plans/p1/jobs/j1/idtoken"


class Issuer:
    def __init__(self, request_token: str) -> None:
        self.key = jwt_rs256.RsaKey.generate("ci-key-1")
        self.request_token = request_token
        self.lifetime = 300.0
        self.base_url = ""
        self.issued: list[str] = []  # audiences of the tokens handed out, for tests to read
        self.lock = threading.Lock()

    def mint(self, audience: str, lifetime: float | None = None) -> str:
        now = time.time()
        claims = {
            "iss": self.base_url,
            "sub": "repo:acme/shop:ref:refs/heads/main",
            "aud": audience,
            "iat": int(now),
            "nbf": int(now) - 1,
            "exp": now + (self.lifetime if lifetime is None else lifetime),
            "jti": uuid.uuid4().hex,
            "repository": "acme/shop",
            "ref": "refs/heads/main",
            # Dex's OIDC connector reads these for the identity it exchanges the token for.
            "email": "ci@acme.example",
            "email_verified": True,
            "name": "acme/shop CI",
        }
        with self.lock:
            self.issued.append(audience)
        return self.key.sign(claims)


class Handler(BaseHTTPRequestHandler):
    server: IssuerServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def send_json(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        issuer = self.server.issuer
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/healthz":
            self.send_json(200, {"ok": True})
        elif url.path == "/.well-known/openid-configuration":
            self.send_json(200, discovery(issuer.base_url))
        elif url.path == "/.well-known/jwks":
            self.send_json(200, {"keys": [issuer.key.jwk()]})
        elif url.path == ID_TOKEN_PATH:
            self.id_token(issuer, query)
        elif url.path == "/_admin/mint":
            lifetime = float(query["lifetime"]) if "lifetime" in query else None
            self.send_json(200, {"value": issuer.mint(query.get("audience", "sched"), lifetime)})
        elif url.path == "/_admin/issued":
            with issuer.lock:
                self.send_json(200, {"audiences": list(issuer.issued)})
        else:
            self.send_json(404, {"message": f"no such path {url.path}"})

    def do_POST(self) -> None:
        issuer = self.server.issuer
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        if urlsplit(self.path).path == "/_admin/config":
            issuer.lifetime = float(payload.get("lifetime", issuer.lifetime))
            self.send_json(200, {"lifetime": issuer.lifetime})
        else:
            self.send_json(404, {"message": "no such path"})

    def id_token(self, issuer: Issuer, query: dict[str, str]) -> None:
        # As GitHub: the request token is the job's, the URL carries api-version; audience defaults to the owner.
        if self.headers.get("Authorization") != f"Bearer {issuer.request_token}":
            self.send_json(401, {"message": "Bad credentials: the request token is not this job's"})
        elif query.get("api-version") != "2.0":
            self.send_json(400, {"message": "api-version=2.0 is required"})
        else:
            self.send_json(200, {"value": issuer.mint(query.get("audience", "https://github.com/acme"))})


def discovery(base_url: str) -> dict[str, Any]:
    return {
        "issuer": base_url,
        "jwks_uri": f"{base_url}/.well-known/jwks",
        "authorization_endpoint": f"{base_url}/authorize",  # never used: the CI issues tokens only to its jobs
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "repository", "ref", "email"],
    }


class IssuerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], issuer: Issuer) -> None:
        super().__init__(address, Handler)
        self.issuer = issuer
        issuer.base_url = f"http://{address[0]}:{self.server_address[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--request-token", default="gh-request-token-0123456789")
    parser.add_argument("--max-lifetime", type=float, default=3600.0)
    args = parser.parse_args(argv)
    server = IssuerServer(("127.0.0.1", 0), Issuer(args.request_token))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    tmp = f"{args.port_file}.tmp"
    with open(tmp, "w", encoding="ascii") as handle:
        handle.write(f"{server.server_address[1]}\n")
    os.replace(tmp, args.port_file)
    stop = threading.Event()
    parent, deadline = os.getppid(), time.monotonic() + args.max_lifetime
    while not stop.wait(0.5):  # ends with its parent, or after max-lifetime
        if time.monotonic() >= deadline or os.getppid() != parent:
            break
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
