"""A stand-in session workflow that records the signals a session receives."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

__all__ = ["Recorder", "RecordingSessions", "recording_sessions"]


@workflow.defn(name="pawflow.test.recorder", sandboxed=False)
class Recorder:
    """Runs until terminated; ``received`` lists what it was signalled, in order."""

    def __init__(self) -> None:
        self.received: list[list[Any]] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name="pawflow.event")
    def on_event(self, subscription_id: str, event: dict[str, Any]) -> None:
        self.received.append(["event", subscription_id, event])

    @workflow.signal(name="pawflow.signal")
    def on_signal(self, name: str, payload: Any, sender: str | None) -> None:
        self.received.append(["signal", name, payload, sender])

    @workflow.query(name="received")
    def get_received(self) -> list[list[Any]]:
        return self.received


class RecordingSessions:
    """Starts recorder workflows whose ids are session ids."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self._handles: list[WorkflowHandle[Any, Any]] = []

    async def start(self, session_id: str) -> WorkflowHandle[Any, Any]:
        handle = await self.client.start_workflow(
            Recorder.run, id=session_id, task_queue=self.task_queue
        )
        self._handles.append(handle)
        return handle

    async def received(self, session_id: str) -> list[list[Any]]:
        got: list[list[Any]] = await self.client.get_workflow_handle(session_id).query("received")
        return got

    async def terminate_all(self) -> None:
        for handle in self._handles:
            with contextlib.suppress(Exception):  # already ended
                await handle.terminate("test over")


@asynccontextmanager
async def recording_sessions(temporal_address: str) -> AsyncIterator[RecordingSessions]:
    """A worker for recorder workflows on a task queue of its own."""
    client = await Client.connect(temporal_address, namespace="default")
    task_queue = f"recorder-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[Recorder],
            workflow_task_executor=executor,
        ):
            sessions = RecordingSessions(client, task_queue)
            try:
                yield sessions
            finally:
                await sessions.terminate_all()
