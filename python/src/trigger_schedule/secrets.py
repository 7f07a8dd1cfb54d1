"""Secrets: read from env vars or files only, and one redaction layer for every output channel."""

from __future__ import annotations

import base64
import contextlib
import functools
import io
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

from trigger_schedule.errors import ConfigError

MASK = "***"
# Shorter values would mask ordinary words in the log and still protect nothing.
_MIN_SECRET_LENGTH = 4


class Redactor:
    """Knows every secret value in play and removes it, and its encoded forms, from text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._needles: list[str] = []

    @staticmethod
    def forms(secret: str) -> list[str]:
        """The secret and the encodings it may be written in (URL, form and base64)."""
        return sorted({secret, quote(secret, safe=""), quote_plus(secret), _b64(secret)}, key=len, reverse=True)

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < _MIN_SECRET_LENGTH:
            return
        forms = self.forms(secret)
        with self._lock:
            for form in forms:
                if form not in self._needles:
                    self._needles.append(form)
            # Longest first, so a secret that contains another is masked whole.
            self._needles.sort(key=len, reverse=True)

    def add_basic_auth(self, username: str, password: str) -> None:
        self.add(password)
        self.add(_b64(f"{username}:{password}"))

    def redact(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, MASK)
        return text

    def redact_data(self, value: Any) -> Any:
        """Redact every string inside JSON-like data."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact(str(k)): self.redact_data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_data(v) for v in value]
        return value

    @property
    def secrets(self) -> list[str]:
        return list(self._needles)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


REDACTOR = Redactor()


class RedactingStream(io.TextIOBase):
    """Wraps stdout/stderr so nothing printed by anyone (tracebacks included) carries a secret."""

    def __init__(self, inner: TextIO, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def write(self, text: str) -> int:
        self._inner.write(self._redactor.redact(text))
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")


DEFAULT_TOKEN_ENV = "TRIGGER_SCHEDULE_TOKEN"
DEFAULT_USERNAME_ENV = "TRIGGER_SCHEDULE_USERNAME"
DEFAULT_PASSWORD_ENV = "TRIGGER_SCHEDULE_PASSWORD"
DEFAULT_ID_TOKEN_ENV = "TRIGGER_SCHEDULE_ID_TOKEN"


def credential_envs(auth: Mapping[str, Any], default_token_env: str | None = None) -> tuple[str, str, str]:
    """The env vars holding a platform's token, username and password (a plan's `auth:` names them)."""
    return (
        auth.get("token-env", default_token_env or DEFAULT_TOKEN_ENV),
        auth.get("username-env", DEFAULT_USERNAME_ENV),
        auth.get("password-env", DEFAULT_PASSWORD_ENV),
    )


def register_plan_secrets(
    auths: list[Mapping[str, Any]], environ: Mapping[str, str], default_token_env: str | None
) -> None:
    """Every credential a plan can use, known to the redactor before anything is printed or masked."""
    for auth in auths:
        token_env, _, password_env = credential_envs(auth, default_token_env)
        REDACTOR.add(environ.get(token_env))
        REDACTOR.add(environ.get(password_env))
        # OIDC: the CI's ID token in a variable, and the exchange's client secret (oidc.py reads them).
        REDACTOR.add(environ.get(auth.get("id-token-env") or DEFAULT_ID_TOKEN_ENV))
        REDACTOR.add(environ.get(str(dict(auth.get("exchange") or {}).get("client-secret-env") or "")))
        if auth.get("token-file"):
            # An unreadable or empty file is reported, with its hint, when the platform is built.
            with contextlib.suppress(ConfigError):
                read_secret(env_name=None, file_path=auth["token-file"], environ=environ, what="")


def missing_credential(
    name: str, auth: Mapping[str, Any], environ: Mapping[str, str], default_token_env: str | None
) -> ConfigError | None:
    """Why platform `name` has no credential to send, or None: only `type: none` sends none.

    Checked for every platform of the run before any request, so a misspelt variable is a config error naming
    it, not an unauthenticated request."""
    auth_type = auth.get("type", "bearer")
    token_env, _, password_env = credential_envs(auth, default_token_env)
    what = f"platform {name}"
    if auth_type in ("bearer", "header"):
        if auth.get("token-file"):
            try:
                read_secret(env_name=None, file_path=auth["token-file"], environ=environ, what=what)
            except ConfigError as exc:
                return exc
            return None
        if not environ.get(token_env):
            return ConfigError(
                f"{what}: no token: the environment variable {token_env} is not set or is empty",
                hint=f"set {token_env} from your CI's secret store (or name the right variable with --token-env / "
                "auth.token-env, or give a token file); for a scheduler without authentication use auth type none",
            )
    elif auth_type == "basic" and not environ.get(password_env):
        # The password is the secret; a username may be empty (Prefect's auth string holds "user:pass" alone).
        return ConfigError(
            f"{what}: no password for basic auth: the environment variable {password_env} is not set or is empty",
            hint=f"set {password_env} from your CI's secret store, or name the right variable "
            "(auth.password-env / --password-env)",
        )
    return None


@functools.cache
def _token_file_text(path: str) -> str:
    """A token file's content, read once per process (masking and the platform both want it)."""
    return Path(path).read_text(encoding="utf-8").strip()


def read_secret(*, env_name: str | None, file_path: str | None, environ: Mapping[str, str], what: str) -> str | None:
    """The secret from a file or an env var; a missing source is a config error, not silence."""
    if file_path:
        try:
            value = _token_file_text(file_path)
        except OSError as exc:
            raise ConfigError(
                f"{what}: cannot read the token file {file_path}: {exc.strerror}",
                hint="point --token-file (TRIGGER_SCHEDULE_TOKEN_FILE) at a readable file",
            ) from None
        if not value:
            raise ConfigError(f"{what}: the token file {file_path} is empty")
        REDACTOR.add(value)
        return value
    if env_name:
        value = environ.get(env_name, "")
        if value:
            REDACTOR.add(value)
            return value
    return None


def github_mask_commands(redactor: Redactor, environ: Mapping[str, str] | None = None) -> list[str]:
    """`::add-mask::` lines: GitHub's runner consumes them and never shows them in the log."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") != "true":
        return []
    return [f"::add-mask::{s}" for s in redactor.secrets]
