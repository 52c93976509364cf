"""The worker process: polls Temporal for sessions and runs them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from ..errors import TemporalUnavailable
from ..sdk._scope import Scope, ScopedGreenlet
from ._activities import SessionActivities
from ._code import DeploymentCode
from ._codecache import CodeCache
from ._config import WorkerConfig
from ._logship import LogShipper
from ._program import CallTable, call_hook
from ._serverlink import ServerLink
from ._workflow import SessionRuntime, session_workflow

__all__ = ["connect_temporal", "run_worker"]

log = logging.getLogger(__name__)


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


def _make_code(deployment_id: str, root: Path) -> DeploymentCode:
    return DeploymentCode(deployment_id, root, call_hook, _run_module_code)


def _run_module_code(execute: Callable[[], None]) -> None:
    # Module-level code of user modules runs once per worker, outside any
    # session: its calls are direct, but pawflow.vars must not crash.
    ScopedGreenlet(lambda: execute(), Scope({})).switch()


async def run_worker(config: WorkerConfig) -> None:
    """Run one worker until cancelled."""
    link = ServerLink(config.server_url, config.token)
    shipper = LogShipper(link)  # the link keeps one connection per thread
    runtime = SessionRuntime(
        code=CodeCache(config.data_dir / "code", link, _make_code),
        calls=CallTable(),
        shipper=shipper,
        server=link,
    )
    client = await connect_temporal(config.temporal_address, config.namespace)
    shipper.start()
    activities = SessionActivities(runtime.calls, shipper)
    # One workflow thread: greenlets cannot switch across threads.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="pawflow-workflow") as workflow_pool,
        ThreadPoolExecutor(max_workers=64, thread_name_prefix="pawflow-call") as call_pool,
    ):
        worker = Worker(
            client,
            task_queue=config.task_queue,
            workflows=[session_workflow(runtime)],
            activities=[activities.call, activities.flush_log],
            workflow_task_executor=workflow_pool,
            activity_executor=call_pool,
            max_concurrent_activities=64,
            max_concurrent_local_activities=64,
            max_cached_workflows=config.max_cached_sessions,
            # User code may compute for longer than the 2 s deadlock detector allows.
            debug_mode=True,
        )
        log.info("worker polling task queue %s on %s", config.task_queue, config.temporal_address)
        try:
            await worker.run()
        finally:
            shipper.close()
            link.close()
