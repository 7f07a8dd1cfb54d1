"""Keyless auth: the CI's OIDC ID token as the credential (`auth.type: oidc`), or traded at a token endpoint for an
access token (`oidc-exchange`, RFC 8693), refreshed before it expires. See docs/oidc.md.

Every token is known to the redactor (and masked on GitHub) the moment it is read, before anything can print it.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from trigger_schedule.clock import Clock
from trigger_schedule.errors import AuthError, ConfigError
from trigger_schedule.http import HttpClient
from trigger_schedule.secrets import DEFAULT_ID_TOKEN_ENV, REDACTOR
from trigger_schedule.urls import resolve_url

OIDC_TYPES = ("oidc", "oidc-exchange")
GITHUB_URL_ENV = "ACTIONS_ID_TOKEN_REQUEST_URL"
GITHUB_REQUEST_TOKEN_ENV = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
# A token is renewed once this share of its lifetime is left (at most a minute before), so no request carries one
# that expires on its way.
_REFRESH_SHARE = 0.25
_REFRESH_MAX_MARGIN = 60.0

_HOW_TO_GET = (
    "GitHub Actions: give the job `permissions: id-token: write`; GitLab CI: declare the token with the "
    "`id_tokens:` keyword (the component's `oidc-id-token: true` input), or name your variable in "
    "auth.id-token-env; Jenkins: bind the OpenID Connect Provider credential with withCredentials (the step's "
    "`oidcCredentialsId`)"
)


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: float | None  # a clock.monotonic() value; None: no known end, never renewed
    lifetime: float = 0.0  # seconds from issue to expires_at


def _token(value: str, expires_at: float | None, clock: Clock) -> Token:
    return Token(value, expires_at, 0.0 if expires_at is None else max(0.0, expires_at - clock.monotonic()))


def register(value: str, environ: Mapping[str, str]) -> None:
    """Known to the redactor before any output, and on GitHub masked by the runner too."""
    REDACTOR.add(value)
    if environ.get("GITHUB_ACTIONS") == "true":
        raw = sys.__stdout__ or sys.stdout
        for form in REDACTOR.forms(value):
            raw.write(f"::add-mask::{form}\n")  # consumed by the runner, never shown
        raw.flush()


def claims(jwt: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the scheduler verifies it; this only reads aud and exp)."""
    try:
        payload = jwt.split(".")[1]
        document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _lifetime_end(jwt: str, clock: Clock) -> float | None:
    exp = claims(jwt).get("exp")
    if not isinstance(exp, (int, float)):
        return None
    return clock.monotonic() + (float(exp) - clock.now().timestamp())


