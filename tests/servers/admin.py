"""What every stand-in's tests share: JSON calls to its `/_admin` API, and a bounded wait for a condition."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any


def admin_call(base_url: str, method: str, path: str, body: Any = None) -> Any:
    """`method base_url/_admin/path` with a JSON body; the decoded JSON answer (None for an empty one)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}/_admin/{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def wait_until(check: Callable[[], Any], seconds: float) -> None:
    """Poll `check` every 0.1 s until it is true; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {seconds} s")
