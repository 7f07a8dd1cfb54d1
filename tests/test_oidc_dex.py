"""oidc-exchange through a real identity provider: Dex (built by scripts/tools/dex.sh) trades the CI's ID token for
an access token (RFC 8693) through its OIDC connector, and the generic server accepts only Dex's tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import github_env, run_cli
from servers import jwt_rs256
from servers.harness import GenericScheduler
from servers.oidc_parts import DEX_BINARY, DEX_CLIENT, DEX_CONNECTOR, CiIssuer, Dex, ci_issuer, dex

pytestmark = pytest.mark.skipif(not DEX_BINARY.exists(), reason="Dex is not built (scripts/tools/dex.sh)")
FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms", "--timeout", "60s")


@pytest.fixture(scope="module")
def parts() -> Iterator[tuple[CiIssuer, Dex]]:
    with ci_issuer() as issuer, dex(issuer.url, access_lifetime="4s") as provider:
        yield issuer, provider


@pytest.fixture
def dex_server(generic_server: GenericScheduler, parts: tuple[CiIssuer, Dex]) -> GenericScheduler:
    generic_server.configure(oidc={"issuers": [parts[1].url], "audience": DEX_CLIENT[0]})
    return generic_server


def run_exchange(
    server: GenericScheduler, parts: tuple[CiIssuer, Dex], job: str, tmp_path: Path, secret: str
) -> object:
    issuer, provider = parts
    exchange = {
        "token-url": provider.token_url,
        "client-id-env": "DEX_CLIENT_ID",
        "client-secret-env": "DEX_CLIENT_SECRET",
        "scope": "openid",
        "params": {"connector_id": DEX_CONNECTOR},
    }
    args = ["trigger", "--url", server.url, "--job", job, *FAST, "--auth-type", "oidc-exchange"]
    args += ["--oidc-audience", "token-exchange", "--oidc-exchange", json.dumps(exchange)]
    env = {"TRIGGER_SCHEDULE_TOKEN": "", **github_env(), **issuer.github_env()}
    env.update(DEX_CLIENT_ID=DEX_CLIENT[0], DEX_CLIENT_SECRET=secret)
    return run_cli(*args, env=env, cwd=tmp_path)


def issuers_seen(server: GenericScheduler) -> list[dict[str, object]]:
    headers = [{k.lower(): v for k, v in r["headers"].items()} for r in server.requests()]
    return [jwt_rs256.unverified_claims(h.get("authorization", "").removeprefix("Bearer ")) for h in headers]


def test_dex_token_is_renewed_through_a_long_wait(
    dex_server: GenericScheduler, parts: tuple[CiIssuer, Dex], tmp_path: Path
) -> None:
    dex_server.define_job("slow-sync", "success", 9)  # Dex's access tokens live 4 s
    result = run_exchange(dex_server, parts, "slow-sync", tmp_path, DEX_CLIENT[1])
    assert result.returncode == 0, result.stdout + result.stderr  # type: ignore[attr-defined]
    claims = issuers_seen(dex_server)
    assert {c["iss"] for c in claims} == {parts[1].url}
    assert len({c["jti"] for c in claims}) >= 3
    assert dex_server.oidc_rejections() == []


def test_dex_refuses_a_wrong_client_secret(
    dex_server: GenericScheduler, parts: tuple[CiIssuer, Dex], tmp_path: Path
) -> None:
    result = run_exchange(dex_server, parts, "data-sync-after-deployment", tmp_path, "not-the-secret")
    said = result.stdout + result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 3, said  # type: ignore[attr-defined]
    assert "invalid_client" in said
    assert dex_server.requests() == []
