"""A client of the stand-in Rundeck's admin API (no auth), and of its API as Rundeck answers it, for the tests."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from cli_runner import TOKEN
from servers.admin import admin_call


@dataclass
class Rundeck:
    url: str

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return admin_call(self.url, method, path, body)

    def job(self, job_id: str, **spec: Any) -> str:
        self.admin("POST", "jobs", {"id": job_id, "name": job_id, **spec})
        return job_id

    def executions(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "executions")["executions"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self.admin("GET", "requests")["requests"])

    def execution(self, execution_id: str) -> dict[str, Any]:
        """The execution as Rundeck's API records it (`GET /api/44/execution/{id}`)."""
        request = urllib.request.Request(f"{self.url}/api/44/execution/{execution_id}")
        request.add_header("X-Rundeck-Auth-Token", TOKEN)
        request.add_header("Accept", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
