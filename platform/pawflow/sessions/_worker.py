"""The worker process: polls Temporal for sessions and runs them."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from ..credentials import purpose_key
from ..errors import TemporalUnavailable
from ..schedules import ScheduleTickActivities, schedule_tick_workflow
from ..up._process import make_undumpable
from ._activities import SessionActivities
from ._codecache import CodeCache
from ._config import WorkerConfig
from ._confine import plan_confinement
from ._host import CallJournal, SessionHosts
from ._logship import LogShipper
from ._runners import RunnerFactory
from ._seal import OutcomeSeal
from ._serverlink import ServerLink
from ._workflow import SessionRuntime, session_workflow

__all__ = ["connect_temporal", "run_worker"]

log = logging.getLogger(__name__)

# Each running external call or program step holds one activity thread.
_MAX_ACTIVE_STEPS = 200


async def connect_temporal(address: str, namespace: str, timeout: float = 60.0) -> Client:
    """Connect, retrying while the Temporal server is starting or briefly away."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.1
    while True:
        try:
            return await Client.connect(address, namespace=namespace)
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
        runners=RunnerFactory(confinement),
        journal=CallJournal(link),
        shipper=shipper,
        server=link,
        server_url=config.server_url,
        worker_token=config.token,
        seal=OutcomeSeal(purpose_key(config.token, "call-outcomes")),
        max_history_events=config.max_history_events,
    )
    await asyncio.to_thread(runtime.runners.warm_up)
    client = await connect_temporal(config.temporal_address, config.namespace)
    shipper.start()
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
        )
        log.info("worker polling task queue %s on %s", config.task_queue, config.temporal_address)
        try:
            await worker.run()
        finally:
            runtime.hosts.release_all()
            runtime.journal.close()
            shipper.close()
            link.close()