def id_token_env(auth: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """The variable the ID token is read from, or None for GitHub's request endpoint."""
    if auth.get("id-token-env"):
        return str(auth["id-token-env"])
    if environ.get(GITHUB_URL_ENV) and environ.get(GITHUB_REQUEST_TOKEN_ENV):
        return None
    return DEFAULT_ID_TOKEN_ENV


def missing_id_token(what: str, auth: Mapping[str, Any], environ: Mapping[str, str]) -> AuthError | None:
    """Why no ID token can be had, before any request: no variable, and no GitHub request endpoint."""
    name = id_token_env(auth, environ)
    if name is None or environ.get(name):
        return None
    on_github = environ.get("GITHUB_ACTIONS") == "true"
    if on_github and not auth.get("id-token-env"):
        return AuthError(
            f"{what}: no OIDC ID token: {GITHUB_URL_ENV} is not set, so GitHub offers this job no ID token",
            hint="add `permissions: id-token: write` to the workflow job (a job that sets permissions must list it)",
        )
    return AuthError(
        f"{what}: no OIDC ID token: the environment variable {name} is not set or is empty", hint=_HOW_TO_GET
    )


class IdTokens:
    """The CI's ID token: GitHub's request endpoint (fetched again when it nears its end), else a variable."""

    def __init__(self, what: str, auth: Mapping[str, Any], environ: Mapping[str, str], http: HttpClient) -> None:
        self.what, self.auth, self.environ, self.http = what, auth, environ, http
        self.audience: str | None = auth.get("audience")
        self.env_name = id_token_env(auth, environ)

    def fetch(self) -> Token:
        problem = missing_id_token(self.what, self.auth, self.environ)
        if problem:
            raise problem
        if self.env_name is not None:
            value = self.environ[self.env_name]
            register(value, self.environ)
            self._check_audience(value)
            return Token(value, None)  # a variable cannot be renewed; its scheduler says when it ended
        value = self._from_github()
        return _token(value, _lifetime_end(value, self.http.clock), self.http.clock)

    def _check_audience(self, value: str) -> None:
        aud = claims(value).get("aud")
        auds = aud if isinstance(aud, list) else [aud] if isinstance(aud, str) else []
        if self.audience and auds and self.audience not in auds:
            raise AuthError(
                f"{self.what}: the ID token in {self.env_name} is for audience {', '.join(map(str, auds))}, "
                f"not {self.audience!r} (auth.audience)",
                hint="set the token's audience in the CI (GitLab: id_tokens: <VAR>: aud:; Jenkins: the credential's "
                "audience) to the one auth.audience names, or correct auth.audience",
            )

    def _from_github(self) -> str:
        """GitHub's ID-token request, as @actions/core getIDToken sends it (toolkit packages/core/src/oidc-utils.ts):
        GET <request URL>&audience=<aud> with the request token as bearer; the answer is {"value": <jwt>}."""
        request_token = self.environ[GITHUB_REQUEST_TOKEN_ENV]
        register(request_token, self.environ)
        url = self.environ[GITHUB_URL_ENV]
        if self.audience:
            url += "&audience=" + quote(self.audience, safe="")
        what = f"{self.what}: request GitHub's OIDC ID token"
        headers = {"Authorization": f"Bearer {request_token}", "Accept": "application/json"}
        response = self.http.request(
            "GET", url, what=what, headers=headers, secret_response=True, raise_for_status=False
        )
        document = _json(response)
        value = document.get("value") if isinstance(document, dict) else None
        if response.status_code >= 400 or not isinstance(value, str) or not value:
            detail = REDACTOR.redact(str(document.get("message") if isinstance(document, dict) else "no token"))
            raise AuthError(
                f"{what}: GitHub refused it (HTTP {response.status_code}): {detail}",
                hint="the job needs `permissions: id-token: write`; check the audience (auth.audience)",
                status_code=response.status_code,
            )
        register(value, self.environ)
        return value


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class Exchange:
    """RFC 8693 token exchange (section 2.1 request, 2.2.1 answer, 2.2.2 error) of the ID token for an access token."""

    def __init__(
        self, what: str, settings: Mapping[str, Any], environ: Mapping[str, str], http: HttpClient, ids: IdTokens
    ) -> None:
        self.what, self.settings, self.environ, self.http, self.ids = what, settings, environ, http, ids
        self.url = resolve_url(str(settings["token-url"]), environ, "auth.exchange.token-url")
        self._id_token: Token | None = None

    def form(self, subject: str) -> dict[str, str]:
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject,
            "subject_token_type": str(self.settings.get("subject-token-type", ID_TOKEN_TYPE)),
        }
        for key in ("audience", "scope", "requested-token-type"):
            if self.settings.get(key):
                form[key.replace("-", "_")] = str(self.settings[key])
        form.update({str(k): str(v) for k, v in dict(self.settings.get("params") or {}).items()})
        return form

    def fetch(self) -> Token:
        clock = self.http.clock
        if self._id_token is None or _due(self._id_token, clock):
            self._id_token = self.ids.fetch()
        what = f"{self.what}: exchange the ID token at {self.url}"
        response = self.http.request(
            "POST",
            self.url,
            what=what,
            data=self.form(self._id_token.value),
            auth=client_auth(self.settings, self.environ),
            headers={"Accept": "application/json"},
            secret_response=True,
            raise_for_status=False,
        )
        document = _json(response)
        value = document.get("access_token") if isinstance(document, dict) else None
        if response.status_code >= 400 or not isinstance(value, str) or not value:
            raise AuthError(
                f"{what}: refused (HTTP {response.status_code}): {_oauth_error(document)}",
                hint=_exchange_hint(document),
                status_code=response.status_code,
            )
        register(value, self.environ)
        expires_in = document.get("expires_in")
        if isinstance(expires_in, (int, float)) and expires_in > 0:
            return _token(value, clock.monotonic() + float(expires_in), clock)
        return _token(value, _lifetime_end(value, clock), clock)


