"""A plan's `platforms:` entry turned into a working plug-in: credentials, HTTP client, configuration."""

from __future__ import annotations

from collections.abc import Mapping

from trigger_schedule.clock import Clock
from trigger_schedule.console import Console
from trigger_schedule.http import HttpClient, HttpOptions, TlsOptions
from trigger_schedule.oidc import OIDC_TYPES, Exchange, IdTokens, RefreshingCredential
from trigger_schedule.plan import PlatformSpec
from trigger_schedule.platforms import load as load_platform
from trigger_schedule.platforms.base import Platform, PlatformConfig
from trigger_schedule.secrets import REDACTOR, credential_envs, read_secret
from trigger_schedule.urls import resolve_url


def build_platform(
    spec: PlatformSpec,
    clock: Clock,
    console: Console,
    environ: Mapping[str, str],
    default_token_env: str | None = None,
    dry_run: bool = False,
) -> Platform:
    """A platform with its credentials read from env vars or files (never from the plan); a dry run asks no CI or
    identity provider for a token."""
    http = http_client(spec, clock, console)
    credential = None if dry_run else oidc_credential(spec, clock, console, environ)
    config = platform_config(spec, console, environ, default_token_env, credential)
    if credential is not None:
        http.session.auth = credential  # each request gets the current token, renewed before it expires
    return load_platform(spec.type)(config, http, clock)


def oidc_credential(
    spec: PlatformSpec, clock: Clock, console: Console, environ: Mapping[str, str]
) -> RefreshingCredential | None:
    """For `auth.type: oidc` or `oidc-exchange`, the CI's token (or the one it is exchanged for), fetched now."""
    auth = dict(spec.auth)
    if auth.get("type") not in OIDC_TYPES:
        return None
    what = f"platform {spec.name}"
    # Its own client: the token requests must not carry the platform's headers or its credential.
    http = http_client(spec, clock, console, with_headers=False)
    ids = IdTokens(what, auth, environ, http)
    fetch = ids.fetch
    audience = auth.get("audience") or "the CI's default"
    hint = f"the scheduler refused the CI's OIDC ID token for audience {audience!r}"
    if auth["type"] == "oidc-exchange":
        exchange = Exchange(what, auth["exchange"], environ, http, ids)
        fetch = exchange.fetch
        hint = f"the scheduler refused the access token from {exchange.url} (ID token audience {audience!r})"
    hint += ": check the audience and issuer it trusts against auth.audience / auth.exchange (docs/oidc.md)"
    return RefreshingCredential(fetch, clock, hint)


def platform_config(
    spec: PlatformSpec,
    console: Console,
    environ: Mapping[str, str],
    default_token_env: str | None = None,
    credential: RefreshingCredential | None = None,
) -> PlatformConfig:
    auth = dict(spec.auth)
    auth_type = auth.get("type", "bearer")
    header = auth.get("header", "Authorization")
    oidc_auth = auth_type in OIDC_TYPES
    if oidc_auth:
        # Plug-ins send it as they send a bearer token, or raw in a named header; the session renews it. A dry run
        # has none (it asks no one for a token).
        auth_type = "bearer" if header.lower() == "authorization" else "header"
    what = f"platform {spec.name}"
    token = username = password = None
    token_env, username_env, password_env = credential_envs(auth, default_token_env)
    if oidc_auth:
        token = credential.initial if credential is not None else None
    elif auth_type in ("bearer", "header"):
        token = read_secret(env_name=token_env, file_path=auth.get("token-file"), environ=environ, what=what)
    elif auth_type == "basic":
        username = environ.get(username_env, "")
        password = read_secret(env_name=password_env, file_path=None, environ=environ, what=what) or ""
        REDACTOR.add_basic_auth(username, password)
    return PlatformConfig(
        name=spec.name,
        type=spec.type,
        url=resolve_url(spec.url, environ, f"platforms.{spec.name}.url"),
        token=token,
        auth_type=auth_type,
        auth_header=header,
        username=username,
        password=password,
        options=spec.options,
        environ=environ,
        warn=lambda text: console.warn(f"platform {spec.name}: {text}"),
    )


def http_client(spec: PlatformSpec, clock: Clock, console: Console, *, with_headers: bool = True) -> HttpClient:
    tls = dict(spec.tls)
    options = HttpOptions(
        connect_timeout=spec.connect_timeout,
        read_timeout=spec.read_timeout,
        max_attempts=spec.max_attempts,
        tls=TlsOptions(
            tls.get("ca-bundle"), tls.get("client-cert"), tls.get("client-key"), bool(tls.get("insecure", False))
        ),
        headers=dict(spec.headers) if with_headers else {},
    )
    return HttpClient(options, clock, debug=console.debug if console.debug_enabled else None, warn=console.warn)
