"""The HTTP layer's TLS, mutual TLS and proxy behaviour, through the real CLI and real sockets on 127.0.0.1.

A throwaway CA, server and client certificate are made per session with the openssl command line tool
(servers/tls_proxy.py); the generic scheduler runs over HTTPS with generic_scheduler.py's own handler; a small
forward proxy in this process records the request lines it carries (header names only, never values).

Every CLI run below sets REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE to "" unless a test says otherwise: many CI
images (this one included) export them; the tests at the end check that the configured CA bundle and
`insecure` switch still win over them. Proxy variables are always set explicitly, both cases,
so the machine's own proxy settings cannot change a result.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from cli_runner import TOKEN, run_cli
from servers.harness import GenericScheduler
from servers.tls_proxy import ForwardProxy, Pki, ProxiedRequest, TlsScheduler, make_pki, openssl_binary

FAST = ("--poll-interval", "100ms", "--poll-max-interval", "300ms", "--timeout", "30s")
EXIT_UNREACHABLE = 5
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def cli_env(*, http_proxy: str = "", https_proxy: str = "", no_proxy: str = "", **extra: str) -> dict[str, str]:
    """Proxy variables in both cases (a lowercase empty one would cancel an uppercase one), CA overrides off."""
    values = {"HTTP_PROXY": http_proxy, "HTTPS_PROXY": https_proxy, "ALL_PROXY": "", "NO_PROXY": no_proxy}
    env: dict[str, str] = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
    for name in PROXY_VARS:
        env[name] = env[name.lower()] = values[name]
    env.update(extra)
    return env


def trigger(url: str, *extra: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = run_cli(
        "trigger", "--platform", "generic", "--url", url, "--job", "instant", *FAST, *extra, env=env, cwd=cwd
    )
    # Whatever happened, the CLI itself never prints the token.
    assert TOKEN not in result.stdout + result.stderr
    return result


def shown(entries: list[ProxiedRequest]) -> str:
    """The proxy log as the tests print it: request lines and statuses only."""
    return "\n".join(f"{entry.method} {entry.target} -> {entry.status}" for entry in entries)


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if openssl_binary() is None:
        pytest.fail("the openssl command line tool is required for the TLS tests (Debian: apt-get install openssl)")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tls_server_session(pki: Pki) -> Iterator[TlsScheduler]:
    server = TlsScheduler.start(pki, token=TOKEN)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mtls_server_session(pki: Pki) -> Iterator[TlsScheduler]:
    server = TlsScheduler.start(pki, token=TOKEN, mtls=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_server(tls_server_session: TlsScheduler) -> TlsScheduler:
    tls_server_session.reset()
    return tls_server_session


@pytest.fixture
def mtls_server(mtls_server_session: TlsScheduler) -> TlsScheduler:
    mtls_server_session.reset()
    return mtls_server_session


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


def assert_triggered(result: subprocess.CompletedProcess[str], server: TlsScheduler | GenericScheduler) -> None:
    assert result.returncode == 0, result.stderr
    assert "instant: succeeded" in result.stdout
    (sent,) = server.requests("trigger")
    headers = {k.lower(): v for k, v in sent["headers"].items()}
    assert headers["authorization"] == f"Bearer {TOKEN}"


# -- server TLS ---------------------------------------------------------------------------------


def handshake_failures(server: TlsScheduler) -> int:
    return server.stderr().count("tls handshake failed")


def wait_for_handshake_failures(server: TlsScheduler, at_least: int) -> int:
    """The server logs a failed handshake from its request thread, possibly just after the CLI exited."""
    deadline = time.monotonic() + 5.0
    while handshake_failures(server) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    return handshake_failures(server)


def test_private_ca_without_ca_bundle_fails_with_hint(tls_server: TlsScheduler, tmp_path: Path) -> None:
    before = handshake_failures(tls_server)
    result = trigger(tls_server.url, env=cli_env(), cwd=tmp_path)
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert f"TLS failed for {tls_server.url}" in result.stderr
    assert "set ca-bundle (TRIGGER_SCHEDULE_CA_BUNDLE)" in result.stderr
    # No handshake completed, so the scheduler's handler never saw a request ...
    assert tls_server.requests() == []
    # ... and a certificate error is final: one attempt, no retries (the default is 5 attempts).
    assert wait_for_handshake_failures(tls_server, before + 1) == before + 1


def test_unrelated_ca_bundle_fails(pki: Pki, tls_server: TlsScheduler, tmp_path: Path) -> None:
    result = trigger(tls_server.url, "--ca-bundle", str(pki.other_ca_cert), env=cli_env(), cwd=tmp_path)
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert "TLS failed" in result.stderr
    assert tls_server.requests() == []


def test_ca_bundle_flag_trusts_the_private_ca(pki: Pki, tls_server: TlsScheduler, tmp_path: Path) -> None:
    result = trigger(tls_server.url, "--ca-bundle", str(pki.ca_cert), env=cli_env(), cwd=tmp_path)
    assert_triggered(result, tls_server)
    assert "TLS verification is OFF" not in result.stderr


def test_ca_bundle_env_var(pki: Pki, tls_server: TlsScheduler, tmp_path: Path) -> None:
    result = trigger(tls_server.url, env=cli_env(TRIGGER_SCHEDULE_CA_BUNDLE=str(pki.ca_cert)), cwd=tmp_path)
    assert_triggered(result, tls_server)


def test_ca_bundle_in_plan_file(pki: Pki, mtls_server: TlsScheduler, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yml"
    plan.write_text(
        f"""
