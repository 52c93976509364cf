"""Memory at rest: idle_sessions_rss (many sessions asleep) and idle_footprint (``paw up``).

RSS is summed over a process tree: a process and everything it forked (the
worker's fork server and runners count). PSS, which splits pages shared by
forks between their sharers, is in the detail too.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

from pawflow.up import free_port

from ._baseline import SLEEP_WORKFLOW, start_like_pawflow
from ._context import BenchError, PawSide, Plan, RawSide
from ._history import count, waiting_on_timer
from ._load import drive, post_load
from ._procs import Children, TreeUsage, tree_usage
from ._report import Result, Target
from ._stack import Api, paw_env, wait_healthy, wait_polled

__all__ = [
    "footprint",
    "footprint_results",
    "idle_baseline",
    "idle_pawflow",
    "idle_results",
    "stable_usage",
]

log = logging.getLogger(__name__)

_SAMPLE_SECONDS = 0.5
_STABLE_SAMPLES = 5  # 2 s of samples within the tolerance
_STABLE_TOLERANCE = 0.01
_QUIET_SECONDS = 0.5
_QUIET_CPU_SHARE = 0.05  # the worker is "quiet" below 5% of a core


async def stable_usage(pid: int, timeout: float = 40.0) -> tuple[TreeUsage, bool]:
    """The tree's usage once its RSS holds still (within 1% over 2 s).

    Returns the last sample and whether it was stable before the timeout.
    """
    samples: list[TreeUsage] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        samples.append(tree_usage(pid))
        recent = [s.rss_mb for s in samples[-_STABLE_SAMPLES:]]
        if len(recent) == _STABLE_SAMPLES and max(recent) - min(recent) <= (
            _STABLE_TOLERANCE * max(recent)
        ):
            return samples[-1], True
        if loop.time() > deadline:
            return samples[-1], False
        await asyncio.sleep(_SAMPLE_SECONDS)


def _usage_detail(u: TreeUsage) -> dict[str, Any]:
    return {
        "rss_mb": round(u.rss_mb, 1),
        "pss_mb": round(u.pss_mb, 1),
        "processes": u.processes,
        "rss_by_process_mb": u.parts,
    }


async def _quiet(pid: int, processes: int) -> bool:
    """Whether the worker tree is back to ``processes`` processes and nearly idle."""
    before = tree_usage(pid)
    await asyncio.sleep(_QUIET_SECONDS)
    after = tree_usage(pid)
    busy = after.cpu_seconds - before.cpu_seconds
    return after.processes <= processes and busy < _QUIET_CPU_SHARE * _QUIET_SECONDS


async def _all_asleep(
    client: Client, query: str, n: int, worker_pid: int, processes: int, timeout: float
) -> float:
    """Wait until ``n`` workflows match ``query`` and every one of them is asleep.

    Cheap checks first (visibility count, a quiet worker); then each workflow is
    described, which is exact but costs a call per workflow.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + timeout
    while loop.time() < deadline:
        started = await count(client, query)
        if started < n:
            log.debug("%d of %d started", started, n)
            await asyncio.sleep(_QUIET_SECONDS)
            continue
        if not await _quiet(worker_pid, processes):
            log.debug("all %d started; the worker is still busy", n)
            continue
        ids = [w.id async for w in client.list_workflows(query)]
        asleep = await waiting_on_timer(client, ids)
        log.debug("%d of %d asleep", asleep, n)
        if asleep == n:
            return loop.time() - start
    raise BenchError(f"{n} sessions were not all asleep within {timeout:.0f} s")


def _start_timeout(n: int) -> float:
    return 120.0 + n / 10  # generous: 10 sessions/s would be very slow


async def idle_pawflow(side: PawSide, plan: Plan) -> dict[str, Any]:
    """``plan.idle_sessions`` sessions of the ``idle`` trigger (``time.sleep(3600)``)."""
    n = plan.idle_sessions
    worker_before = tree_usage(side.worker.pid)
    server_before = tree_usage(side.server.proc.pid)
    t0 = time.monotonic()
    load = await post_load(side.hooks["idle"], clients=plan.clients, count=n)
    if len(load.with_status(202)) != n:
        raise BenchError(f"only {len(load.with_status(202))} of {n} idle webhooks accepted")
    query = (
        f"{side.queue_query} AND WorkflowType = 'pawflow.session' AND ExecutionStatus = 'Running'"
    )
    await _all_asleep(
        side.client, query, n, side.worker.pid, worker_before.processes, _start_timeout(n)
    )
    all_asleep = time.monotonic() - t0
    (worker, worker_stable), (server, server_stable) = await asyncio.gather(
        stable_usage(side.worker.pid), stable_usage(side.server.proc.pid)
    )
    return {
        "worker": worker.rss_mb,
        "server": server.rss_mb,
        "detail": {
            "seconds_until_all_asleep": round(all_asleep, 1),
            "worker": _usage_detail(worker),
            "worker_before_mb": round(worker_before.rss_mb, 1),
            "server": _usage_detail(server),
            "server_before_mb": round(server_before.rss_mb, 1),
            "stable": worker_stable and server_stable,
            "temporal_rss_mb": round(tree_usage(side.stack.temporal.pid or 0).rss_mb, 1),
        },
    }


