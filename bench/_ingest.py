"""The ingest path alone: webhook_ack latency and ingest_rate, on a server with no worker.

A 202 means the event is committed in the store. The server's dispatcher keeps
starting workflows for the events meanwhile (as it does when workers are down),
so Temporal is part of the load; no session ever runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.client import Client

from ._context import BenchError, CpuWatch
from ._history import count
from ._load import LoadResult, percentile, post_load
from ._procs import TreeUsage, tree_usage
from ._report import Result, Target
from ._stack import PawServer, Stack
from ._wait import wait_until

__all__ = ["IngestSide", "ack_latency", "ingest_rate", "ingest_results"]


@dataclass
class IngestSide:
    stack: Stack
    server: PawServer
    hook: str
    client: Client
    settle_seconds: float
    accepted: int = 0  # 202s so far, over all the measures on this server

    def usage(self) -> dict[str, TreeUsage]:
        return {
            "server": tree_usage(self.server.proc.pid),
            "temporal": tree_usage(self.stack.temporal.pid or 0),
        }

    async def drain(self) -> float | None:
        """Wait until the dispatcher started a workflow for every accepted event;
        the seconds it took, None if it did not within ``settle_seconds``."""
        query = f"TaskQueue = '{self.server.task_queue}'"

        async def done() -> bool:
            return await count(self.client, query) >= self.accepted

        try:
            return round(await wait_until(done, self.settle_seconds, "the dispatcher", 0.2), 1)
        except BenchError:
            return None


def _load_detail(load: LoadResult, cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "requests": len(load.sent) + load.errors,
        "accepted_202": len(load.with_status(202)),
        "other_status": len(load.sent) - len(load.with_status(202)),
        "errors": load.errors,
        "seconds": round(load.run.elapsed, 2),
        "cpu_share_of_one_core": cpu,
    }


async def ack_latency(side: IngestSide, clients: int, requests: int) -> dict[str, Any]:
    """``requests`` webhooks from ``clients`` clients; latency of each 202."""
    watch = CpuWatch(side)
    watch.start()
    load = await post_load(side.hook, clients=clients, count=requests)
    cpu = watch.shares(load.run.elapsed)
    ok = load.with_status(202)
    side.accepted += len(ok)
    latencies = [s.seconds * 1000 for s in ok]
    detail = _load_detail(load, cpu)
    # Let the dispatcher catch up so that the next measure starts from quiet.
    detail["dispatcher_caught_up_after_s"] = await side.drain()
    return {
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "detail": detail,
    }


async def ingest_rate(side: IngestSide, clients: int, seconds: float) -> dict[str, Any]:
    """Webhooks from ``clients`` clients for ``seconds``; 202s per second."""
    watch = CpuWatch(side)
    watch.start()
    load = await post_load(side.hook, clients=clients, duration=seconds)
    cpu = watch.shares(load.run.elapsed)
    ok = load.with_status(202)
    side.accepted += len(ok)
    return {"rate": len(ok) / load.run.elapsed, "detail": _load_detail(load, cpu)}


def ingest_results(
    clients: int,
    ack: dict[str, Any] | None,
    ack_c1: dict[str, Any] | None,
    rate: dict[str, Any] | None,
) -> list[Result]:
    note = "workers stopped: the pure ingest path (event committed, then 202)"
    p50 = Target("<=", 5)
    out = []
    for suffix, measured, n in (("", ack, clients), ("_c1", ack_c1, 1)):
        detail = {"clients": n, "how": note, **((measured or {}).get("detail") or {})}
        for p, target in (("p50", p50), ("p99", None)):
            out.append(
                Result(
                    f"webhook_ack_{p}{suffix}",
                    None if measured is None else measured[p],
                    None,
                    "ms",
                    target,
                    detail if p == "p50" else {"clients": n},
                )
            )
    out.append(
        Result(
            "ingest_rate",
            None if rate is None else rate["rate"],
            None,
            "events/s",
            Target(">=", 2000),
            {"clients": clients, "how": note, **((rate or {}).get("detail") or {})},
        )
    )
    return out
