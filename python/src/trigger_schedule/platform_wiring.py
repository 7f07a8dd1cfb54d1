"""A plan's `platforms:` entry turned into a working plug-in: credentials, HTTP client, configuration."""

from __future__ import annotations

from collections.abc import Mapping

from trigger_schedule.clock import Clock
from trigger_schedule.console import Console
from trigger_schedule.http import HttpClient, HttpOptions, TlsOptions
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
) -> Platform:
    """A platform with its credentials read from env vars or files (never from the plan)."""
    config = platform_config(spec, console, environ, default_token_env)
    return load_platform(spec.type)(config, http_client(spec, clock, console), clock)


def platform_config(
    spec: PlatformSpec, console: Console, environ: Mapping[str, str], default_token_env: str | None = None
) -> PlatformConfig:
    auth = dict(spec.auth)
    auth_type = auth.get("type", "bearer")
    what = f"platform {spec.name}"
    token = username = password = None
    token_env, username_env, password_env = credential_envs(auth, default_token_env)
    if auth_type in ("bearer", "header"):
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
        auth_header=auth.get("header", "Authorization"),
        username=username,
        password=password,
        options=spec.options,
        environ=environ,
        warn=lambda text: console.warn(f"platform {spec.name}: {text}"),
    )


def http_client(spec: PlatformSpec, clock: Clock, console: Console) -> HttpClient:
    tls = dict(spec.tls)
    options = HttpOptions(
        connect_timeout=spec.connect_timeout,
        read_timeout=spec.read_timeout,
        max_attempts=spec.max_attempts,
        tls=TlsOptions(
            tls.get("ca-bundle"), tls.get("client-cert"), tls.get("client-key"), bool(tls.get("insecure", False))
        ),
        headers=dict(spec.headers),
    )
    return HttpClient(options, clock, debug=console.debug if console.debug_enabled else None, warn=console.warn)
