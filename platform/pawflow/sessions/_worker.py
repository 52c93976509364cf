"""The worker process: polls Temporal for sessions and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import ParamSpec, TypeVar

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    CustomSlotSupplier,
    FixedSizeSlotSupplier,
    PollerBehaviorAutoscaling,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
    Worker,
    WorkerTuner,
)

from ..config import TemporalAccess
from ..credentials import purpose_key
from ..errors import ConfigError, TemporalUnavailable
from ..processes import make_undumpable, raise_open_files_limit
from ..schedules import ScheduleTickActivities, schedule_tick_workflow
from ._activities import SessionActivities
from ._codecache import CodeCache
from ._config import WorkerConfig
from ._confine import plan_confinement
from ._driver import CallJournal, SessionHosts
from ._envs import PackageEnvs
from ._heartbeat import Heartbeats
from ._logship import LogShipper
from ._runners import RunnerFactory
from ._seal import OutcomeSeal
from ._serverlink import ServerLink
from ._workflow import SessionRuntime, session_workflow

__all__ = [
    "MAX_SESSIONS_IN_CALLS",
    "Patience",
    "StepPool",
    "WorkflowTaskGate",
    "available_memory",
    "connect_temporal",
    "default_sessions_in_calls",
    "metrics_runtime",
    "run_worker",
]

log = logging.getLogger(__name__)

# A session inside an external call (or any step of its program) holds, on its
# worker: a runner process, one activity thread, one local-activity slot and
# one workflow-task slot (the SDK keeps the session's workflow task open while
# its local activity runs). The calls mostly wait on I/O, so what bounds how
# many can run at once is the runners' memory, not threads or slots.
MAX_SESSIONS_IN_CALLS = 2000
# What one runner costs while its program waits in a call: measured 6 MB of
# private memory (USS, about its PSS too: the rest is shared with the fork
# server), plus its kernel side (page tables, pipes) and its share of the
# worker (thread, cached workflow). Heavier programs check their own
# limits.memory_mb.
RUNNER_ESTIMATE_MB = 8
_MIN_SESSIONS_IN_CALLS = 32
# Runners may use this share of the memory available when the worker starts;
# the rest is left to the worker, the programs' peaks and everything else.
_MEMORY_SHARE = 0.75
# Workflow tasks taken on at once that are not waiting on a step: a session's
# workflow task runs workflow code (Python, on a couple of threads) before and
# after its step, and each must end within Temporal's workflow task timeout
# (10 s). Taking on more than the worker gets through in time makes them time
# out and run again (measured: 1,000 at once on 2 busy cores timed out 2,000
# times); the SDK's own default is 100 of all kinds.
_WORKFLOW_TASKS_OUTSIDE_STEPS = 50
_MAX_ACTIVITIES = 50  # regular activities (schedule ticks)
_DEFAULT_CACHED_SESSIONS = 1000


class WorkflowTaskGate(CustomSlotSupplier):
    """Workflow-task slots: up to ``limit`` in all, of which at most
    ``outside_steps`` not waiting on a step (an activity running on the step
    threads). A session inside a call keeps its workflow task, and so its slot,
    while the call runs: those must not keep others from starting, and new
    sessions must not be taken on faster than workflow code gets through them."""

    def __init__(self, limit: int, outside_steps: int) -> None:
        self._limit = limit
        self._outside_steps = outside_steps
        self._lock = threading.Lock()
        self._held = 0  # permits out, including those of idle polls
        self._steps = 0
        self._waiting = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        if self._changed is None:
            self._loop = asyncio.get_running_loop()
            self._changed = asyncio.Event()
        while True:
            with self._lock:
                if self._held < self._limit and self._held - self._steps < self._outside_steps:
                    self._held += 1
                    return SlotPermit()
                self._waiting += 1
                # A wake-up from another thread is scheduled on the loop, so it
                # comes after this clear.
                self._changed.clear()
            try:
                await self._changed.wait()
            finally:
                with self._lock:
                    self._waiting -= 1

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        # Eager tasks (the next task of a session that just completed one) are
        # work in progress: only the overall limit holds them back.
        with self._lock:
            if self._held < self._limit:
                self._held += 1
                return SlotPermit()
        return None

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        pass

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        with self._lock:
            self._held -= 1
        self._wake()

    def running_steps(self) -> int:
        with self._lock:
            return self._steps

    def step(self, delta: int) -> None:
        """A step started (+1) or ended (-1) on the step threads."""
        with self._lock:
            self._steps += delta
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            waiting = self._waiting
        if waiting and self._loop is not None and self._changed is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(self._changed.set)


_P = ParamSpec("_P")
_T = TypeVar("_T")


class StepPool(ThreadPoolExecutor):
    """The threads activities run on; tells ``gate`` when each starts and ends."""

    def __init__(self, max_workers: int, gate: WorkflowTaskGate) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="pawflow-step")
        self._gate = gate

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        gate = self._gate

        def run() -> _T:
            gate.step(+1)
            try:
                return fn(*args, **kwargs)
            finally:
                gate.step(-1)

        return super().submit(run)


_METRICS_HOST = "127.0.0.1"


def metrics_runtime(port: int) -> Runtime:
    """A Temporal runtime exporting the SDK's worker metrics on 127.0.0.1:``port``."""
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=f"{_METRICS_HOST}:{port}")
            )
        )
    except Exception as err:  # the core reports a port in use as a plain error
        raise ConfigError(
            f"cannot serve worker metrics on {_METRICS_HOST}:{port}: {str(err).splitlines()[0]}"
        ) from None


