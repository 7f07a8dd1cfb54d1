"""Keyless auth end to end: the CLI gets the CI's OIDC ID token (GitHub's request endpoint, or a variable as GitLab's
`id_tokens:` and Jenkins' credential binding give it) and the generic server verifies it against the issuer's JWKS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import github_env, run_cli
from servers import jwt_rs256
from servers.harness import GenericScheduler
from servers.oidc_parts import EXCHANGE_AUDIENCE, EXCHANGE_CLIENT, EXCHANGE_FROM, REQUEST_TOKEN, CiIssuer

FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms")
AUDIENCE = "sched.acme.example"


@pytest.fixture
def oidc_server(generic_server: GenericScheduler, issuer: CiIssuer) -> GenericScheduler:
    """The generic server accepting only tokens of the CI issuer for AUDIENCE (no static token)."""
    generic_server.configure(oidc={"issuers": [issuer.url], "audience": AUDIENCE})
    return generic_server


def oidc_args(server: GenericScheduler, job: str, *extra: str) -> list[str]:
    return ["trigger", "--url", server.url, "--job", job, "--auth-type", "oidc", *FAST, "--timeout", "60s", *extra]


def no_token(**extra: str) -> dict[str, str]:
    return {"TRIGGER_SCHEDULE_TOKEN": "", **extra}


def bearer_claims(server: GenericScheduler) -> list[dict[str, object]]:
    found = []
    for request in server.requests():
        header = {k.lower(): v for k, v in request["headers"].items()}.get("authorization", "")
        found.append(jwt_rs256.unverified_claims(header.removeprefix("Bearer ")))
    return found


def test_github_request_endpoint_token_is_the_bearer(
    oidc_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path
) -> None:
    env = no_token(**github_env(), **issuer.github_env())
    result = run_cli(
        *oidc_args(oidc_server, "data-sync-after-deployment", "--oidc-audience", AUDIENCE), env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert issuer.issued()[-1] == AUDIENCE  # asked for with &audience=
    claims = bearer_claims(oidc_server)
    assert claims and all(c.get("aud") == AUDIENCE and c.get("iss") == issuer.url for c in claims)
    # Masked on GitHub before use: the request token and the ID token (the runner consumes these lines).
    assert f"::add-mask::{REQUEST_TOKEN}" in result.stdout.splitlines()
    (sent,) = oidc_server.requests("trigger")
    token = {k.lower(): v for k, v in sent["headers"].items()}["authorization"].removeprefix("Bearer ")
    assert f"::add-mask::{token}" in result.stdout.splitlines()


def test_id_token_from_a_named_variable(oidc_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path) -> None:
    env = no_token(GITLAB_CI="true", CI_OIDC_TOKEN=issuer.mint(AUDIENCE))
    args = oidc_args(
        oidc_server, "data-sync-after-deployment", "--id-token-env", "CI_OIDC_TOKEN", "--oidc-audience", AUDIENCE
    )
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert oidc_server.requests("trigger")


def test_wrong_audience_is_refused_and_named(oidc_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path) -> None:
    env = no_token(**github_env(), **issuer.github_env())
    result = run_cli(
        *oidc_args(oidc_server, "data-sync-after-deployment", "--oidc-audience", "other-aud"), env=env, cwd=tmp_path
    )
    assert result.returncode == 3, result.stderr
    said = result.stdout + result.stderr
    assert "'other-aud'" in result.stderr and "HTTP 401" in said
    assert any("audience" in r for r in oidc_server.oidc_rejections())


def test_variable_for_another_audience_stops_before_any_request(
    oidc_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path
) -> None:
    env = no_token(CI_OIDC_TOKEN=issuer.mint("someone-else"))
    args = oidc_args(oidc_server, "x", "--id-token-env", "CI_OIDC_TOKEN", "--oidc-audience", AUDIENCE)
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert "someone-else" in result.stderr and AUDIENCE in result.stderr
    assert oidc_server.requests() == []


def test_missing_id_token_on_github_names_the_permission(oidc_server: GenericScheduler, tmp_path: Path) -> None:
    result = run_cli(*oidc_args(oidc_server, "data-sync-after-deployment"), env=no_token(**github_env()), cwd=tmp_path)
    assert result.returncode == 3
    assert "id-token: write" in result.stderr
    assert oidc_server.requests() == []


def test_missing_id_token_variable_names_gitlab_and_jenkins(oidc_server: GenericScheduler, tmp_path: Path) -> None:
    args = oidc_args(oidc_server, "x", "--id-token-env", "CI_OIDC_TOKEN")
    result = run_cli(*args, env=no_token(GITLAB_CI="true"), cwd=tmp_path)
    assert result.returncode == 3
    assert "CI_OIDC_TOKEN" in result.stderr and "id_tokens:" in result.stderr and "withCredentials" in result.stderr
    assert oidc_server.requests() == []


def test_short_lived_tokens_are_renewed_on_a_long_wait(
    oidc_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path
) -> None:
    issuer.set_lifetime(3)  # each ID token lives 3 s; the job runs 8 s
    oidc_server.define_job("slow-sync", "success", 8)
    env = no_token(**github_env(), **issuer.github_env())
    result = run_cli(*oidc_args(oidc_server, "slow-sync", "--oidc-audience", AUDIENCE), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    tokens = {c["jti"] for c in bearer_claims(oidc_server)}
    assert len(tokens) >= 3  # renewed at least twice over 8 s
    assert oidc_server.oidc_rejections() == []  # never sent an expired one


def test_the_server_refuses_an_expired_token(oidc_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path) -> None:
    # The other half of the renewal test: the server does refuse a token past its exp.
    env = no_token(CI_OIDC_TOKEN=issuer.mint(AUDIENCE, lifetime=-1))
    result = run_cli(*oidc_args(oidc_server, "x", "--id-token-env", "CI_OIDC_TOKEN"), env=env, cwd=tmp_path)
    assert result.returncode == 3
    assert oidc_server.oidc_rejections() == ["token expired"]


REPORTS = ["--result-file", "r.json", "--junit-file", "j.xml", "--audit-file", "a.jsonl", "--dotenv-file", "d.env"]


def run_canary(server: GenericScheduler, args: list[str], env: dict[str, str], tmp_path: Path) -> str:
    """Runs with --debug and every report; fails if a secret of the run shows in any channel. The bearer sent."""
    outputs, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    env = {**env, "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_cli(*args, "--debug", *REPORTS, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (sent,) = server.requests("trigger")
    bearer = {k.lower(): v for k, v in sent["headers"].items()}["authorization"].removeprefix("Bearer ")
    # `::add-mask::` lines are the runner's; it never shows them.
    stdout = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("::add-mask::"))
    channels = {
        "stdout": stdout,
        "stderr": result.stderr,
        "outputs": outputs.read_text(),
        "summary": summary.read_text(),
    }
    channels.update({name: (tmp_path / name).read_text() for name in ("r.json", "j.xml", "a.jsonl", "d.env")})
    assert "-> POST" in result.stderr  # --debug did log the requests
    # Every JWT the issuer signs starts with the same header: this finds the ID token and the access token alike.
    for secret in (bearer.split(".")[0], bearer.split(".")[2], REQUEST_TOKEN, EXCHANGE_CLIENT[1]):
        leaked = [name for name, text in channels.items() if secret in text]
        assert leaked == [], f"a token is in {leaked}"
    json.loads(channels["r.json"])
    return bearer


def test_no_token_in_any_output_with_debug(oidc_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path) -> None:
    env = no_token(**github_env(), **issuer.github_env())
    args = oidc_args(oidc_server, "data-sync-after-deployment", "--oidc-audience", AUDIENCE)
    assert jwt_rs256.unverified_claims(run_canary(oidc_server, args, env, tmp_path))["aud"] == AUDIENCE


# -- oidc-exchange ---------------------------------------------------------------------------------
# Against ci_issuer.py's RFC 8693 endpoint, which needs no build; the same exchange through Dex: test_oidc_dex.py.


@pytest.fixture
def exchange_server(generic_server: GenericScheduler, issuer: CiIssuer) -> GenericScheduler:
    """Accepts only exchanged access tokens: the CI's own ID tokens are for another audience."""
    generic_server.configure(oidc={"issuers": [issuer.url], "audience": EXCHANGE_AUDIENCE})
    return generic_server