version: 1
platforms:
  scheduler:
    type: generic
    url: {mtls_server.url}
    tls: {{ca-bundle: "{pki.ca_cert}", client-cert: "{pki.client_cert}", client-key: "{pki.client_key}"}}
defaults: {{platform: scheduler, poll-interval: 100ms, timeout: 30s}}
triggers:
  - {{name: instant, job: instant}}
""",
        encoding="utf-8",
    )
    result = run_cli("run", "-c", str(plan), env=cli_env(), cwd=tmp_path)
    assert TOKEN not in result.stdout + result.stderr
    assert_triggered(result, mtls_server)


@pytest.mark.parametrize(
    ("args", "extra_env"),
    [(("--insecure",), {}), ((), {"TRIGGER_SCHEDULE_INSECURE": "true"})],
    ids=["flag", "env"],
)
def test_insecure_skips_verification_and_warns(
    tls_server: TlsScheduler, tmp_path: Path, args: tuple[str, ...], extra_env: dict[str, str]
) -> None:
    result = trigger(tls_server.url, *args, env=cli_env(**extra_env), cwd=tmp_path)
    assert_triggered(result, tls_server)
    assert "warning: TLS verification is OFF" in result.stderr
    # urllib3's own per-request InsecureRequestWarning is silenced in favour of the one warning above.
    assert "InsecureRequestWarning" not in result.stderr


# -- mutual TLS ---------------------------------------------------------------------------------


def test_mtls_without_client_cert_fails(pki: Pki, mtls_server: TlsScheduler, tmp_path: Path) -> None:
    result = trigger(mtls_server.url, "--ca-bundle", str(pki.ca_cert), env=cli_env(), cwd=tmp_path)
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    # Under TLS 1.3 the server rejects the missing certificate after the client's side of the handshake,
    # so the client sees an alert or an EOF: requests reports either as an SSLError.
    assert "TLS failed" in result.stderr, result.stderr
    assert mtls_server.requests() == []


def test_mtls_client_cert_flags(pki: Pki, mtls_server: TlsScheduler, tmp_path: Path) -> None:
    result = trigger(
        mtls_server.url,
        "--ca-bundle",
        str(pki.ca_cert),
        "--client-cert",
        str(pki.client_cert),
        "--client-key",
        str(pki.client_key),
        env=cli_env(),
        cwd=tmp_path,
    )
    assert_triggered(result, mtls_server)


def test_mtls_env_vars(pki: Pki, mtls_server: TlsScheduler, tmp_path: Path) -> None:
    env = cli_env(
        TRIGGER_SCHEDULE_CA_BUNDLE=str(pki.ca_cert),
        TRIGGER_SCHEDULE_CLIENT_CERT=str(pki.client_cert),
        TRIGGER_SCHEDULE_CLIENT_KEY=str(pki.client_key),
    )
    result = trigger(mtls_server.url, env=env, cwd=tmp_path)
    assert_triggered(result, mtls_server)


def test_mtls_with_insecure_still_sends_client_cert(pki: Pki, mtls_server: TlsScheduler, tmp_path: Path) -> None:
    args = ("--insecure", "--client-cert", str(pki.client_cert), "--client-key", str(pki.client_key))
    result = trigger(mtls_server.url, *args, env=cli_env(), cwd=tmp_path)
    assert_triggered(result, mtls_server)


# -- proxies ------------------------------------------------------------------------------------


def test_http_proxy_carries_every_request(
    generic_server: GenericScheduler, proxy: ForwardProxy, tmp_path: Path
) -> None:
    result = trigger(generic_server.url, env=cli_env(http_proxy=proxy.url, no_proxy=""), cwd=tmp_path)
    assert_triggered(result, generic_server)
    entries = proxy.log.snapshot()
    lines = shown(entries)
    assert f"POST {generic_server.url}/v1/jobs/trigger -> 201" in lines.splitlines(), lines
    # Every request the scheduler recorded came through the proxy, in absolute-URI form.
    assert len(entries) == len(generic_server.requests()), lines
    assert all(entry.target.startswith(f"{generic_server.url}/") for entry in entries), lines
    # The proxy did see the credential (a plain-HTTP proxy always does) but kept only the header's name.
    trigger_entry = next(entry for entry in entries if entry.method == "POST")
    assert "authorization" in trigger_entry.header_names
    assert TOKEN not in repr(entries)


def test_no_proxy_bypasses_the_proxy(generic_server: GenericScheduler, proxy: ForwardProxy, tmp_path: Path) -> None:
    result = trigger(generic_server.url, env=cli_env(http_proxy=proxy.url, no_proxy="127.0.0.1"), cwd=tmp_path)
    assert_triggered(result, generic_server)
    assert proxy.log.snapshot() == [], shown(proxy.log.snapshot())


def test_https_proxy_tunnels_with_connect(
    pki: Pki, tls_server: TlsScheduler, proxy: ForwardProxy, tmp_path: Path
) -> None:
    env = cli_env(https_proxy=proxy.url, no_proxy="")
    result = trigger(tls_server.url, "--ca-bundle", str(pki.ca_cert), env=env, cwd=tmp_path)
    assert_triggered(result, tls_server)
    entries = proxy.log.snapshot()
    lines = shown(entries)
    # Only CONNECT request lines: the trigger itself crossed the proxy encrypted.
    assert entries, "the HTTPS proxy was not used"
    assert {(entry.method, entry.target) for entry in entries} == {("CONNECT", f"127.0.0.1:{tls_server.port}")}, lines
    assert all("authorization" not in entry.header_names for entry in entries), lines


def test_unreachable_proxy_exits_5_with_proxy_hint(generic_server: GenericScheduler, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = cli_env(http_proxy=f"http://127.0.0.1:{closed_port}", no_proxy="")
    result = trigger(generic_server.url, "--max-attempts", "1", env=env, cwd=tmp_path)
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert "HTTPS_PROXY/NO_PROXY" in result.stderr
    assert generic_server.requests() == []


# -- a TLS error says why -------------------------------------------------------------------------


def test_tls_error_names_the_cause(tls_server: TlsScheduler, tmp_path: Path) -> None:
    result = trigger(tls_server.url, env=cli_env(), cwd=tmp_path)
    assert result.returncode == EXIT_UNREACHABLE, result.stderr
    assert "certificate verify failed" in result.stderr.lower(), result.stderr


# -- REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE do not override the configured TLS settings ---------------


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_ca_bundle_wins_over_env_ca_variables(
    pki: Pki, tls_server: TlsScheduler, tmp_path: Path, variable: str
) -> None:
    env = cli_env(**{variable: str(pki.other_ca_cert)})
    result = trigger(tls_server.url, "--ca-bundle", str(pki.ca_cert), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_insecure_wins_over_env_ca_variables(pki: Pki, tls_server: TlsScheduler, tmp_path: Path, variable: str) -> None:
    env = cli_env(**{variable: str(pki.other_ca_cert)})
    result = trigger(tls_server.url, "--insecure", env=env, cwd=tmp_path)
    assert "warning: TLS verification is OFF" in result.stderr
    assert result.returncode == 0, result.stderr