class Patience:
    """How a worker keeps trying to reach what it needs at start (its server,
    Temporal), which may be starting alongside it: again after 0.2 s, doubling
    to 5 s, for at most ``seconds``. Says once in the log what it waits for,
    and again every 30 s while it still does, not at every attempt."""

    _FIRST_DELAY = 0.2
    _MAX_DELAY = 5.0
    _NOTE_EVERY = 30.0

    def __init__(self, what: str, seconds: float) -> None:
        self._what = what
        self._deadline = time.monotonic() + seconds
        self._delay = self._FIRST_DELAY
        self._next_note = 0.0

    def next_try(self, problem: str) -> float | None:
        """Seconds to wait before the next attempt, after one that failed with
        ``problem``; None when the time is up."""
        now = time.monotonic()
        if now >= self._deadline:
            return None
        if now >= self._next_note:
            log.warning("waiting for %s (%s); retrying", self._what, problem)
            self._next_note = now + self._NOTE_EVERY
        delay = min(self._delay, self._deadline - now)  # a last try at the deadline
        self._delay = min(self._delay * 2, self._MAX_DELAY)
        return delay


# What the SDK's core reports when TLS or credentials are wrong: waiting will not fix it.
_LASTING_CONNECT_ERROR = re.compile(
    r"InvalidData|certificate|handshake|Unauthenticated|PermissionDenied", re.IGNORECASE
)


