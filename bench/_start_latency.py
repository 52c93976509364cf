"""webhook_to_start: from sending a webhook to the session's first workflow task.

16 clients in a closed loop: each sends a request, waits until its session's
first WorkflowTaskStarted is in Temporal's history, then sends the next. The
latency is that event's time minus the wall-clock time the request was sent.
The closed loop keeps the number of requests in flight at the number of
clients: an open loop would measure how fast a backlog builds up, not latency.

The baseline does the same with raw ``start_workflow`` calls (the options the
dispatcher uses) instead of webhooks. Both are measured again with one client
(``_c1``; fewer requests in the quick set): the path's own latency, without
queueing behind other requests.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ._baseline import CALLS_WORKFLOW, start_like_pawflow
from ._context import BenchError, CpuWatch, PawSide, Plan, RawSide, iso_seconds
from ._history import count, first_task_started
from ._load import Sent, drive, percentile, post_load
from ._report import Result, Target
from ._wait import wait_until

__all__ = ["start_latency_baseline", "start_latency_pawflow", "start_latency_results"]

_PERCENTILES = (50, 95, 99)


def _summary(
    latencies_ms: list[float],
    segments: dict[str, list[float]],
    elapsed: float,
    cpu: dict[str, float],
) -> dict[str, Any]:
    out: dict[str, Any] = {f"p{p}": percentile(latencies_ms, p) for p in _PERCENTILES}
    out["detail"] = {
        "samples": len(latencies_ms),
        "max_ms": round(max(latencies_ms), 2),
        "requests_per_s": round(len(latencies_ms) / elapsed, 1),
        # Where the time goes: each segment's p50 and p99 (they need not add up).
        "segments_p50_p99_ms": {
            name: [round(percentile(v, 50), 2), round(percentile(v, 99), 2)]
            for name, v in segments.items()
        },
        "cpu_share_of_one_core": cpu,
    }
    return out


async def start_latency_pawflow(side: PawSide, plan: Plan) -> dict[str, Any]:
    """Pawflow's figures with ``plan.clients`` clients, then with one."""
    many = await _pawflow_run(side, plan.clients, plan.to_start_requests)
    one = (
        await _pawflow_run(side, 1, plan.to_start_requests_c1)
        if plan.to_start_requests_c1
        else None
    )
    return {"many": many, "one": one}


async def start_latency_baseline(side: RawSide, plan: Plan) -> dict[str, Any]:
    """The baseline's figures with ``plan.clients`` clients, then with one."""
    many = await _baseline_run(side, plan.clients, plan.to_start_requests)
    one = (
        await _baseline_run(side, 1, plan.to_start_requests_c1)
        if plan.to_start_requests_c1
        else None
    )
    return {"many": many, "one": one}


async def _pawflow_run(side: PawSide, clients: int, requests: int) -> dict[str, Any]:
    """Webhooks to the ``empty`` trigger, each followed until its workflow task started."""
    latencies: list[float] = []
    segments: dict[str, list[float]] = {
        "webhook_202": [],
        "sent_to_session_created": [],
        "session_created_to_workflow_started": [],
        "workflow_started_to_task_started": [],
    }

    async def follow(sent: Sent) -> None:
        if sent.status != 202 or sent.event_id is None:
            raise BenchError(f"webhook answered {sent.status}")
        session = await side.session_of(sent.event_id)
        start = await first_task_started(side.client, session["id"])
        latencies.append((start.task_started - sent.at) * 1000)
        created = iso_seconds(session["created_at"])
        segments["webhook_202"].append(sent.seconds * 1000)
        segments["sent_to_session_created"].append((created - sent.at) * 1000)
        segments["session_created_to_workflow_started"].append(
            (start.execution_started - created) * 1000
        )
        segments["workflow_started_to_task_started"].append(
            (start.task_started - start.execution_started) * 1000
        )

    before = await count(side.client, side.queue_query)
    watch = CpuWatch(side)
    watch.start()
    load = await post_load(side.hooks["empty"], clients=clients, count=requests, after=follow)
    cpu = watch.shares(load.run.elapsed)
    if load.errors:
        raise BenchError(f"{load.errors} webhook requests failed")
    out = _summary(latencies, segments, load.run.elapsed, cpu)
    await _drain(side, before + len(latencies))
    return out


async def _baseline_run(side: RawSide, clients: int, requests: int) -> dict[str, Any]:
    """Raw ``start_workflow`` calls, each followed until its workflow task started."""
    latencies: list[float] = []
    segments: dict[str, list[float]] = {
        "start_call": [],
        "sent_to_workflow_started": [],
        "workflow_started_to_task_started": [],
    }
    prefix = f"to-start-{uuid.uuid4().hex[:8]}"

    async def step(number: int) -> None:
        at = time.time()
        handle = await start_like_pawflow(
            side.client,
            CALLS_WORKFLOW,
            0,
            workflow_id=f"{prefix}-{number}",
            task_queue=side.task_queue,
        )
        returned = time.time()
        start = await first_task_started(side.client, handle.id)
        latencies.append((start.task_started - at) * 1000)
        segments["start_call"].append((returned - at) * 1000)
        segments["sent_to_workflow_started"].append((start.execution_started - at) * 1000)
        segments["workflow_started_to_task_started"].append(
            (start.task_started - start.execution_started) * 1000
        )

    before = await count(side.client, side.queue_query)
    watch = CpuWatch(side)
    watch.start()
    run = await drive(clients, step, count=requests)
    out = _summary(latencies, segments, run.elapsed, watch.shares(run.elapsed))
    await _drain(side, before + len(latencies))
    return out


async def _drain(side: PawSide | RawSide, total: int) -> None:
    """Wait until the sessions just started have all finished (they would load the
    next measure otherwise)."""
    query = f"{side.queue_query} AND ExecutionStatus = 'Completed'"

    async def done() -> bool:
        return await count(side.client, query) >= total

    await wait_until(done, 120.0, "the webhook_to_start sessions to finish")


def start_latency_results(
    plan: Plan, paw: dict[str, Any] | None, raw: dict[str, Any] | None
) -> list[Result]:
    how = (
        "N clients, closed loop (a client sends its next request once its last one's "
        "workflow task started); request sent (wall clock) -> first WorkflowTaskStarted "
        "in the workflow's history"
    )
    # One client: the path's own latency; 16: with queueing behind each other.
    targets: dict[str, dict[int, Target | None]] = {
        "many": {50: Target("<=", 25), 95: None, 99: Target("<=", 100)},
        "one": {50: Target("<=", 10), 99: Target("<=", 40)},
    }
    results = []
    runs: list[tuple[str, str, int, int, tuple[int, ...]]] = [
        ("many", "", plan.clients, plan.to_start_requests, _PERCENTILES)
    ]
    if plan.to_start_requests_c1:
        runs.append(("one", "_c1", 1, plan.to_start_requests_c1, (50, 99)))
    for key, suffix, clients, requests, percentiles in runs:
        mine = None if paw is None else paw[key]
        theirs = None if raw is None else raw[key]
        for p in percentiles:
            detail: dict[str, Any] = {"clients": clients, "requests": requests}
            if p == 50:
                detail.update(
                    how=how,
                    pawflow=None if mine is None else mine["detail"],
                    baseline=None if theirs is None else theirs["detail"],
                )
            results.append(
                Result(
                    f"webhook_to_start_p{p}{suffix}",
                    None if mine is None else mine[f"p{p}"],
                    None if theirs is None else theirs[f"p{p}"],
                    "ms",
                    targets[key][p],
                    detail,
                )
            )
    return results
