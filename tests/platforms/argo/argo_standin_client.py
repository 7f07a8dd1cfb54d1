"""Talks to the stand-in Argo Server's admin routes (no auth) from the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from servers.admin import admin_call


@dataclass
class Argo:
    url: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return admin_call(self.url, method, path, body)

    def template(self, name: str, **spec: Any) -> None:
        self.admin("POST", "templates", {"name": name, **spec})

    def workflows(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "workflows")["items"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "requests")["requests"])
