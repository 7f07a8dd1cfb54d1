"""Talks to the stand-in DolphinScheduler's admin routes (no auth) from the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servers.admin import admin_call

PROJECT = "1234567890"


@dataclass
class Dolphin:
    url: str  # the server root; the API lives under /dolphinscheduler
    version: str = "3.3"

    @property
    def api(self) -> str:
        return f"{self.url}/dolphinscheduler"

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return admin_call(self.url, method, path, body)

    def definition(self, code: str, **spec: Any) -> None:
        self.admin("POST", "definitions", {"code": code, **spec})

    def instances(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "instances")["items"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "requests")["requests"])

    def starts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["method"] == "POST" and "/executors/start-" in r["path"]]
