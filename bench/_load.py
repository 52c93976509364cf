"""Load generation: N concurrent clients, each doing one thing at a time; percentiles.

Send times are wall-clock (``time.time()``) so they can be compared with event
times in Temporal's history: Temporal runs on the same machine.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp

__all__ = ["Backlog", "Drive", "LoadResult", "Sent", "drive", "percentile", "post_load"]

_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Drive:
    """How a run of :func:`drive` went."""

    started: float  # wall clock when the clients began
    ended: float  # wall clock when the last one stopped
    steps: int  # steps begun

    @property
    def elapsed(self) -> float:
        return max(self.ended - self.started, 1e-9)


async def drive(
    clients: int,
    step: Callable[[int], Awaitable[None]],
    *,
    count: int | None = None,
    duration: float | None = None,
    gate: Callable[[], Awaitable[None]] | None = None,
) -> Drive:
    """Run ``step(i)`` for i = 0, 1, ... from ``clients`` concurrent clients.

    Stops after ``count`` steps in all or after ``duration`` seconds, whichever
    comes first; ``gate`` (when given) is awaited before each step, to pace them.
    """
    if count is None and duration is None:
        raise ValueError("give count or duration")
    loop = asyncio.get_running_loop()
    deadline = math.inf if duration is None else loop.time() + duration
    issued = 0

    async def client() -> None:
        nonlocal issued
        while True:
            if gate is not None:
                await gate()
            if (count is not None and issued >= count) or loop.time() >= deadline:
                return
            issued += 1
            await step(issued - 1)

    started = time.time()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Drive(started, time.time(), issued)


@dataclass(frozen=True)
class Sent:
    """One request: when it was sent (wall clock), how long until the answer, what came."""

    number: int
    at: float
    seconds: float
    status: int
    event_id: str | None


@dataclass(frozen=True)
class LoadResult:
    sent: list[Sent]
    run: Drive
    errors: int  # requests that failed without an HTTP answer

    def with_status(self, status: int) -> list[Sent]:
        return [s for s in self.sent if s.status == status]


async def post_load(
    url: str,
    *,
    clients: int,
    count: int | None = None,
    duration: float | None = None,
    body: Callable[[int], bytes] = lambda i: b"{}",
    gate: Callable[[], Awaitable[None]] | None = None,
    after: Callable[[Sent], Awaitable[None]] | None = None,
) -> LoadResult:
    """POST JSON to ``url`` from ``clients`` concurrent HTTP clients (see :func:`drive`).

    ``body(i)`` is the body of request ``i``; ``after(sent)``, when given, runs in
    the client after each answer, before its next request (a closed loop).
    """
    sent: list[Sent] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def step(number: int) -> None:
            nonlocal errors
            data = body(number)
            at = time.time()
            t0 = time.perf_counter()
            try:
                async with http.post(url, data=data, headers=_JSON) as resp:
                    await resp.read()
                    seconds = time.perf_counter() - t0
                    one = Sent(
                        number, at, seconds, resp.status, resp.headers.get("Pawflow-Event-Id")
                    )
            except (aiohttp.ClientError, TimeoutError):
                errors += 1
                return
            sent.append(one)
            if after is not None:
                await after(one)

        run = await drive(clients, step, count=count, duration=duration, gate=gate)
    return LoadResult(sent, run, errors)


class Backlog:
    """Paces clients so that at most ``cap`` of their items are unfinished.

    ``refresh`` is a coroutine returning how many have finished so far; it is
    polled every ``interval`` seconds while clients wait.
    """

    def __init__(
        self, cap: int, refresh: Callable[[], Awaitable[int]], interval: float = 0.05
    ) -> None:
        self.cap = cap
        self.issued = 0
        self.finished = 0
        self.waits = 0
        self._refresh = refresh
        self._interval = interval
        self._changed = asyncio.Condition()
        self._poller: asyncio.Task[None] | None = None

    async def gate(self) -> None:
        """Return once one more item may begin (and count it as begun)."""
        async with self._changed:
            while self.issued - self.finished >= self.cap:
                self.waits += 1
                self._ensure_poller()
                await self._changed.wait()
            self.issued += 1

    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        while True:
            finished = await self._refresh()
            async with self._changed:
                self.finished = max(self.finished, finished)
                self._changed.notify_all()
                if self.issued - self.finished < self.cap:
                    return
            await asyncio.sleep(self._interval)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
