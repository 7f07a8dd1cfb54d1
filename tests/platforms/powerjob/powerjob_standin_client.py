"""The stand-in powerjob-server's admin API, for the tests."""

from __future__ import annotations

from typing import Any

from servers.admin import admin_call


class PowerJobStandin:
    """The stand-in's admin API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return admin_call(self.url, "GET" if body is None else "POST", path, body)

    def job(self, job_id: int, name: str, **settings: Any) -> None:
        self.admin("jobs", {"id": job_id, "name": name, **settings})

    def requests(self) -> list[dict[str, Any]]:
        return self.admin("requests")  # type: ignore[no-any-return]

    def instances(self) -> list[dict[str, Any]]:
        return self.admin("instances")  # type: ignore[no-any-return]
