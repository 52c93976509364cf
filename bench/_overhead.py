"""per_call_overhead: what one external call adds to a session, in ms.

A session making N sequential no-op calls, against the same program making
none; both timed in Temporal's history (WorkflowExecutionStarted →
WorkflowExecutionCompleted), so dispatch and polling are left out. The
difference divided by N is the cost of one call. Sessions run one at a time,
Pawflow's and the baseline's alternating. The baseline runs on the raw
process's unsandboxed worker: the sandbox's per-task cost is not what Pawflow
is compared against.
"""

from __future__ import annotations

import statistics
import uuid
from typing import Any

import aiohttp

from ._baseline import CALLS_WORKFLOW, start_like_pawflow
from ._context import BenchError, PawSide, Plan, RawSide
from ._history import RunTimes, run_times, wait_result
from ._report import Result, Target

__all__ = ["overhead_both", "overhead_results"]


async def _paw_session(side: PawSide, http: aiohttp.ClientSession, n: int) -> RunTimes:
    async with http.post(side.hooks["calls"], json={"n": n}) as resp:
        if resp.status != 202:
            raise BenchError(f"webhook answered {resp.status}: {await resp.text()}")
        event_id = resp.headers["Pawflow-Event-Id"]
    session = await side.session_of(event_id)
    await wait_result(side.client, session["id"])
    ended = await side.server.api.get(f"sessions/{session['id']}")
    if ended["state"] != "completed":
        raise BenchError(f"session {session['id']} ended {ended['state']}: {ended.get('error')}")
    return await run_times(side.client, session["id"])


async def _raw_run(side: RawSide, n: int) -> RunTimes:
    handle = await start_like_pawflow(
        side.client,
        CALLS_WORKFLOW,
        n,
        workflow_id=f"overhead-{uuid.uuid4().hex[:12]}",
        task_queue=side.fast_queue,
    )
    await handle.result()
    return await run_times(side.client, handle.id)


def _summary(plan: Plan, pairs: list[tuple[RunTimes, RunTimes]]) -> dict[str, Any]:
    per_call = [(busy.seconds - idle.seconds) * 1000 / plan.overhead_calls for busy, idle in pairs]
    return {
        "per_call_ms": statistics.median(per_call),
        "repeats_ms": [round(x, 3) for x in per_call],
        f"median_run_{plan.overhead_calls}_calls_ms": round(
            statistics.median(b.seconds for b, _ in pairs) * 1000, 2
        ),
        "median_run_0_calls_ms": round(statistics.median(i.seconds for _, i in pairs) * 1000, 2),
    }


async def overhead_both(
    paw: PawSide, raw: RawSide, plan: Plan
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pawflow's and the baseline's figures, one run at a time, the two sides
    alternating in each repeat so that both see the machine in the same state."""
    async with aiohttp.ClientSession() as http:
        # The first session of a deployment fetches its code: not what is measured.
        await _paw_session(paw, http, 1)
        await _raw_run(raw, 1)
        paw_pairs, raw_pairs = [], []
        for _ in range(plan.overhead_repeats):
            busy = await _paw_session(paw, http, plan.overhead_calls)
            idle = await _paw_session(paw, http, 0)
            paw_pairs.append((busy, idle))
            busy = await _raw_run(raw, plan.overhead_calls)
            idle = await _raw_run(raw, 0)
            raw_pairs.append((busy, idle))
    return _summary(plan, paw_pairs), _summary(plan, raw_pairs)


def overhead_results(
    plan: Plan, paw: dict[str, Any] | None, raw: dict[str, Any] | None
) -> list[Result]:
    detail = {
        "calls": plan.overhead_calls,
        "repeats": plan.overhead_repeats,
        "how": "history Started->Completed of N no-op calls minus 0 calls, / N; median of "
        "repeats; sessions one at a time, Pawflow and baseline alternating; baseline: "
        "N local activities on an unsandboxed raw worker",
        "pawflow": _without(paw, "per_call_ms"),
        "baseline": _without(raw, "per_call_ms"),
    }
    return [
        Result(
            "per_call_overhead",
            None if paw is None else paw["per_call_ms"],
            None if raw is None else raw["per_call_ms"],
            "ms",
            Target("<=", 1.0, on_ratio=True, note="vs an unsandboxed raw worker; lower is better"),
            detail,
        )
    ]


def _without(d: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    return None if d is None else {k: v for k, v in d.items() if k != key}
