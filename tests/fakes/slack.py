"""A fake Slack Web API: ``auth.test`` and ``chat.postMessage`` under ``/api/``.

Requests must carry ``Authorization: Bearer <token>``; otherwise the answer is
Slack's ``{"ok": false, "error": "invalid_auth"}``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from ._service import FakeService

__all__ = ["FakeSlack"]


class FakeSlack(FakeService):
    def __init__(self, token: str = "xoxb-test-token") -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, Any]] = []

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/auth.test", self._auth_test)
        app.router.add_post("/api/chat.postMessage", self._post_message)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.token}"

    async def _auth_test(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        return web.json_response(
            {"ok": True, "user": "pawbot", "user_id": "U1", "team": "Paw Team", "team_id": "T1"}
        )

    async def _post_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        raw = await request.read()
        if request.content_type == "application/json":
            args = json.loads(raw or b"{}")
        else:
            args = dict(parse_qsl(raw.decode()))
        self.messages.append(args)
        ts = f"1700000000.{len(self.messages):06d}"
        return web.json_response(
            {
                "ok": True,
                "channel": args.get("channel"),
                "ts": ts,
                "message": {"text": args.get("text")},
            }
        )
