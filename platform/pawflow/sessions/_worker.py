"""The worker process: polls Temporal for sessions and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from ..config import TemporalAccess
from ..credentials import purpose_key
from ..errors import ConfigError, TemporalUnavailable
from ..schedules import ScheduleTickActivities, schedule_tick_workflow
from ..up._process import make_undumpable
from ._activities import SessionActivities
from ._codecache import CodeCache
from ._config import WorkerConfig
from ._confine import plan_confinement
from ._envs import PackageEnvs
from ._heartbeat import Heartbeats
from ._host import CallJournal, SessionHosts
from ._logship import LogShipper
from ._runners import RunnerFactory
from ._seal import OutcomeSeal
from ._serverlink import ServerLink
from ._workflow import SessionRuntime, session_workflow

__all__ = ["connect_temporal", "metrics_runtime", "run_worker"]

log = logging.getLogger(__name__)

# Each running external call or program step holds one activity thread.
_MAX_ACTIVE_STEPS = 200


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


async def connect_temporal(
    address: str,
    namespace: str,
    timeout: float = 60.0,
    *,
    access: TemporalAccess | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """Connect, retrying while the Temporal server is starting or briefly away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.1
    credentials = access or TemporalAccess()
    while True:
        try:
            return await credentials.connect(address, namespace, runtime=runtime)
        except RuntimeError as exc:
            if loop.time() + delay > deadline:
                raise TemporalUnavailable(
                    f"cannot connect to Temporal at {address} (is it running?): {exc}"
                ) from exc
            await asyncio.sleep(delay)  # back off between connection attempts
            delay = min(delay * 2, 2.0)


async def run_worker(config: WorkerConfig) -> None:
    """Run one worker until cancelled."""
    # Runners are this process's grandchildren: nothing of its memory or
    # environment may be readable to them through /proc.
    make_undumpable()
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
        access=config.temporal_access,
        runtime=runtime_metrics,
    )
    shipper.start()
    beats = Heartbeats(link, config.task_queue, runtime.hosts.count, shipper.backlog)
    activities = SessionActivities(runtime.hosts, shipper)
    # User code runs in runner processes: workflow tasks only shuffle recorded
    # data, so they never block for long and can share a few threads.
    with (
        ThreadPoolExecutor(max_workers=4, thread_name_prefix="pawflow-workflow") as workflow_pool,
        ThreadPoolExecutor(
            max_workers=_MAX_ACTIVE_STEPS, thread_name_prefix="pawflow-step"
        ) as step_pool,
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
            max_concurrent_activities=_MAX_ACTIVE_STEPS,
            max_concurrent_local_activities=_MAX_ACTIVE_STEPS,
            max_cached_workflows=config.max_cached_sessions,
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
