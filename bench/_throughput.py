"""e2e_throughput: sessions completed per second, each running one external call.

16 clients post webhooks for the window; a session counts when its ``ended_at``
(from the API, read after the backlog drained) falls inside the window. The
clients keep at most ``Plan.backlog`` sessions unfinished at once (counted in
Temporal's visibility): webhooks are accepted far faster than sessions run, and
an unpaced run would leave a backlog that takes many minutes to drain without
changing the rate at which sessions complete. The baseline is paced the same
way and counted by close time in visibility, in two configurations: the raw
process's default worker, and an unsandboxed worker on the starting client
(eager starts); the result compares with the better one.

The 202s of the load's webhooks are also ``webhook_ack_*_under_load``: acks
while sessions run on the worker.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from ._baseline import CALLS_WORKFLOW, Calls, eagerly_started, noop, start_like_pawflow
from ._context import BenchError, CpuWatch, PawSide, Plan, RawSide, iso_seconds
from ._history import count
from ._load import Backlog, drive, percentile, post_load
from ._report import Result, Target
from ._wait import wait_until

__all__ = [
    "throughput_baseline",
    "throughput_baselines",
    "throughput_pawflow",
    "throughput_results",
]

_DRAIN_TIMEOUT = 180.0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat()


def _closed_between(side: PawSide | RawSide, start: float, end: float) -> str:
    return (
        f"{side.queue_query} AND ExecutionStatus = 'Completed' "
        f"AND CloseTime >= '{_iso(start)}' AND CloseTime < '{_iso(end)}'"
    )


async def _completed(side: PawSide | RawSide) -> int:
    return await count(side.client, f"{side.queue_query} AND ExecutionStatus = 'Completed'")


async def _drain(side: PawSide | RawSide, total: int) -> float:
    async def done() -> bool:
        return await _completed(side) >= total

    return await wait_until(done, _DRAIN_TIMEOUT, "the throughput backlog to drain", 0.2)


async def throughput_pawflow(side: PawSide, plan: Plan) -> dict[str, Any]:
    """Webhooks to the ``one`` trigger (one ``@pawflow.activity`` call) for the window."""
    before = await _completed(side)

    async def finished() -> int:
        return await _completed(side) - before

    backlog = Backlog(plan.backlog, finished)
    watch = CpuWatch(side)
    watch.start()
    try:
        load = await post_load(
            side.hooks["one"], clients=plan.clients, duration=plan.e2e_seconds, gate=backlog.gate
        )
    finally:
        await backlog.close()
    cpu = watch.shares(load.run.elapsed)
    start, end = load.run.started, load.run.started + plan.e2e_seconds
    accepted = load.with_status(202)
    if load.errors or len(accepted) != len(load.sent):
        raise BenchError(f"{load.errors + len(load.sent) - len(accepted)} webhooks not accepted")
    drained = await _drain(side, before + len(accepted))

    limit = asyncio.Semaphore(plan.clients)

    async def ended_at(event_id: str) -> float | None:
        async with limit:
            session = await side.session_of(event_id)
        if session["state"] != "completed" or session["ended_at"] is None:
            return None
        return iso_seconds(session["ended_at"])

    ends = await asyncio.gather(*(ended_at(s.event_id) for s in accepted if s.event_id))
    in_window = sum(1 for t in ends if t is not None and start <= t < end)
    closed = await count(side.client, _closed_between(side, start, end))
    # The load's own webhooks are acked while sessions run on the worker: their
    # latency shows whether dispatching starves ingest.
    acks = [s.seconds * 1000 for s in accepted]
    return {
        "rate": in_window / plan.e2e_seconds,
        "ack_p50": percentile(acks, 50),
        "ack_p99": percentile(acks, 99),
        "detail": {
            "webhooks_accepted": len(accepted),
            "completed_in_window_by_ended_at": in_window,
            "completed_in_window_by_temporal_close_time": closed,
            "not_completed": sum(1 for t in ends if t is None),
            "paced_waits": backlog.waits,
            "drain_seconds": round(drained, 1),
            "cpu_share_of_one_core": cpu,
        },
    }


async def throughput_baseline(side: RawSide, plan: Plan) -> dict[str, Any]:
    """Raw starts of a one-local-activity workflow for the window, paced the same way."""
    before = await _completed(side)

    async def finished() -> int:
        return await _completed(side) - before

    backlog = Backlog(plan.backlog, finished)
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    started = eager = 0

    async def step(number: int) -> None:
        nonlocal started, eager
        handle = await start_like_pawflow(
            side.client,
            CALLS_WORKFLOW,
            1,
            workflow_id=f"{prefix}-{number}",
            task_queue=side.task_queue,
        )
        started += 1
        eager += eagerly_started(handle)

    watch = CpuWatch(side)
    watch.start()
    try:
        run = await drive(plan.clients, step, duration=plan.e2e_seconds, gate=backlog.gate)
    finally:
        await backlog.close()
    cpu = watch.shares(run.elapsed)
    start, end = run.started, run.started + plan.e2e_seconds
    drained = await _drain(side, before + started)
    closed = await count(side.client, _closed_between(side, start, end))
    return {
        "rate": closed / plan.e2e_seconds,
        "detail": {
            "workflows_started": started,
            "eager_starts": eager,
            "completed_in_window_by_temporal_close_time": closed,
            "paced_waits": backlog.waits,
            "drain_seconds": round(drained, 1),
            "cpu_share_of_one_core": cpu,
        },
    }


async def throughput_baselines(side: RawSide, plan: Plan) -> dict[str, Any]:
    """The baseline twice: the raw process's default-configured worker, then an
    unsandboxed worker in this process on the starting client, so that starts
    are eager (the first workflow task comes back in the start's answer)."""
    default = await throughput_baseline(side, plan)
    queue = f"{side.task_queue}-eager"
    worker = Worker(
        side.client,
        task_queue=queue,
        workflows=[Calls],
        activities=[noop],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        best = await throughput_baseline(replace(side, task_queue=queue, in_process=True), plan)
    return {"default": default, "eager_unsandboxed": best}


def throughput_results(
    plan: Plan, paw: dict[str, Any] | None, raw: dict[str, Any] | None
) -> list[Result]:
    configs = {} if raw is None else raw
    rates = {name: measured["rate"] for name, measured in configs.items()}
    best = max(rates, key=lambda name: rates[name]) if rates else None
    detail = {
        "window_s": plan.e2e_seconds,
        "clients": plan.clients,
        "max_unfinished": plan.backlog,
        "how": "completed sessions with ended_at in the posting window / window; "
        "baseline: completed workflows by CloseTime in its window, for each raw "
        "configuration (default: the SDK's defaults in a worker process of its own; "
        "eager_unsandboxed: unsandboxed worker on the starter's client, eager start); "
        "baseline and ratio use the best",
        "baseline_best": best,
        **{f"baseline_{name}": round(rate, 2) for name, rate in rates.items()},
        "pawflow": None if paw is None else paw["detail"],
        "baseline": {name: measured["detail"] for name, measured in configs.items()} or None,
    }
    ack_detail = {
        "clients": plan.clients,
        "how": "the 202s of e2e_throughput's own webhooks, acked while its sessions "
        "run on the worker (posting paced to at most "
        f"{plan.backlog} unfinished sessions)",
    }
    return [
        Result(
            "e2e_throughput",
            None if paw is None else paw["rate"],
            None if best is None else rates[best],
            "sessions/s",
            Target(">=", 0.9, on_ratio=True, note="vs the best raw baseline; higher is better"),
            detail,
        ),
        Result(
            "webhook_ack_p50_under_load",
            None if paw is None else paw["ack_p50"],
            None,
            "ms",
            Target("<=", 5),
            ack_detail,
        ),
        Result(
            "webhook_ack_p99_under_load",
            None if paw is None else paw["ack_p99"],
            None,
            "ms",
            None,
            {"clients": plan.clients},
        ),
    ]
