"""A NUL (``%00``) in any part of any route's path names nothing: 404, never a
500 (PostgreSQL's text cannot hold NUL, SQLite's can), on either store."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from ._helpers import TOKEN

pytestmark = pytest.mark.timeout(120)

_PARAM = re.compile(r"\{[^}]+\}")


def _paths(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route with a parameter, each parameter a NUL."""
    out = []
    for route in app.router.routes():
        info = route.get_info()
        template = info.get("formatter") or info.get("path")
        if not template or "{" not in template or route.method == "HEAD":
            continue
        method = "POST" if route.method == "*" else route.method  # any method: one will do
        out.append((method, _PARAM.sub("a%00b", template)))
    return sorted(set(out))


async def test_every_route_answers_404_to_a_nul_in_its_path(
    client: TestClient[Any, Any], app: web.Application
) -> None:
    paths = _paths(app)
    assert len(paths) > 20
    failed = []
    for method, path in paths:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        response = await client.request(
            method,
            path,
            data=body,
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        if response.status != 404 or "error" not in await response.json():
            failed.append(f"{method} {path}: {response.status} {(await response.text())[:80]}")
    assert failed == []
