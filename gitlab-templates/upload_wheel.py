"""Uploads a wheel to this GitLab project's PyPI package registry, with the standard library only.

    python3 dist/upload_wheel.py dist/trigger_schedule-1.0.0-py3-none-any.whl

GitLab's upload API (doc/user/packages/pypi_repository: `POST /projects/:id/packages/pypi`, the multipart
form twine sends) with the job token; run by the component project's publish job (.gitlab-ci.yml there).
Env: CI_API_V4_URL, CI_PROJECT_ID, CI_JOB_TOKEN.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import urllib.request
import uuid
from pathlib import Path


def form(fields: dict[str, str], wheel: Path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{wheel.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + wheel.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def main(argv: list[str]) -> int:
    wheel = Path(argv[0])
    name, version = wheel.name.split("-")[:2]
    data = wheel.read_bytes()
    fields = {
        ":action": "file_upload",
        "name": name.replace("_", "-"),
        "version": version,
        "requires_python": ">=3.11",
        "md5_digest": hashlib.md5(data).hexdigest(),
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }
    body, content_type = form(fields, wheel)
    url = f"{os.environ['CI_API_V4_URL']}/projects/{os.environ['CI_PROJECT_ID']}/packages/pypi"
    credentials = base64.b64encode(f"gitlab-ci-token:{os.environ['CI_JOB_TOKEN']}".encode()).decode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type, "Authorization": f"Basic {credentials}"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        print(f"uploaded {wheel.name} (sha256:{fields['sha256_digest']}): HTTP {response.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