async def idle_baseline(side: RawSide, plan: Plan) -> dict[str, Any]:
    """The same number of raw workflows in ``workflow.sleep(3600)``."""
    n = plan.idle_sessions
    worker_before = tree_usage(side.worker.pid)
    prefix = f"idle-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()

    async def step(number: int) -> None:
        await start_like_pawflow(
            side.client,
            SLEEP_WORKFLOW,
            workflow_id=f"{prefix}-{number}",
            task_queue=side.task_queue,
        )

    await drive(plan.clients, step, count=n)
    query = (
        f"{side.queue_query} AND WorkflowType = '{SLEEP_WORKFLOW}' AND ExecutionStatus = 'Running'"
    )
    await _all_asleep(
        side.client, query, n, side.worker.pid, worker_before.processes, _start_timeout(n)
    )
    all_asleep = time.monotonic() - t0
    worker, stable = await stable_usage(side.worker.pid)
    return {
        "worker": worker.rss_mb,
        "detail": {
            "seconds_until_all_asleep": round(all_asleep, 1),
            "worker": _usage_detail(worker),
            "worker_before_mb": round(worker_before.rss_mb, 1),
            "stable": stable,
        },
    }


# Run to run noise of idle_sessions_rss that still counts as "unchanged".
_UNCHANGED_TOLERANCE = 0.05


def idle_results(
    plan: Plan,
    paw: dict[str, Any] | None,
    raw: dict[str, Any] | None,
    previous: float | None = None,
) -> list[Result]:
    """``previous``: the figure of the last run of the same mode, when there is one;
    the target is to stay at it or below (within the run-to-run noise)."""
    value = None if paw is None else max(paw["worker"], paw["server"])
    target = None
    if previous is not None:
        target = Target(
            "<=",
            round(previous * (1 + _UNCHANGED_TOLERANCE), 1),
            note=f"unchanged or better: the last run's {previous:.1f} + 5%",
        )
    detail = {
        "sessions": plan.idle_sessions,
        "how": "sessions started through webhooks, each in a durable time.sleep(3600); "
        "RSS once all are asleep (each described in Temporal) and RSS is stable; "
        "pawflow = max(worker tree, server), baseline = raw worker in workflow.sleep",
        "pawflow_worker_rss_mb": None if paw is None else round(paw["worker"], 1),
        "pawflow_server_rss_mb": None if paw is None else round(paw["server"], 1),
        "pawflow": None if paw is None else paw["detail"],
        "baseline": None if raw is None else raw["detail"],
        "previous_run_mb": previous,
    }
    return [
        Result(
            "idle_sessions_rss",
            value,
            None if raw is None else raw["worker"],
            "MB",
            target,
            detail,
        )
    ]


async def footprint(children: Children, root: Path) -> dict[str, Any]:
    """``paw up`` (embedded Temporal, server, one worker) at rest: the tree's PSS and RSS."""
    data_dir = root / "footprint"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = data_dir / "up.log"
    t0 = time.monotonic()
    proc = children.start(
        [
            sys.executable,
            "-m",
            "pawflow.cli",
            "up",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        log_file=log_file,
        env=paw_env(),
    )
    try:
        await wait_healthy(url, proc, log_file)
        api = Api(url, (data_dir / "token").read_text().strip())
        try:
            info = await api.get("info")
        finally:
            await api.close()
        client = await Client.connect(info["temporal_address"])
        # Up means the worker polls: only then is everything loaded.
        await wait_polled(client, info["task_queue"], proc, log_file)
        up_seconds = time.monotonic() - t0
        usage, stable = await stable_usage(proc.pid)
    finally:
        await children.stop(proc, signal.SIGINT)
    return {
        "rss": usage.rss_mb,
        "pss": usage.pss_mb,
        "detail": {
            **_usage_detail(usage),
            "stable": stable,
            "seconds_until_worker_polls": round(up_seconds, 1),
        },
    }


def footprint_results(measured: dict[str, Any] | None) -> list[Result]:
    return [
        Result(
            "idle_footprint",
            None if measured is None else measured["pss"],
            None,
            "MiB",
            Target("<=", 300),
            {
                "how": "paw up (embedded Temporal, server, 1 worker + fork server): summed PSS "
                "(pages shared by forks split between them) of the whole tree once the worker "
                "polls and RSS is stable; summed RSS beside it (rss_mb, MiB)",
                **((measured or {}).get("detail") or {}),
            },
        )
    ]