async def connect_temporal(
    address: str,
    namespace: str,
    timeout: float = 60.0,
    *,
    access: TemporalAccess | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """Connect, retrying for up to ``timeout`` seconds while the Temporal server
    is starting or briefly away; TLS and credential errors fail at once."""
    patience = Patience(f"Temporal at {address}", timeout)
    credentials = access or TemporalAccess()
    while True:
        try:
            return await credentials.connect(address, namespace, runtime=runtime)
        except RuntimeError as exc:
            problem = str(exc).removeprefix("Failed client connect: ")
            delay = (
                None
                if _LASTING_CONNECT_ERROR.search(problem)
                else patience.next_try(_in_short(problem))
            )
            if delay is None:
                raise TemporalUnavailable(
                    f"cannot connect to Temporal at {address} (is it running?): {exc}"
                ) from exc
            await asyncio.sleep(delay)  # back off between connection attempts


def _in_short(problem: str) -> str:
    """The OS's words in a core connect error ("Connection refused"), else its start."""
    found = re.search(r'message: "([^"]+)"|(dns error)', problem)
    words = next((w for w in found.groups() if w), "") if found else problem[:200]
    return words[:1].lower() + words[1:]


def available_memory() -> int | None:
    """Bytes this worker's runners could use now: the machine's available
    memory, or what is left under the worker's cgroup limit if that is less."""
    found: list[int] = []
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        with contextlib.suppress(OSError, ValueError):
            limit = Path(limit_file).read_text().strip()
            if limit != "max" and int(limit) < 1 << 60:  # v1 says "no limit" with a huge number
                found.append(max(0, int(limit) - int(Path(usage_file).read_text())))
    return min(found) if found else None


def default_sessions_in_calls(available_bytes: int | None) -> int:
    """How many sessions may be inside calls at once on this worker, from
    ``available_bytes`` of memory (None: unknown)."""
    if available_bytes is None:
        return _MIN_SESSIONS_IN_CALLS * 4
    fits = int(available_bytes * _MEMORY_SHARE) // (RUNNER_ESTIMATE_MB << 20)
    return max(_MIN_SESSIONS_IN_CALLS, min(MAX_SESSIONS_IN_CALLS, fits))


async def run_worker(config: WorkerConfig, *, wait_seconds: float = 60.0) -> None:
    """Run one worker until cancelled; at start, wait up to ``wait_seconds``
    for Temporal to be reachable."""
    # Runners are this process's grandchildren: nothing of its memory or
    # environment may be readable to them through /proc.
    make_undumpable()
    open_files = raise_open_files_limit()
    if config.max_sessions_in_calls:
        in_calls, why = config.max_sessions_in_calls, "configured"
    else:
        available = available_memory()
        in_calls = default_sessions_in_calls(available)
        why = (
            f"from {available >> 20} MB of available memory at {RUNNER_ESTIMATE_MB} MB a runner"
            if available is not None
            else "memory unknown"
        )
    # Every session inside a call has its workflow cached on this worker: a
    # smaller cache would hold back sessions in calls, unless asked for.
    cached = (
        max(_DEFAULT_CACHED_SESSIONS, in_calls)
        if config.max_cached_sessions is None
        else config.max_cached_sessions
    )
    log.info(
        "up to %d sessions inside calls at once (%s); %d cached sessions; %d open files",
        in_calls,
        why,
        cached,
        open_files,
    )
    # Each session in a call holds a few descriptors (see raise_open_files_limit).
    if open_files < in_calls * 6:
        log.warning(
            "the open-files limit (%d, ulimit -n) may not let %d sessions be inside calls at once",
            open_files,
            in_calls,
        )
    confinement = plan_confinement(config.data_dir, config.runner_user, config.temporal_address)
    for holds, line in confinement.describe():
        # Said once, at start; what does not hold is never skipped silently.
        (log.info if holds else log.warning)("%s", line)
    link = ServerLink(config.server_url, config.token)
    shipper = LogShipper(link)  # the link keeps one connection per thread
    runtime = SessionRuntime(
        code=CodeCache(config.data_dir / "code", link),
        hosts=SessionHosts(),
        # A project's requirements.txt: installed by the server at deploy time
        # (found here when the data dir is shared), else here on first use.
        runners=RunnerFactory(confinement, packages=PackageEnvs(config.data_dir / "envs")),
        journal=CallJournal(link),
        shipper=shipper,
        server=link,
        server_url=config.server_url,
        worker_token=config.token,
        seal=OutcomeSeal(purpose_key(config.token, "call-outcomes")),
        max_history_events=config.max_history_events,
    )
    await asyncio.to_thread(runtime.runners.warm_up)
    runtime_metrics = None
    if config.metrics_port is not None:
        runtime_metrics = metrics_runtime(config.metrics_port)
        log.info("worker metrics on http://%s:%d/metrics", _METRICS_HOST, config.metrics_port)
    client = await connect_temporal(
        config.temporal_address,
        config.namespace,
        wait_seconds,
        access=config.temporal_access,
        runtime=runtime_metrics,
    )
    shipper.start()
    beats = Heartbeats(link, config.task_queue, runtime.hosts.count, shipper.backlog)
    activities = SessionActivities(runtime.hosts, shipper)
    gate = WorkflowTaskGate(in_calls + _WORKFLOW_TASKS_OUTSIDE_STEPS, _WORKFLOW_TASKS_OUTSIDE_STEPS)
    # User code runs in runner processes: workflow tasks only shuffle recorded
    # data, so they never block for long and can share a few threads.
    with (
        ThreadPoolExecutor(max_workers=4, thread_name_prefix="pawflow-workflow") as workflow_pool,
        # Threads are started only as steps need them.
        StepPool(in_calls + _MAX_ACTIVITIES, gate) as step_pool,
    ):
        worker = Worker(
            client,
            task_queue=config.task_queue,
            workflows=[session_workflow(runtime), schedule_tick_workflow],
            activities=[
                activities.advance,
                activities.flush_log,
                activities.save_transcript,
                ScheduleTickActivities(link).post_tick,
            ],
            workflow_task_executor=workflow_pool,
            activity_executor=step_pool,
            tuner=WorkerTuner.create_composite(
                workflow_supplier=gate,
                activity_supplier=FixedSizeSlotSupplier(_MAX_ACTIVITIES),
                local_activity_supplier=FixedSizeSlotSupplier(in_calls),
                nexus_supplier=FixedSizeSlotSupplier(1),
            ),
            max_cached_workflows=cached,
            # A session inside a call longer than the workflow task timeout has
            # its workflow task renewed every 8 s, each a new task to poll: five
            # fixed pollers (the SDK's default) fell behind with 500 sessions in
            # 30 s calls and their tasks timed out; pollers now grow with demand.
            workflow_task_poller_behavior=PollerBehaviorAutoscaling(
                maximum=_WORKFLOW_TASKS_OUTSIDE_STEPS
            ),
            # Cancelled (SIGTERM), the worker stops polling and running steps
            # get this long to finish; what is left is retried on another worker.
            graceful_shutdown_timeout=timedelta(seconds=config.graceful_shutdown_seconds),
        )
        log.info("worker polling task queue %s on %s", config.task_queue, config.temporal_address)
        beating = asyncio.create_task(beats.run(), name="pawflow-heartbeat")
        try:
            await worker.run()
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            runtime.hosts.release_all()
            runtime.journal.close()
            shipper.close()
            link.close()
