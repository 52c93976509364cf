"""concurrent_calls: many sessions, each inside one slow I/O-bound call, on one worker.

The bench serves a slow HTTP endpoint on 127.0.0.1 that answers after
``CALL_SECONDS`` and counts the requests it holds at once. N sessions (the
bench project's ``slow`` trigger: one ``@pawflow.activity`` doing a blocking
``urllib`` GET of that endpoint) are started through webhooks as fast as 16
clients can post them; the figure is the seconds from the first post until the
last of them ended (its close time in Temporal's visibility). A worker that ran
every call at once would take a little over ``CALL_SECONDS``.

Bounded: after ``Plan.concurrent_give_up_seconds`` the measure stops waiting and
reports how many sessions had ended by then.

Baseline: N raw workflows, each running one (non-local) ``async`` activity that
GETs the same endpoint, on the raw process's unsandboxed worker, whose activity
slots are raised to hold them all (temporalio's default of 100 would make it
take N / 100 x ``CALL_SECONDS``) and its activity pollers to 20; started with 64
concurrent ``start_workflow`` calls.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from temporalio.client import Client

from pawflow.up import free_port

from ._baseline import SLOW_CALL_WORKFLOW, start_like_pawflow
from ._context import BenchError, CpuWatch, Measured, PawSide, Plan, RawSide
from ._history import count
from ._load import drive, post_load
from ._report import Result, Target

__all__ = [
    "CALL_SECONDS",
    "SlowServer",
    "concurrent_baseline",
    "concurrent_pawflow",
    "concurrent_results",
]

CALL_SECONDS = 5.0
# Concurrent start_workflow calls of the baseline: a start waits for Temporal to
# persist it, so more callers than the webhook clients (whose 202 comes before
# any start) keep the baseline's starting from being what is measured.
_RAW_STARTERS = 64
_POLL_SECONDS = 0.25


class SlowServer:
    """An HTTP endpoint on 127.0.0.1 that answers each GET after ``delay`` seconds
    and keeps the most requests it held at once."""

    def __init__(self, delay: float = CALL_SECONDS) -> None:
        self.delay = delay
        self.port = free_port()
        self.current = 0
        self.peak = 0
        self.served = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wait"

    def reset(self) -> None:
        self.peak = self.current
        self.served = 0

    async def _wait(self, request: web.Request) -> web.Response:
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.current -= 1
        self.served += 1
        return web.Response(text="ok")

    async def __aenter__(self) -> SlowServer:
        app = web.Application()
        app.router.add_get("/wait", self._wait)
        # Every waiting request holds a connection; the default backlog is enough
        # for the accept loop, which runs between them.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


async def _until_ended(
    client: Client, query: str, n: int, t0: float, give_up: float
) -> dict[str, Any]:
    """Wait until ``n`` workflows of ``query`` closed, at most until ``t0 + give_up``
    (wall clock); then when the last one closed and how they ended."""
    closed = f"{query} AND ExecutionStatus != 'Running'"
    while True:
        done = await count(client, closed)
        if done >= n or time.time() - t0 > give_up:
            break
        await asyncio.sleep(_POLL_SECONDS)
    statuses: Counter[str] = Counter()
    last = 0.0
    async for wf in client.list_workflows(closed):
        statuses[wf.status.name.lower() if wf.status else "unknown"] += 1
        if wf.close_time is not None:
            last = max(last, wf.close_time.timestamp())
    ended = sum(statuses.values())
    all_ended = ended >= n
    return {
        "seconds": round((last if all_ended else time.time()) - t0, 2),
        "all_ended": all_ended,
        "ended": ended,
        "ended_by_status": dict(statuses),
    }


async def _measured(
    server: SlowServer,
    side: Measured,
    client: Client,
    query: str,
    plan: Plan,
    start_all: Any,
) -> dict[str, Any]:
    n = plan.concurrent_sessions
    server.reset()
    watch = CpuWatch(side)
    watch.start()
    t0 = time.time()
    posting = await start_all()
    ended = await _until_ended(client, query, n, t0, plan.concurrent_give_up_seconds)
    cpu = watch.shares(max(time.time() - t0, 1e-9))
    return {
        "seconds": ended.pop("seconds"),
        "detail": {
            **ended,
            "starting_seconds": round(posting, 2),
            "peak_calls_at_once": server.peak,
            "calls_answered": server.served,
            "cpu_share_of_one_core": cpu,
        },
    }


async def concurrent_pawflow(side: PawSide, plan: Plan, server: SlowServer) -> dict[str, Any]:
    """N webhooks to the ``slow`` trigger, posted by 16 clients as fast as they can."""
    n = plan.concurrent_sessions
    body = json.dumps({"url": server.url}).encode()
    since = time.time()

    async def start_all() -> float:
        load = await post_load(
            side.hooks["slow"], clients=plan.clients, count=n, body=lambda i: body
        )
        accepted = len(load.with_status(202))
        if accepted != n:
            raise BenchError(f"only {accepted} of {n} slow webhooks accepted")
        return load.run.elapsed

    query = (
        f"{side.queue_query} AND WorkflowType = 'pawflow.session' AND StartTime >= '{_iso(since)}'"
    )
    return await _measured(server, side, side.client, query, plan, start_all)


async def concurrent_baseline(side: RawSide, plan: Plan, server: SlowServer) -> dict[str, Any]:
    """N raw workflows of one slow activity, started by 16 concurrent callers."""
    n = plan.concurrent_sessions
    prefix = f"slow-{uuid.uuid4().hex[:8]}"
    since = time.time()

    async def step(number: int) -> None:
        await start_like_pawflow(
            side.client,
            SLOW_CALL_WORKFLOW,
            server.url,
            workflow_id=f"{prefix}-{number}",
            task_queue=side.fast_queue,
        )

    async def start_all() -> float:
        return (await drive(_RAW_STARTERS, step, count=n)).elapsed

    query = (
        f"TaskQueue = '{side.fast_queue}' AND WorkflowType = '{SLOW_CALL_WORKFLOW}' "
        f"AND StartTime >= '{_iso(since)}'"
    )
    return await _measured(server, side, side.client, query, plan, start_all)


def concurrent_results(
    plan: Plan, paw: dict[str, Any] | None, raw: dict[str, Any] | None
) -> list[Result]:
    detail = {
        "sessions": plan.concurrent_sessions,
        "call_seconds": CALL_SECONDS,
        "give_up_after_s": plan.concurrent_give_up_seconds,
        "how": "N sessions started through webhooks (16 clients, as fast as they go), each in "
        "one @pawflow.activity that GETs a local endpoint answering after 5 s, on one worker; "
        "first post -> last session closed (Temporal close time). Baseline: N raw workflows of "
        "one async activity doing the same GET (unsandboxed worker, activity slots and pollers "
        "raised; 64 concurrent starts)",
        "pawflow": None if paw is None else paw["detail"],
        "baseline": None if raw is None else raw["detail"],
    }
    return [
        Result(
            "concurrent_calls",
            None if paw is None else paw["seconds"],
            None if raw is None else raw["seconds"],
            "s",
            Target("<=", 10),
            detail,
        )
    ]
