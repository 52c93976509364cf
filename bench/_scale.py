"""Production mode on this machine: PostgreSQL store, ``paw server``, N ``paw worker``.

``scale_1_2_4_workers``: e2e throughput (sessions/s, one external call each,
measured as ``e2e_throughput`` is, over ``Plan.scale_seconds``) with 1, then 2,
then 4 worker processes of one ``paw server`` whose store is PostgreSQL. The
workers are added between the runs; each run starts once the last one's
backlog has drained.

``ingest_rate_postgresql``: ``ingest_rate`` on a ``paw server`` without workers
whose store is PostgreSQL; ``ingest_rate`` itself is the SQLite figure.
"""

from __future__ import annotations

import dataclasses
import subprocess
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from ._context import PawSide, Plan
from ._ingest import IngestSide, ingest_rate
from ._procs import TreeUsage, tree_usage
from ._projects import BENCH_PROJECT, INGEST_PROJECT, write_project
from ._report import Result
from ._stack import Stack
from ._throughput import throughput_pawflow

__all__ = [
    "SCALE_WORKERS",
    "ingest_postgresql",
    "ingest_postgresql_results",
    "scale_results",
    "scale_workers",
]

SCALE_WORKERS = (1, 2, 4)


@dataclass
class _ScaleSide(PawSide):
    """Pawflow on PostgreSQL with several workers; PostgreSQL's CPU is counted too."""

    more_workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def usage(self) -> dict[str, TreeUsage]:
        workers = [self.worker, *self.more_workers]
        usages = [tree_usage(w.pid) for w in workers]
        return {
            "workers": TreeUsage(
                processes=sum(u.processes for u in usages),
                rss_mb=sum(u.rss_mb for u in usages),
                pss_mb=sum(u.pss_mb for u in usages),
                cpu_seconds=sum(u.cpu_seconds for u in usages),
                parts={},
            ),
            "server": tree_usage(self.server.proc.pid),
            "temporal": tree_usage(self.stack.temporal.pid or 0),
            "postgresql": tree_usage(self.stack.postgres_pid),
        }


async def scale_workers(stack: Stack, plan: Plan, client: Client) -> dict[int, dict[str, Any]]:
    """Throughput with each number of workers in :data:`SCALE_WORKERS`, by that number."""
    server = await stack.start_server("scale", "bench-scale", database_url=await stack.database())
    try:
        hooks = await stack.deploy(server, write_project(BENCH_PROJECT, stack.root / "projects"))
        side = _ScaleSide(stack, server, hooks, await stack.start_worker(server), client)
        window = dataclasses.replace(plan, e2e_seconds=plan.scale_seconds)
        got: dict[int, dict[str, Any]] = {}
        for workers in SCALE_WORKERS:
            while 1 + len(side.more_workers) < workers:
                side.more_workers.append(await stack.start_worker(server))
            got[workers] = await throughput_pawflow(side, window)
        return got
    finally:
        await stack.stop_server(server)


async def ingest_postgresql(stack: Stack, plan: Plan, client: Client) -> dict[str, Any]:
    """``ingest_rate`` on a ``paw server`` without workers, on PostgreSQL."""
    server = await stack.start_server(
        "ingest-postgresql", "bench-ingest-postgresql", database_url=await stack.database()
    )
    try:
        hooks = await stack.deploy(server, write_project(INGEST_PROJECT, stack.root / "projects"))
        side = _IngestOnPostgres(stack, server, hooks["hook"], client, plan.settle_seconds)
        return await ingest_rate(side, plan.clients, plan.ingest_seconds)
    finally:
        # Its dispatcher would go on starting workflows for the backlog.
        await stack.stop_server(server)


@dataclass
class _IngestOnPostgres(IngestSide):
    def usage(self) -> dict[str, TreeUsage]:
        return {**super().usage(), "postgresql": tree_usage(self.stack.postgres_pid)}


def scale_results(plan: Plan, got: dict[int, dict[str, Any]] | None) -> list[Result]:
    how = (
        "paw server on PostgreSQL, N paw worker processes on this machine; "
        "completed sessions with ended_at in the posting window / window"
    )
    one = (got or {}).get(1)
    out = []
    for workers in SCALE_WORKERS:
        measured = (got or {}).get(workers)
        rate = None if measured is None else float(measured["rate"])
        speedup = None if rate is None or one is None or not one["rate"] else rate / one["rate"]
        detail = {
            "workers": workers,
            "window_s": plan.scale_seconds,
            "clients": plan.clients,
            "max_unfinished": plan.backlog,
            "speedup_vs_1_worker": None if speedup is None else round(speedup, 2),
            "how": how,
            **((measured or {}).get("detail") or {}),
        }
        name = f"scale_1_2_4_workers[{workers}]"
        out.append(Result(name, rate, None, "sessions/s", None, detail))
    return out


def ingest_postgresql_results(plan: Plan, got: dict[str, Any] | None) -> list[Result]:
    detail = {
        "clients": plan.clients,
        "how": "paw server on PostgreSQL, no workers: the pure ingest path "
        "(event committed, then 202); compare ingest_rate (SQLite, paw up)",
        **((got or {}).get("detail") or {}),
    }
    rate = None if got is None else float(got["rate"])
    return [Result("ingest_rate_postgresql", rate, None, "events/s", None, detail)]