def exchange_args(server: GenericScheduler, issuer: CiIssuer, job: str, **settings: str) -> list[str]:
    exchange = {
        "token-url": f"{issuer.url}/token",
        "client-id-env": "EX_ID",
        "client-secret-env": "EX_SECRET",
        **settings,
    }
    return [
        *oidc_args(server, job, "--oidc-audience", EXCHANGE_FROM),
        "--auth-type",
        "oidc-exchange",
        "--oidc-exchange",
        json.dumps(exchange),
    ]


def exchange_env(issuer: CiIssuer, secret: str = EXCHANGE_CLIENT[1], **extra: str) -> dict[str, str]:
    return no_token(**github_env(), **issuer.github_env(), EX_ID=EXCHANGE_CLIENT[0], EX_SECRET=secret, **extra)


def test_exchanged_token_is_the_bearer(exchange_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path) -> None:
    args = exchange_args(exchange_server, issuer, "data-sync-after-deployment", audience=EXCHANGE_AUDIENCE)
    before = issuer.exchanges()  # the issuer serves the whole session: count this run's own
    result = run_cli(*args, env=exchange_env(issuer), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert issuer.exchanges() - before == 1  # one exchange for the whole run (the token lives 300 s)
    assert {c.get("aud") for c in bearer_claims(exchange_server)} == {EXCHANGE_AUDIENCE}


def test_the_id_token_alone_is_not_accepted(
    exchange_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path
) -> None:
    args = oidc_args(exchange_server, "data-sync-after-deployment", "--oidc-audience", EXCHANGE_FROM)
    result = run_cli(*args, env=exchange_env(issuer), cwd=tmp_path)
    assert result.returncode == 3
    assert exchange_server.requests("trigger") == []


def test_exchange_refused_says_the_oauth_error(
    exchange_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path
) -> None:
    args = exchange_args(exchange_server, issuer, "data-sync-after-deployment")
    result = run_cli(*args, env=exchange_env(issuer, secret="wrong-secret-1234"), cwd=tmp_path)
    said = result.stdout + result.stderr
    assert result.returncode == 3, said
    assert "invalid_client" in said and "unknown client or wrong secret" in said and "client-secret-env" in said
    assert exchange_server.requests() == []  # refused before any trigger request


def test_exchange_for_a_refused_audience(exchange_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path) -> None:
    args = exchange_args(exchange_server, issuer, "x", audience="payments-api")
    result = run_cli(*args, env=exchange_env(issuer), cwd=tmp_path)
    assert result.returncode == 3
    assert "invalid_target" in result.stdout + result.stderr
    assert exchange_server.requests() == []


def test_exchanged_tokens_are_renewed_on_a_long_wait(
    exchange_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path
) -> None:
    issuer.set_lifetime(300, exchange=4)  # access tokens live 4 s; the job runs 9 s
    exchange_server.define_job("slow-sync", "success", 9)
    before = issuer.exchanges()
    result = run_cli(*exchange_args(exchange_server, issuer, "slow-sync"), env=exchange_env(issuer), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert issuer.exchanges() - before >= 3
    assert len({c["jti"] for c in bearer_claims(exchange_server)}) >= 3
    assert exchange_server.oidc_rejections() == []


def test_exchange_canary_with_debug(exchange_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path) -> None:
    args = exchange_args(exchange_server, issuer, "data-sync-after-deployment")
    bearer = run_canary(exchange_server, args, exchange_env(issuer), tmp_path)
    assert jwt_rs256.unverified_claims(bearer)["aud"] == EXCHANGE_AUDIENCE


def test_a_dry_run_asks_no_one_for_a_token(oidc_server: GenericScheduler, issuer: CiIssuer, tmp_path: Path) -> None:
    before = len(issuer.issued())
    env = no_token(**github_env(), **issuer.github_env())
    args = oidc_args(oidc_server, "data-sync-after-deployment", "--oidc-audience", AUDIENCE, "--dry-run")
    result = run_cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(issuer.issued()) == before and oidc_server.requests() == []
