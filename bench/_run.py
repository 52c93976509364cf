"""The whole run: every measure in order, on one Temporal server, then the report.

Order: ``paw up`` at rest first (the machine is quietest then); then, on the
run's Temporal server, the ingest path on a Pawflow server without workers;
then each paired measure on Pawflow (a server and one worker) followed at once
by the same measure on the raw temporalio worker (its own task queue). Pawflow
and the baseline never run at the same time; the side not measuring is idle.
A measure that fails is reported as missing; the rest go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

import aiohttp
from temporalio.service import RPCError

from pawflow.up import free_port

from ._baseline import fast_queue
from ._concurrent import SlowServer, concurrent_baseline, concurrent_pawflow, concurrent_results
from ._context import BenchError, PawSide, Plan, RawSide
from ._flood import FloodSide, filter_flood, flood_results
from ._idle import footprint, footprint_results, idle_baseline, idle_pawflow, idle_results
from ._ingest import IngestSide, ack_latency, ingest_rate, ingest_results
from ._machine import git_short_sha, load_average, machine_facts
from ._overhead import overhead_both, overhead_results
from ._procs import Children, machine_busy_seconds
from ._projects import (
    BENCH_PROJECT,
    BYSTANDER_PROJECT,
    FLOOD_PROJECT,
    INGEST_PROJECT,
    write_project,
)
from ._report import Result, format_table, write_results
from ._scale import (
    ingest_postgresql,
    ingest_postgresql_results,
    scale_results,
    scale_workers,
)
from ._stack import Stack, StackError
from ._start_latency import start_latency_baseline, start_latency_pawflow, start_latency_results
from ._sync_transfer import sync_transfer_baseline, sync_transfer_pawflow, sync_transfer_results
from ._throughput import throughput_baselines, throughput_pawflow, throughput_results

__all__ = ["MEASURES", "NOT_QUICK", "RESULTS_DIR", "run_bench"]

log = logging.getLogger(__name__)

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# The measures, in the order they run; --only picks some of them.
MEASURES = (
    "footprint",
    "ingest",
    "ingest_postgresql",
    "flood",
    "scale_1_2_4_workers",
    "overhead",
    "to_start",
    "sync_transfer",
    "e2e",
    "concurrent_calls",
    "idle",
)
# Left out of --quick unless named with --only: each starts PostgreSQL and
# servers of its own, which the three minutes of the quick set cannot hold.
NOT_QUICK = frozenset({"ingest_postgresql", "scale_1_2_4_workers"})

T = TypeVar("T")

# Other processes using more than this many cores make the figures noisy.
_BUSY_MACHINE = 0.25

# Failures of one measure: reported, and the run goes on with the next.
_MEASURE_ERRORS = (BenchError, StackError, RPCError, aiohttp.ClientError, TimeoutError)


class _Run:
    """Runs measures one by one, timing each and keeping their failures."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.t0 = time.monotonic()
        self.phases: dict[str, float] = {}
        self.errors: dict[str, str] = {}

    def say(self, text: str) -> None:
        self.out.write(f"[{time.monotonic() - self.t0:6.1f}s] {text}\n")
        self.out.flush()

    async def measure(self, name: str, work: Awaitable[T]) -> T | None:
        self.say(f"{name} ...")
        start = time.monotonic()
        try:
            value = await work
        except _MEASURE_ERRORS as err:
            self.errors[name] = f"{type(err).__name__}: {err}"
            self.say(f"{name} FAILED: {err}")
            log.debug("%s failed", name, exc_info=err)
            return None
        finally:
            self.phases[name] = round(time.monotonic() - start, 1)
        self.say(f"{name} done in {self.phases[name]:.1f}s")
        return value


