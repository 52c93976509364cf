"""What Temporal recorded: event times from histories, counts from visibility."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

__all__ = [
    "RunTimes",
    "Start",
    "count",
    "first_task_started",
    "run_times",
    "wait_result",
    "waiting_on_timer",
]

_STARTED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
_TASK_STARTED = EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


@dataclass(frozen=True)
class RunTimes:
    """Wall-clock times (Unix seconds) of a closed workflow's milestones."""

    started: float
    first_task_started: float
    completed: float

    @property
    def seconds(self) -> float:
        """WorkflowExecutionStarted → WorkflowExecutionCompleted."""
        return self.completed - self.started


async def run_times(client: Client, workflow_id: str) -> RunTimes:
    """The milestones of a completed workflow, from its history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    times: dict[int, float] = {}
    for event in history.events:
        if event.event_type in (_STARTED, _COMPLETED, _TASK_STARTED):
            times.setdefault(event.event_type, _seconds(event))
    missing = [n for n in (_STARTED, _TASK_STARTED, _COMPLETED) if n not in times]
    if missing:
        raise RuntimeError(f"workflow {workflow_id} has not completed (history lacks {missing})")
    return RunTimes(times[_STARTED], times[_TASK_STARTED], times[_COMPLETED])


@dataclass(frozen=True)
class Start:
    """When a workflow was started and when its first workflow task started."""

    execution_started: float
    task_started: float


async def first_task_started(client: Client, workflow_id: str, timeout: float = 60.0) -> Start:
    """When the workflow's first WorkflowTaskStarted happened, waiting for it if need be.

    Long-polls the history, so waiting costs Temporal no busy work; a workflow
    that does not exist yet (its start is on its way) is looked for again.
    """

    async def wait() -> Start:
        delay = 0.002
        while True:
            started = None
            try:
                handle = client.get_workflow_handle(workflow_id)
                async for event in handle.fetch_history_events(wait_new_event=True):
                    if event.event_type == _STARTED:
                        started = _seconds(event)
                    elif event.event_type == _TASK_STARTED and started is not None:
                        return Start(started, _seconds(event))
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
            await asyncio.sleep(delay)  # not started yet: look again shortly
            delay = min(delay * 2, 0.05)

    return await asyncio.wait_for(wait(), timeout)


async def wait_result(client: Client, workflow_id: str, timeout: float = 120.0) -> None:
    """Wait until the workflow completes, also if its start is still on its way."""

    async def wait() -> None:
        delay = 0.002
        while True:
            try:
                await client.get_workflow_handle(workflow_id).result()
                return
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    await asyncio.wait_for(wait(), timeout)


async def count(client: Client, query: str) -> int:
    """How many workflows visibility finds for ``query``."""
    return (await client.count_workflows(query)).count


async def waiting_on_timer(client: Client, workflow_ids: Iterable[str], parallel: int = 16) -> int:
    """How many of the workflows are running with nothing to do: for the bench's
    sleeping workflows, blocked on their timer.

    A workflow always has a workflow task pending from its start until it has
    reacted to its last event, so "running, no task pending, no activity pending"
    means it waits for something outside (here, its timer).
    """
    limit = asyncio.Semaphore(parallel)

    async def asleep(workflow_id: str) -> bool:
        async with limit:
            handle = client.get_workflow_handle(workflow_id)
            described = (await handle.describe()).raw_description
            return (
                described.workflow_execution_info.status == _RUNNING
                and not described.HasField("pending_workflow_task")
                and not described.pending_activities
            )

    results = await asyncio.gather(*(asleep(w) for w in workflow_ids))
    return sum(results)
