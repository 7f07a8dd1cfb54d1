"""The stand-in powerjob-server's admin API, for the tests."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


class PowerJob:
    """The stand-in's admin API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_admin/{path}", data=data, method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def job(self, job_id: int, name: str, **settings: Any) -> None:
        self.admin("jobs", {"id": job_id, "name": name, **settings})

    def requests(self) -> list[dict[str, Any]]:
        return self.admin("requests")  # type: ignore[no-any-return]

    def instances(self) -> list[dict[str, Any]]:
        return self.admin("instances")  # type: ignore[no-any-return]