async def run_bench(
    plan: Plan,
    *,
    only: frozenset[str] = frozenset(MEASURES),
    results_dir: Path | None = RESULTS_DIR,
    out: TextIO = sys.stdout,
) -> int:
    """Run the measures of ``plan`` named in ``only``, print the table and write
    the JSON files into ``results_dir`` (None: write nothing).

    Returns 0 when every measure was taken (targets missed or not), 1 otherwise.
    """
    run = _Run(out)
    busy_before, ours_before = machine_busy_seconds(), _ours()
    machine = machine_facts(quick=plan.quick)
    load = machine["load_average_at_start"]
    run.say(f"pawflow bench ({machine['mode']}), {machine['cores']} cores, load average {load}")
    got: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pawflow-bench-") as tmp:
        root = Path(tmp)
        async with Children() as children:
            if "footprint" in only:
                got["footprint"] = await run.measure("idle_footprint", footprint(children, root))
            run.say("starting Temporal, the Pawflow servers and the workers")
            async with Stack(root, children) as stack:
                sides = await run.measure("start-up", _start(stack, plan, root, only))
                if sides is not None:
                    await _measure(run, stack, plan, only, sides, got)
            run.say("everything stopped")
    got["previous_idle"] = _previous_figure(plan, "idle_sessions_rss")
    results = [r for key, r in _results(plan, got) if key in only]
    out.write("\n" + format_table(results) + "\n\n")
    seconds = round(time.monotonic() - run.t0, 1)
    # Everything the bench started has been reaped by now, so its CPU is in _ours().
    others = (machine_busy_seconds() - busy_before - (_ours() - ours_before)) / seconds
    extra = {
        "run": {
            "seconds": seconds,
            "phases_seconds": run.phases,
            "errors": run.errors,
            "load_average_at_end": load_average(),
            "other_processes_cpu_share": round(max(others, 0.0), 2),
        }
    }
    if others > _BUSY_MACHINE:
        out.write(
            f"note: other processes used {others:.1f} of the machine's cores meanwhile; "
            "the figures are noisy\n"
        )
    if results_dir is None:
        out.write(f"{len(results)} results in {seconds:.0f} s (no files written)\n")
    else:
        paths = write_results(
            results_dir, machine, results, quick=plan.quick, short_sha=git_short_sha(), extra=extra
        )
        out.write(
            f"{len(results)} results in {seconds:.0f} s; "
            f"written to {paths[0]} and {paths[1].name}\n"
        )
    for name, error in run.errors.items():
        out.write(f"FAILED {name}: {error}\n")
    return 1 if run.errors else 0


@dataclass
class _Sides:
    ingest: IngestSide | None
    flood: FloodSide | None
    paw: PawSide | None
    raw: RawSide | None


async def _start(stack: Stack, plan: Plan, root: Path, only: frozenset[str]) -> _Sides:
    """Start what the chosen measures need, side by side (it is all idle afterwards)."""
    client = await stack.client()
    projects = root / "projects"
    paired = bool(only & {"overhead", "concurrent_calls", "idle", *(key for key, *_ in _PAIRS)})

    async def ingest() -> IngestSide | None:
        if "ingest" not in only:
            return None
        server = await stack.start_server("ingest", "bench-ingest")
        hooks = await stack.deploy(server, write_project(INGEST_PROJECT, projects))
        return IngestSide(stack, server, hooks["hook"], client, plan.settle_seconds)

    async def flood() -> FloodSide | None:
        if "flood" not in only:
            return None
        server = await stack.start_server("flood", "bench-flood")
        hooks = await stack.deploy(server, write_project(FLOOD_PROJECT, projects))
        hooks |= await stack.deploy(server, write_project(BYSTANDER_PROJECT, projects))
        return FloodSide(stack, server, hooks)

    async def paw() -> PawSide | None:
        if not paired:
            return None
        server = await stack.start_server("pawflow", "bench-pawflow")
        hooks = await stack.deploy(server, write_project(BENCH_PROJECT, projects))
        return PawSide(stack, server, hooks, await stack.start_worker(server), client)

    async def raw() -> RawSide | None:
        if not paired:
            return None
        queue, port = "bench-baseline", free_port()
        worker = await stack.start_baseline_worker(queue, http_port=port)
        return RawSide(stack, queue, worker, client, fast_queue(queue), f"http://127.0.0.1:{port}")

    started = await asyncio.gather(ingest(), flood(), paw(), raw(), return_exceptions=True)
    for outcome in started:
        if isinstance(outcome, BaseException):
            raise outcome  # the stack stops whatever did start
    i, f, p, r = started
    assert not isinstance(i, BaseException)
    assert not isinstance(f, BaseException)
    assert not isinstance(p, BaseException)
    assert not isinstance(r, BaseException)
    return _Sides(i, f, p, r)


# Measures taken on Pawflow, then at once on the baseline, so that both see the
# machine in much the same state (per_call_overhead alternates run by run; it is
# cheap enough). concurrent_calls follows them (it needs the slow server), and
# idle comes last: its sessions stay asleep until the run ends.
_PAIRS: tuple[
    tuple[str, str, Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], ...
] = (
    ("to_start", "webhook_to_start", start_latency_pawflow, start_latency_baseline),
    ("sync_transfer", "sync_transfer_e2e", sync_transfer_pawflow, sync_transfer_baseline),
    ("e2e", "e2e_throughput", throughput_pawflow, throughput_baselines),
)


