"""A relay between a worker and the server that can act on what passes through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes._service import FakeService


class Relay(FakeService):
    """Forwards every request to ``upstream``; once a forwarded request body
    contains ``trigger``, calls ``then()`` before answering (only the first time)."""

    def __init__(self, upstream: str, trigger: bytes, then: Callable[[], Any]) -> None:
        super().__init__()
        self._upstream = upstream
        self._trigger = trigger
        self._then: Callable[[], Any] | None = then

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._forward)

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, self._upstream + request.path_qs, data=body, headers=headers
            ) as reply,
        ):
            data = await reply.read()
            status, content_type = reply.status, reply.content_type
        if self._then is not None and self._trigger in body:
            then, self._then = self._then, None
            then()
        return web.Response(status=status, body=data, content_type=content_type)
