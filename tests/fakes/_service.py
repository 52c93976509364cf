"""A small aiohttp server on 127.0.0.1 in a thread of its own, for fake services.

Its own thread and loop let both sync tests (and subprocesses such as
``paw up``) and async tests talk to it. Every request is counted by
(method, path) and kept with its headers and body.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FakeService:
    """Subclasses add routes in :meth:`routes`; ``url`` is valid while running."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context  # serve https with it
        self.calls: Counter[tuple[str, str]] = Counter()
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return self.calls[(method, path)]

    def seen(self, method: str, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.calls[(request.method, request.path)] += 1
            self.requests.append(Seen(request.method, request.path, dict(request.headers), body))
        response: web.StreamResponse = await handler(request)
        return response

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._record])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        scheme = "http" if self._ssl_context is None else "https"
        self.url = f"{scheme}://127.0.0.1:{port}"

    @contextmanager
    def running(self) -> Iterator[Any]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, daemon=True, name=type(self).__name__)
        thread.start()
        assert ready.wait(10), f"{type(self).__name__} did not start"
        try:
            yield self
        finally:
            assert self._runner is not None
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
