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

from servers.processes import serving

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
