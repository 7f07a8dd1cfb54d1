"""A client of the stand-in Rundeck's admin API (no auth), for the tests."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Rundeck:
    url: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/_admin/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def job(self, job_id: str, **spec: Any) -> str:
        self.admin("POST", "jobs", {"id": job_id, "name": job_id, **spec})
        return job_id

    def executions(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "executions")["executions"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "requests")["requests"])