def client_auth(settings: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The client's credentials as HTTP Basic (RFC 6749 section 2.3.1), when the plan names their variables."""
    id_env, secret_env = settings.get("client-id-env"), settings.get("client-secret-env")
    if not id_env and not secret_env:
        return None
    client_id, secret = environ.get(str(id_env or ""), ""), environ.get(str(secret_env or ""), "")
    REDACTOR.add(secret)
    # RFC 6749 2.3.1: both are form-urlencoded before they are joined.
    return quote(client_id, safe=""), quote(secret, safe="")


def missing_credential(
    what: str, auth: Mapping[str, Any], environ: Mapping[str, str]
) -> AuthError | ConfigError | None:
    """What an oidc auth lacks before any request: its ID token (exit 3), or the exchange's client (exit 2)."""
    settings = dict(auth.get("exchange") or {})
    if auth.get("type") == "oidc-exchange" and not settings.get("token-url"):
        return ConfigError(f"{what}: auth type oidc-exchange needs auth.exchange.token-url", hint="see docs/oidc.md")
    return missing_id_token(what, auth, environ) or _missing_client(what, settings, environ)


def _missing_client(what: str, settings: Mapping[str, Any], environ: Mapping[str, str]) -> ConfigError | None:
    for key in ("client-id-env", "client-secret-env"):
        name = settings.get(key)
        if name and not environ.get(str(name)):
            return ConfigError(
                f"{what}: auth.exchange.{key} names {name}, which is not set or is empty",
                hint=f"set {name} from your CI's secret store, or drop auth.exchange.{key} for a public client",
            )
    return None


def _oauth_error(document: Any) -> str:
    """RFC 6749 section 5.2's `error` and `error_description` only: never the rest of the answer."""
    if not isinstance(document, dict) or not document.get("error"):
        return "no OAuth error in the answer"
    text = str(document["error"])
    if document.get("error_description"):
        text += f": {document['error_description']}"
    return REDACTOR.redact(text)


def _exchange_hint(document: Any) -> str:
    error = document.get("error") if isinstance(document, dict) else None
    if error == "invalid_client":
        return "check the client id and secret (auth.exchange.client-id-env, client-secret-env)"
    if error in ("invalid_target", "invalid_scope"):
        return "check auth.exchange.audience and scope against what the endpoint allows this client"
    return (
        "check that the token endpoint trusts this CI's issuer and the ID token's audience (auth.audience), and "
        "that auth.exchange (subject-token-type, params) matches what it expects"
    )


def _due(token: Token, clock: Clock) -> bool:
    if token.expires_at is None:
        return False
    margin = min(_REFRESH_MAX_MARGIN, _REFRESH_SHARE * token.lifetime)
    return clock.monotonic() >= token.expires_at - margin


class RefreshingCredential(requests.auth.AuthBase):
    """A requests auth hook on a platform's session: each request carries the current token, renewed before it
    expires, in place of whichever earlier one the plug-in put in its headers (plug-ins build headers once)."""

    def __init__(self, fetch: Callable[[], Token], clock: Clock, hint: str) -> None:
        self._fetch, self._clock, self.hint = fetch, clock, hint
        self._lock = threading.Lock()
        self._token = fetch()
        self._spent: list[str] = []

    @property
    def initial(self) -> str:
        return self._token.value

    def current(self) -> str:
        with self._lock:
            if _due(self._token, self._clock):
                self._spent.append(self._token.value)
                self._token = self._fetch()
            return self._token.value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        fresh = self.current()
        for name, value in list(request.headers.items()):
            for old in self._spent:
                if old in value:
                    value = value.replace(old, fresh)
            request.headers[name] = value
        request.credential_hint = self.hint  # type: ignore[attr-defined]  # read by http.raise_for_response
        return request
