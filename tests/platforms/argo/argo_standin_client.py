"""Talks to the stand-in Argo Server's admin routes (no auth) from the tests."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Argo:
    url: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/_admin/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def template(self, name: str, **spec: Any) -> None:
        self.admin("POST", "templates", {"name": name, **spec})

    def workflows(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "workflows")["items"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "requests")["requests"])
