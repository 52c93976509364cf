"""Stopping without dropping: a server told to stop lets the requests it has
begun finish, uploads included, before it closes their connections.

aiohttp's own shutdown (``AppRunner.cleanup``) marks every connection closing
first, and a closing connection ignores the bytes that still arrive: a body
being uploaded at that moment never completes and its sender gets no answer.
So the listening sockets are closed first (no new connections), idle
connections are closed, and the server waits until no request is in progress
(or the shutdown time has passed) before aiohttp's cleanup cuts what is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from ..waiting import wait_until_set

__all__ = ["CUT_SECONDS", "DRAIN", "Drain", "drain_middleware", "stop_gracefully"]

log = logging.getLogger(__name__)

# Once the shutdown time has passed, what is left gets this long to end after
# its connection is cut (aiohttp then cancels its handler).
CUT_SECONDS = 1.0


class Drain:
    """The requests in progress, by connection, and whether the server is stopping."""

    def __init__(self, on_stop: Callable[[], None] = lambda: None) -> None:
        self._on_stop = on_stop  # ends requests that would never end by themselves
        self._busy: dict[object, int] = {}  # connection (its protocol) -> requests
        self._idle = asyncio.Event()
        self._idle.set()
        self.stopping = False

    def stop(self) -> None:
        self.stopping = True
        self._on_stop()

    def enter(self, connection: object) -> None:
        self._busy[connection] = self._busy.get(connection, 0) + 1
        self._idle.clear()

    def leave(self, connection: object) -> None:
        left = self._busy.pop(connection, 1) - 1
        if left > 0:
            self._busy[connection] = left
        if not self._busy:
            self._idle.set()

    def busy(self, connection: object) -> bool:
        return connection in self._busy

    @property
    def in_progress(self) -> int:
        return sum(self._busy.values())

    async def settled(self, seconds: float) -> bool:
        """Wait until no request is in progress; False when ``seconds`` ran out first."""
        return await wait_until_set(self._idle, seconds)


DRAIN = web.AppKey("drain", Drain)


@web.middleware
async def drain_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: counts the request from its headers to its reply; while the
    server stops, the reply ends its connection (no keep-alive)."""
    drain = request.app[DRAIN]
    connection = request.protocol
    drain.enter(connection)
    try:
        response = await handler(request)
        if drain.stopping and not response.prepared:
            response.force_close()
        return response
    finally:
        drain.leave(connection)


async def stop_gracefully(
    runner: web.AppRunner, drain: Drain | None = None, seconds: float = 0.0
) -> None:
    """Stop ``runner``'s server: refuse new connections, let the requests in
    progress finish for up to ``seconds``, then close everything. Without a
    ``drain`` (an app of short requests, not counted) just close everything.

    Runs in a task of its own: after a signal the caller's task is being
    cancelled, and aiohttp's shutdown treats any wait of a cancelled task as
    an error to re-raise.
    """
    await asyncio.create_task(_stop(runner, drain, seconds))


async def _stop(runner: web.AppRunner, drain: Drain | None, seconds: float) -> None:
    if drain is not None:
        await _drain(runner, drain, seconds)
    await runner.cleanup()


async def _drain(runner: web.AppRunner, drain: Drain, seconds: float) -> None:
    for site in runner.sites:
        await site.stop()  # the listening socket: new connections are refused
    drain.stop()
    # Let requests whose headers have just arrived reach the middleware (the
    # connection queues the message, then starts a task for it) before
    # deciding which connections are idle.
    for _ in range(3):
        await asyncio.sleep(0)
    server = runner.server
    if server is not None:
        for connection in server.connections:
            if not drain.busy(connection):
                # Idle keep-alive connections: ended now, not after a request
                # the balancer should send elsewhere.
                connection.force_close()
    if drain.in_progress:
        log.info(
            "stopping: %d request(s) in progress get up to %g s to finish",
            drain.in_progress,
            seconds,
        )
    if not await drain.settled(seconds):
        log.warning(
            "stopping: %d request(s) still in progress after %g s are cut",
            drain.in_progress,
            seconds,
        )
