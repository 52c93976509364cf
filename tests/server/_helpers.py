"""Builders shared by the server tests."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from aiohttp.test_utils import TestClient

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

MANIFEST = """\
version: 1
project:
  name: hello
  vars:
    - name: GREETING
      value: Hi
  triggers:
    - name: greet
      webhook: {}
      call: program.py:on_greet
    - name: items
      webhook:
        methods: [GET, POST, PUT]
      call: program.py:on_items
"""

PROGRAM = """\
def on_greet(event):
    print("hello", event)


def on_items(event):
    print("items", event)
"""


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def project_zip(manifest: str = MANIFEST, program: str = PROGRAM) -> bytes:
    return make_zip({"pawflow.yaml": manifest, "program.py": program})


async def deploy(client: TestClient[Any, Any], code: bytes | None = None) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/deployments",
        data=project_zip() if code is None else code,
        headers={**AUTH, "Content-Type": "application/zip"},
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def webhook_path(url: str) -> str:
    return url[url.index("/webhooks/") :]
