"""The identity parts of the keyless-auth tests: the CI's issuer (ci_issuer.py) as a subprocess on 127.0.0.1."""

from __future__ import annotations

import json
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servers.processes import serving, stop

ISSUER_SCRIPT = Path(__file__).with_name("ci_issuer.py")
REQUEST_TOKEN = "gh-request-tok-5d1e-CANARY-REQ"
ID_TOKEN_PATH = "/_apis/distributedtask/hubs/Actions/plans/p1/jobs/j1/idtoken"
EXCHANGE_CLIENT = ("trigger-schedule", "exchange-secret-9c2f")
EXCHANGE_FROM = "token-exchange"  # the ID-token audience its token endpoint accepts
EXCHANGE_AUDIENCE = "scheduler-api"  # the audience of the access tokens it issues


@dataclass
class CiIssuer:
    url: str

    @property
    def request_url(self) -> str:
        """ACTIONS_ID_TOKEN_REQUEST_URL as GitHub sets it: the audience is appended with `&`."""
        return f"{self.url}{ID_TOKEN_PATH}?api-version=2.0"

    def github_env(self) -> dict[str, str]:
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN}

    def mint(self, audience: str, lifetime: float | None = None) -> str:
        query = f"audience={audience}" + (f"&lifetime={lifetime}" if lifetime is not None else "")
        return str(self._get(f"/_admin/mint?{query}")["value"])

    def issued(self) -> list[str]:
        """The audience of each token handed out so far."""
        audiences: list[str] = self._get("/_admin/issued")["audiences"]
        return audiences

    def exchanges(self) -> int:
        return int(self._get("/_admin/issued")["exchanges"])

    def set_lifetime(self, seconds: float, exchange: float = 300) -> None:
        payload = {"lifetime": seconds, "exchange_lifetime": exchange}
        request = urllib.request.Request(f"{self.url}/_admin/config", data=json.dumps(payload).encode(), method="POST")
        urllib.request.urlopen(request, timeout=5).close()

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as response:
            return json.loads(response.read())


@contextmanager
def ci_issuer() -> Iterator[CiIssuer]:
    with tempfile.TemporaryDirectory(prefix="ci-issuer-") as tmp:
        port_file = Path(tmp) / "port"
        args = ["--port-file", str(port_file), "--request-token", REQUEST_TOKEN]
        with serving(ISSUER_SCRIPT, args, [port_file], health_path="/healthz") as ports:
            yield CiIssuer(f"http://127.0.0.1:{ports[0]}")


DEX_BINARY = Path(__file__).resolve().parents[2] / ".tools" / "servers" / "dex" / "dex"  # scripts/tools/dex.sh
DEX_CLIENT = ("trigger-schedule", "exchange-secret-9c2f")
DEX_CONNECTOR = "ci"


@dataclass
class Dex:
    url: str  # its issuer, and the base of its endpoints

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"


def _dex_config(port: int, ci_issuer_url: str, access_lifetime: str) -> str:
    """Dex with one static client, token exchange allowed, and an OIDC connector trusting the CI's issuer
    (Dex docs: connectors/oidc, and server/grants/tokenexchange.go at the built commit)."""
    return f"""issuer: http://127.0.0.1:{port}/dex
storage: {{type: memory}}
web: {{http: "127.0.0.1:{port}"}}
oauth2: {{grantTypes: ["urn:ietf:params:oauth:grant-type:token-exchange"], skipApprovalScreen: true}}
expiry: {{idTokens: "{access_lifetime}"}}
staticClients:
- id: {DEX_CLIENT[0]}
  secret: {DEX_CLIENT[1]}
  name: trigger-schedule
  redirectURIs: ["http://127.0.0.1:{port}/callback"]
connectors:
- type: oidc
  id: {DEX_CONNECTOR}
  name: CI
  config:
    issuer: {ci_issuer_url}
    clientID: token-exchange
    clientSecret: not-used-by-token-exchange
    redirectURI: http://127.0.0.1:{port}/dex/callback
"""


@contextmanager
def dex(ci_issuer_url: str, access_lifetime: str = "4s") -> Iterator[Dex]:
    """Dex on 127.0.0.1 (after the CI issuer is up: its connector reads the issuer's discovery at start)."""
    import socket
    import subprocess
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="dex-") as tmp:
        config = Path(tmp) / "dex.yaml"
        config.write_text(_dex_config(port, ci_issuer_url, access_lifetime))
        log = open(Path(tmp) / "dex.log", "w+b")  # noqa: SIM115 - closed below
        process = subprocess.Popen([str(DEX_BINARY), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/dex"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # bounded: Dex answers discovery once it listens
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"dex exited: {log.read().decode(errors='replace')[-2000:]}")
                try:
                    urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise RuntimeError("dex did not answer within 20 s")
            yield Dex(url)
        finally:
            stop(process)
            log.close()
