"""Talking to Airflow's REST API: which version (v1 = Airflow 2, v2 = Airflow 3), and its credentials.

Airflow 2 takes basic auth (with the basic_auth API backend) or a bearer token. Airflow 3 takes only a
bearer JWT: basic credentials are exchanged for one at `POST /auth/token` (airflow-core
api_fastapi/auth/managers/simple/routes/login.py and the FAB provider's equivalent).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import requests

from trigger_schedule.errors import AuthError, PlatformError, RejectedError
from trigger_schedule.http import HttpClient, json_object, raise_for_response
from trigger_schedule.platforms.base import PlatformConfig, auth_headers
from trigger_schedule.secrets import MASK, REDACTOR

_API_SUFFIX = re.compile(r"/api/v([12])/?$")


class AirflowApi:
    """One Airflow server: its base URL, API version (detected once) and auth headers."""

    def __init__(self, config: PlatformConfig, http: HttpClient, api_version: str) -> None:
        self.config = config
        self.http = http
        base = config.url.rstrip("/")
        # A URL given with its API path names the version; the base is what the UI links need.
        match = _API_SUFFIX.search(base)
        self.base = base[: match.start()] if match else base
        wanted = str(api_version)
        if wanted == "auto" and match:
            wanted = match.group(1)
        self._version: int | None = int(wanted) if wanted in ("1", "2") else None
        self._jwt: str | None = None
        self._lock = threading.Lock()

    # -- version ------------------------------------------------------------------------------

    @property
    def known_version(self) -> int | None:
        return self._version

    def version(self, deadline: float | None = None) -> int:
        with self._lock:
            if self._version is None:
                self._version = self._detect(deadline)
            return self._version

    def _detect(self, deadline: float | None) -> int:
        """Probe /api/v2/version, then /api/v1/version (both open to anonymous callers)."""
        for version in (2, 1):
            response = self.http.request(
                "GET",
                f"{self.base}/api/v{version}/version",
                headers={"Accept": "application/json"},
                what=f"detect the Airflow API version at {self.base}",
                deadline=deadline,
                raise_for_status=False,
            )
            if response.status_code in (401, 403) or (response.status_code == 200 and _looks_like_version(response)):
                return version
        raise RejectedError(
            f"{self.base} answers neither /api/v2/version (Airflow 3) nor /api/v1/version (Airflow 2)",
            hint="set url to the Airflow web server's base URL (what the browser shows before /dags), "
            "or set options.api-version to 1 or 2",
        )

    def url(self, path: str, deadline: float | None = None) -> str:
        return f"{self.base}/api/v{self.version(deadline)}{path}"

    # -- credentials --------------------------------------------------------------------------

    def auth_headers(self, deadline: float | None = None) -> dict[str, str]:
        cfg = self.config
        if cfg.auth_type == "basic" and self.version(deadline) != 1:
            # Airflow 3 takes no basic auth: the username and password are exchanged for a JWT.
            return {"Authorization": f"Bearer {self._exchange_token(deadline)}"}
        if cfg.auth_type == "bearer" and not cfg.token:
            raise AuthError(
                f"platform {cfg.name}: no token for Airflow",
                hint="export the token (TRIGGER_SCHEDULE_TOKEN or auth.token-env), "
                "or use auth type basic with a username and password",
            )
        return auth_headers(cfg)

    def masked_auth_headers(self) -> dict[str, str]:
        """What auth_headers would send, without sending anything (for --dry-run)."""
        if self.config.auth_type == "none":
            return {}
        name = self.config.auth_header if self.config.auth_type == "header" else "Authorization"
        return {name: MASK}

    def _exchange_token(self, deadline: float | None, *, renew: bool = False) -> str:
        with self._lock:
            if self._jwt is None or renew:
                self._jwt = self._request_token(deadline)
            return self._jwt

    def _request_token(self, deadline: float | None) -> str:
        cfg = self.config
        what = f"get an Airflow API token for {cfg.username or '(no username)'}"
        response = self.http.request(
            "POST",
            f"{self.base}/auth/token",
            json={"username": cfg.username or "", "password": cfg.password or ""},
            headers={"Accept": "application/json"},
            what=what,
            deadline=deadline,
            raise_for_status=False,
            secret_response=True,
        )
        if response.status_code in (400, 401, 403, 422):
            raise AuthError(
                f"{what}: Airflow rejected the username or password (HTTP {response.status_code})",
                hint="check the env vars named by auth.username-env and auth.password-env "
                "(default TRIGGER_SCHEDULE_USERNAME / TRIGGER_SCHEDULE_PASSWORD)",
                status_code=response.status_code,
            )
        raise_for_response(response, what)
        token = _json(response, what).get("access_token") if response.content else None
        if not isinstance(token, str) or not token:
            raise PlatformError(f"{what}: the answer of POST /auth/token has no access_token")
        REDACTOR.add(token)
        return token

    # -- requests -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        deadline: float | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        accept: str = "application/json",
        raise_for_status: bool = True,
    ) -> requests.Response:
        """A request to `/api/v<n>{path}`; an expired exchanged JWT is renewed once."""
        url = self.url(path, deadline)
        response = self._send(method, url, what, deadline, json, params, accept, self.auth_headers(deadline))
        if response.status_code == 401 and self.config.auth_type == "basic" and self.version() == 2:
            fresh = {"Authorization": f"Bearer {self._exchange_token(deadline, renew=True)}"}
            response = self._send(method, url, what, deadline, json, params, accept, fresh)
        if raise_for_status:
            raise_for_response(response, what)
        return response

    def _send(
        self,
        method: str,
        url: str,
        what: str,
        deadline: float | None,
        json: Any,
        params: Mapping[str, Any] | None,
        accept: str,
        auth: Mapping[str, str],
    ) -> requests.Response:
        return self.http.request(
            method,
            url,
            what=what,
            deadline=deadline,
            json=json,
            params=params,
            headers={"Accept": accept, **auth},
            raise_for_status=False,
            retry_if=database_error,
        )


def database_error(response: requests.Response) -> bool:
    """Airflow 3's answer to any SQLAlchemy error, such as a locked SQLite or a dropped database
    connection: HTTP 500 with reason "Database error" (airflow-core api_fastapi/common/exceptions.py,
    SQLAlchemyErrorHandler). Usually gone a moment later; a retried trigger keeps its dag_run_id, so
    a first attempt that did commit is adopted (409), never duplicated."""
    if response.status_code != 500:
        return False
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return False
    return isinstance(detail, dict) and detail.get("reason") == "Database error"


def _looks_like_version(response: requests.Response) -> bool:
    try:
        return isinstance(response.json().get("version"), str)
    except (ValueError, AttributeError):
        return False


def _json(response: requests.Response, what: str) -> dict[str, Any]:
    return json_object(response, what, hint="check the platform url points at Airflow's web server / API server")
