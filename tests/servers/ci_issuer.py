"""A CI's OIDC issuer on 127.0.0.1, as GitHub Actions runs one, for the keyless-auth tests.

It serves OpenID Connect discovery (`/.well-known/openid-configuration`, OpenID Connect Discovery 1.0 section 4)
and its JWKS, and GitHub's ID-token request endpoint as @actions/core getIDToken calls it (actions/toolkit
packages/core/src/oidc-utils.ts): `GET <ACTIONS_ID_TOKEN_REQUEST_URL>&audience=<aud>` with
`Authorization: Bearer <ACTIONS_ID_TOKEN_REQUEST_TOKEN>`, answered `{"value": "<jwt>"}` (or `{"message": ...}` on
an error). Tokens are RS256 JWTs. `POST /token` is an RFC 8693 token-exchange endpoint, a small identity
provider for the tests that need no Dex build (test_oidc_dex.py runs the same exchange through Dex):
the request as in RFC 8693 section 2.1 (form fields grant_type,
subject_token, subject_token_type, audience, scope), client authentication by HTTP Basic (RFC 6749 section 2.3.1),
the answer as in section 2.2.1 (access_token, issued_token_type, token_type, expires_in) and errors as in 2.2.2
(RFC 6749 section 5.2: invalid_request, invalid_client, invalid_grant, unsupported_grant_type, invalid_target).
`/_admin/mint` (no auth) hands tests a token for a variable (GitLab's
`id_tokens:`, Jenkins' OpenID Connect credential), `/_admin/config` sets the token lifetime.
Standard library only:

    python tests/servers/ci_issuer.py --port-file PATH [--request-token TOKEN]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jwt_rs256

ID_TOKEN_PATH = "/_apis/distributedtask/hubs/Actions/plans/p1/jobs/j1/idtoken"
EXCHANGE_CLIENT = ("trigger-schedule", "exchange-secret-9c2f")
EXCHANGE_AUDIENCE = "scheduler-api"  # the audience of the access tokens it issues
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TYPES = ("urn:ietf:params:oauth:token-type:id_token", "urn:ietf:params:oauth:token-type:jwt")


class Issuer:
    def __init__(self, request_token: str) -> None:
        self.key = jwt_rs256.RsaKey.generate("ci-key-1")
        self.request_token = request_token
        self.lifetime = 300.0
        self.exchange_lifetime = 300.0
        self.exchanges = 0
        self.exchange_from = "token-exchange"  # the ID-token audience the exchange accepts
        self.base_url = ""
        self.issued: list[str] = []  # audiences of the tokens handed out, for tests to read
        self.lock = threading.Lock()

    def mint(
        self, audience: str, lifetime: float | None = None, sub: str = "repo:acme/shop:ref:refs/heads/main"
    ) -> str:
        now = time.time()
        claims = {
            "iss": self.base_url,
            "sub": sub,
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
                self.send_json(200, {"audiences": list(issuer.issued), "exchanges": issuer.exchanges})
        else:
            self.send_json(404, {"message": f"no such path {url.path}"})

    def do_POST(self) -> None:
        issuer = self.server.issuer
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if urlsplit(self.path).path == "/token":
            self.exchange(issuer, {k: v[-1] for k, v in parse_qs(raw.decode()).items()})
        elif urlsplit(self.path).path == "/_admin/config":
            payload = json.loads(raw or b"{}")
            issuer.lifetime = float(payload.get("lifetime", issuer.lifetime))
            issuer.exchange_lifetime = float(payload.get("exchange_lifetime", issuer.exchange_lifetime))
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

    def exchange(self, issuer: Issuer, form: dict[str, str]) -> None:
        if self.client() != EXCHANGE_CLIENT:
            self.send_json(401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"})
            return
        problem = _exchange_problem(issuer, form)
        if problem:
            self.send_json(400, {"error": problem[0], "error_description": problem[1]})
            return
        with issuer.lock:
            issuer.exchanges += 1
        subject = jwt_rs256.unverified_claims(form["subject_token"])
        token = issuer.mint(form.get("audience") or EXCHANGE_AUDIENCE, issuer.exchange_lifetime, sub=subject["sub"])
        self.send_json(200, {
            "access_token": token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": int(issuer.exchange_lifetime),
        })  # fmt: skip

    def client(self) -> tuple[str, str] | None:
        scheme, _, encoded = self.headers.get("Authorization", "").partition(" ")
        if scheme != "Basic":
            return None
        user, _, password = base64.b64decode(encoded).decode().partition(":")
        return unquote(user), unquote(password)


def _exchange_problem(issuer: Issuer, form: dict[str, str]) -> tuple[str, str] | None:
    if form.get("grant_type") != TOKEN_EXCHANGE:
        return "unsupported_grant_type", "only token exchange is supported"
    if form.get("subject_token_type") not in SUBJECT_TYPES or not form.get("subject_token"):
        return "invalid_request", "subject_token and an id_token or jwt subject_token_type are required"
    if form.get("audience") not in (None, EXCHANGE_AUDIENCE):
        return "invalid_target", f"audience {form.get('audience')} is not served here"
    try:
        jwt_rs256.verify(
            form["subject_token"],
            {"keys": [issuer.key.jwk()]},
            issuers=[issuer.base_url],
            audience=issuer.exchange_from,
        )
    except jwt_rs256.InvalidToken as exc:
        return "invalid_grant", f"subject token refused: {exc}"
    return None


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
