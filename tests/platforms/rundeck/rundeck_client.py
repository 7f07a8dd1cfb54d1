"""A client of the stand-in Rundeck's admin API (no auth), for the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
