"""What every measure gets: the sizes of the run, and the two sides it compares."""

from __future__ import annotations

import asyncio
import resource
import subprocess
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from temporalio.client import Client

from ._procs import TreeUsage, machine_busy_seconds, tree_usage
from ._stack import PawServer, Stack

__all__ = [
    "BenchError",
    "CpuWatch",
    "Measured",
    "PawSide",
    "Plan",
    "RawSide",
    "iso_seconds",
]


class BenchError(RuntimeError):
    """A measure could not be taken (something did not happen in time, or failed)."""


@dataclass(frozen=True)
class Plan:
    """How much each measure does; ``Plan.for_mode(quick)`` gives the two sets."""

    quick: bool
    clients: int
    overhead_calls: int
    overhead_repeats: int
    to_start_requests: int
    to_start_requests_c1: int  # 0: no one-client run
    e2e_seconds: float
    ingest_seconds: float
    idle_sessions: int
    ack_requests: int
    # How long the ingest measures wait for the dispatcher to catch up between them.
    settle_seconds: float
    # webhook_ack_p99_under_filter_flood: how long the flood lasts, and its
    # bodies at most.
    flood_seconds: float
    flood_bodies: int
    # scale_1_2_4_workers: the window of each run (1, 2 and 4 workers).
    scale_seconds: float
    # sync_transfer_e2e: sequential requests from one client, on each side.
    sync_requests: int
    # concurrent_calls: sessions each in one slow call, and how long to wait for
    # them all before giving up (the measure then reports what ended).
    concurrent_sessions: int
    concurrent_give_up_seconds: float
    # Items a throughput run may have unfinished at once: enough to keep every
    # stage busy, few enough that the backlog drains in seconds.
    backlog: int = 64

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                quick=True,
                clients=16,
                overhead_calls=50,
                overhead_repeats=7,
                to_start_requests=300,
                to_start_requests_c1=50,
                e2e_seconds=15.0,
                ingest_seconds=10.0,
                idle_sessions=1000,
                ack_requests=500,
                settle_seconds=5.0,
                flood_seconds=10.0,
                flood_bodies=30,
                scale_seconds=10.0,
                sync_requests=100,
                concurrent_sessions=300,
                concurrent_give_up_seconds=60.0,
            )
        return cls(
            quick=False,
            clients=16,
            overhead_calls=50,
            overhead_repeats=15,
            to_start_requests=1000,
            to_start_requests_c1=200,
            e2e_seconds=60.0,
            ingest_seconds=30.0,
            idle_sessions=10_000,
            ack_requests=2000,
            settle_seconds=60.0,
            flood_seconds=20.0,
            flood_bodies=60,
            scale_seconds=30.0,
            sync_requests=500,
            concurrent_sessions=1000,
            concurrent_give_up_seconds=120.0,
        )


@dataclass
class PawSide:
    """Pawflow: a server with one worker, the bench project deployed."""

    stack: Stack
    server: PawServer
    hooks: dict[str, str]
    worker: subprocess.Popen[bytes]
    client: Client

    @property
    def queue_query(self) -> str:
        return f"TaskQueue = '{self.server.task_queue}'"

    async def session_of(self, event_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The session of ``event_id`` once the dispatcher made it (polls the API)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.002
        while True:
            session = await self.server.api.session_of(event_id)
            if session is not None:
                return session
            if loop.time() > deadline:
                raise BenchError(f"event {event_id} got no session within {timeout:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def usage(self) -> dict[str, TreeUsage]:
        return {
            "worker": tree_usage(self.worker.pid),
            "server": tree_usage(self.server.proc.pid),
            "temporal": tree_usage(self.stack.temporal.pid or 0),
        }


@dataclass
class RawSide:
    """The baseline: raw temporalio workers on their own task queues.

    ``task_queue`` is the default-configured worker's; ``fast_queue`` the
    unsandboxed one's in the same process, whose ``http_url`` serves the
    transfer. With ``in_process``, ``task_queue`` is served by a worker inside
    the bench itself (its CPU is then ``bench_client``'s).
    """

    stack: Stack
    task_queue: str
    worker: subprocess.Popen[bytes]
    client: Client
    fast_queue: str = ""
    http_url: str = ""
    in_process: bool = False

    @property
    def queue_query(self) -> str:
        return f"TaskQueue = '{self.task_queue}'"

    def usage(self) -> dict[str, TreeUsage]:
        parts = {"temporal": tree_usage(self.stack.temporal.pid or 0)}
        if not self.in_process:
            parts["worker"] = tree_usage(self.worker.pid)
        return parts


class Measured(Protocol):
    def usage(self) -> dict[str, TreeUsage]: ...


class CpuWatch:
    """CPU each part of a side used between ``start()`` and ``shares()``, and how
    busy the machine was with everything else (it may be shared)."""

    def __init__(self, side: Measured) -> None:
        self._side = side
        self._before: dict[str, float] = {}
        self._machine = 0.0
        self._own = 0.0

    def start(self) -> None:
        self._before = {k: u.cpu_seconds for k, u in self._side.usage().items()}
        self._machine = machine_busy_seconds()
        self._own = own_cpu_seconds()

    def shares(self, seconds: float) -> dict[str, float]:
        """Each part's CPU over the interval as a share of one core (1.0 = a full core),
        with ``bench_client`` (this process) and ``other_processes`` (the rest of
        the machine)."""
        now = {k: u.cpu_seconds for k, u in self._side.usage().items()}
        used = {k: now[k] - self._before.get(k, 0.0) for k in now}
        used["bench_client"] = own_cpu_seconds() - self._own
        machine = machine_busy_seconds() - self._machine
        used["other_processes"] = max(0.0, machine - sum(used.values()))
        return {k: round(v / seconds, 2) for k, v in used.items()}


def own_cpu_seconds() -> float:
    """CPU this process used so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def iso_seconds(text: str) -> float:
    """``"2024-01-01T00:00:00.123456Z"`` (the API's times) → Unix seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