async def _measure(
    run: _Run, stack: Stack, plan: Plan, only: frozenset[str], sides: _Sides, got: dict[str, Any]
) -> None:
    if sides.ingest is not None:
        side = sides.ingest
        got["ack"] = await run.measure(
            "webhook_ack", ack_latency(side, plan.clients, plan.ack_requests)
        )
        got["ack_c1"] = await run.measure("webhook_ack_c1", ack_latency(side, 1, plan.ack_requests))
        got["ingest"] = await run.measure(
            "ingest_rate", ingest_rate(side, plan.clients, plan.ingest_seconds)
        )
        # Its dispatcher would go on starting workflows for the backlog.
        await stack.stop_server(side.server)
    if "ingest_postgresql" in only:
        got["ingest_postgresql"] = await run.measure(
            "ingest_rate_postgresql", ingest_postgresql(stack, plan, await stack.client())
        )
    if sides.flood is not None:
        got["flood"] = await run.measure(
            "webhook_ack_p99_under_filter_flood", filter_flood(sides.flood, plan)
        )
        # Its filter processes would go on grinding through the flood.
        await stack.stop_server(sides.flood.server)
    if "scale_1_2_4_workers" in only:
        # Before the paired measures: their sides sit idle meanwhile (the idle
        # measure leaves thousands of sessions asleep until the run ends).
        got["scale"] = await run.measure(
            "scale_1_2_4_workers", scale_workers(stack, plan, await stack.client())
        )
    if sides.paw is None or sides.raw is None:
        return
    if "overhead" in only:
        both = await run.measure(
            "per_call_overhead (pawflow and baseline)", overhead_both(sides.paw, sides.raw, plan)
        )
        got["paw_overhead"], got["raw_overhead"] = both or (None, None)
    for key, name, on_pawflow, on_baseline in _PAIRS:
        if key in only:
            got[f"paw_{key}"] = await run.measure(f"{name} (pawflow)", on_pawflow(sides.paw, plan))
            got[f"raw_{key}"] = await run.measure(
                f"{name} (baseline)", on_baseline(sides.raw, plan)
            )
    if "concurrent_calls" in only:
        async with SlowServer() as slow:
            got["paw_concurrent"] = await run.measure(
                "concurrent_calls (pawflow)", concurrent_pawflow(sides.paw, plan, slow)
            )
            got["raw_concurrent"] = await run.measure(
                "concurrent_calls (baseline)", concurrent_baseline(sides.raw, plan, slow)
            )
    if "idle" in only:
        got["paw_idle"] = await run.measure(
            "idle_sessions_rss (pawflow)", idle_pawflow(sides.paw, plan)
        )
        got["raw_idle"] = await run.measure(
            "idle_sessions_rss (baseline)", idle_baseline(sides.raw, plan)
        )


def _previous_figure(plan: Plan, name: str) -> float | None:
    """Pawflow's figure ``name`` in the last results written to bench/results/ by a
    run of the same mode (quick or full), None when there is none."""
    try:
        document = json.loads((RESULTS_DIR / "latest.json").read_text())
    except (OSError, ValueError):
        return None
    if document.get("machine", {}).get("mode") != ("quick" if plan.quick else "full"):
        return None
    for result in document.get("results", []):
        if result.get("name") == name and isinstance(result.get("pawflow"), int | float):
            return float(result["pawflow"])
    return None


def _ours() -> float:
    """CPU of the bench and of every process it started and reaped."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def _results(plan: Plan, got: dict[str, Any]) -> list[tuple[str, Result]]:
    """Every result, each with the measure it belongs to, in the report's order."""
    groups = (
        ("overhead", overhead_results(plan, got.get("paw_overhead"), got.get("raw_overhead"))),
        (
            "ingest",
            ingest_results(plan.clients, got.get("ack"), got.get("ack_c1"), got.get("ingest")),
        ),
        ("ingest_postgresql", ingest_postgresql_results(plan, got.get("ingest_postgresql"))),
        ("flood", flood_results(got.get("flood"))),
        ("scale_1_2_4_workers", scale_results(plan, got.get("scale"))),
        ("to_start", start_latency_results(plan, got.get("paw_to_start"), got.get("raw_to_start"))),
        (
            "sync_transfer",
            sync_transfer_results(plan, got.get("paw_sync_transfer"), got.get("raw_sync_transfer")),
        ),
        ("e2e", throughput_results(plan, got.get("paw_e2e"), got.get("raw_e2e"))),
        (
            "concurrent_calls",
            concurrent_results(plan, got.get("paw_concurrent"), got.get("raw_concurrent")),
        ),
        (
            "idle",
            idle_results(plan, got.get("paw_idle"), got.get("raw_idle"), got.get("previous_idle")),
        ),
        ("footprint", footprint_results(got.get("footprint"))),
    )
    return [(key, result) for key, results in groups for result in results]
