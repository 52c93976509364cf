"""The dispatcher against a real store: with Temporal unreachable, and once
against the real dev server of the ``temporal_address`` fixture."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from pawflow.dispatch import Dispatcher
from pawflow.storage import DeploymentRecord, SQLiteStore
from tests.helpers import free_port, wait_for

MANIFEST: dict[str, Any] = {
    "version": 1,
    "project": {
        "name": "demo",
        "vars": [{"name": "GREETING", "value": "Hi"}],
        "triggers": [
            {"name": "hook", "call": "program.py:on_hook", "webhook": {"methods": ["POST"]}}
        ],
    },
}


def _nowhere() -> str:
    """A Temporal address where nothing listens."""
    return f"127.0.0.1:{free_port()}"


async def _deploy(store: SQLiteStore, manifest: dict[str, Any] = MANIFEST) -> DeploymentRecord:
    name = manifest["project"]["name"]
    dep = await store.create_deployment(name, manifest, b"zip")
    return await store.activate_deployment(dep.id)


async def _event(store: SQLiteStore, project: str = "demo", trigger: str = "hook") -> str:
    event, _ = await store.add_event(
        project=project, trigger=trigger, type="post", data={"body": {"json": {"n": 1}}}
    )
    return event.id


async def _no_pending(store: SQLiteStore) -> bool:
    return not await store.pending_events()


async def test_events_become_sessions_and_wait_while_temporal_is_down(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pawflow.dispatch")
    dep = await _deploy(store)
    matching = await _event(store)
    unknown_trigger = await _event(store, trigger="gone")
    await store.create_deployment("idle", MANIFEST, b"zip")  # never activated
    no_deployment = await _event(store, project="idle")

    dispatcher = Dispatcher(store, _nowhere(), "default", "pawflow-test")
    await dispatcher.start()
    try:
        dispatcher.wake()
        await wait_for(lambda: _no_pending(store), message="events matched")
        # Retries go on with backoff but warn once per outage.
        await wait_for(
            lambda: sum("still unavailable" in r.getMessage() for r in caplog.records) >= 2,
            message="two retries",
        )
    finally:
        await dispatcher.stop()

    (session,) = await store.list_sessions(event_id=matching)
    assert (session.deployment_id, session.trigger, session.call) == (
        dep.id,
        "hook",
        "program.py:on_hook",
    )
    assert session.start_pending
    assert [s.id for s in await store.sessions_to_start()] == [session.id]
    for event_id in (unknown_trigger, no_deployment):
        event = await store.get_event(event_id)
        assert event is not None
        assert event.state == "unmatched"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unavailable" in warnings[0].getMessage()


async def test_a_broken_deployment_does_not_block_other_events(store: SQLiteStore) -> None:
    broken = {
        "version": 1,
        "project": {"name": "broken", "triggers": [{"name": "hook", "call": "no-colon"}]},
    }
    await _deploy(store, broken)
    bad = await _event(store, project="broken")
    await _deploy(store)
    good = await _event(store)

    dispatcher = Dispatcher(store, _nowhere())
    await dispatcher.start()
    try:
        await wait_for(lambda: _no_pending(store), message="events matched")
    finally:
        await dispatcher.stop()
    bad_event = await store.get_event(bad)
    assert bad_event is not None
    assert bad_event.state == "unmatched"
    assert len(await store.list_sessions(event_id=good)) == 1


async def test_stop_is_clean_and_restartable(store: SQLiteStore) -> None:
    dispatcher = Dispatcher(store, _nowhere())
    await dispatcher.stop()  # stopping a dispatcher never started is fine
    await dispatcher.start()
    await dispatcher.stop()
    await _deploy(store)
    event_id = await _event(store)
    await dispatcher.start()
    try:
        await wait_for(lambda: _no_pending(store), message="events matched")
    finally:
        await dispatcher.stop()
    assert len(await store.list_sessions(event_id=event_id)) == 1


async def test_pending_event_becomes_a_started_workflow(
    store: SQLiteStore, temporal_address: str
) -> None:
    task_queue = f"dispatch-test-{uuid.uuid4().hex}"
    await _deploy(store)
    event_id = await _event(store)
    dispatcher = Dispatcher(store, temporal_address, "default", task_queue)
    await dispatcher.start()
    try:

        async def started() -> bool:
            return not await store.sessions_to_start() and not await store.pending_events()

        await wait_for(started, message="the session's workflow start")
    finally:
        await dispatcher.stop()
    (session,) = await store.list_sessions(event_id=event_id)
    client = await Client.connect(temporal_address, namespace="default")
    desc = await client.get_workflow_handle(session.id).describe()
    assert desc.status == WorkflowExecutionStatus.RUNNING
    assert desc.task_queue == task_queue
    assert desc.workflow_type == "pawflow.session"
    await client.get_workflow_handle(session.id).terminate("test over")


class _Forwarder:
    """A TCP forwarder standing in for Temporal: it can go away and come back on
    the same port, which is how an outage looks to the dispatcher."""

    def __init__(self, port: int, target: str) -> None:
        self.port = port
        host, _, target_port = target.rpartition(":")
        self._target = (host, int(target_port))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
            self._writers.discard(writer)


async def test_sessions_start_once_temporal_comes_back(
    store: SQLiteStore, temporal_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pawflow.dispatch")

    def outages() -> int:
        return sum(r.levelno == logging.WARNING for r in caplog.records)

    task_queue = f"dispatch-test-{uuid.uuid4().hex}"
    proxy = _Forwarder(free_port(), temporal_address)
    await _deploy(store)
    dispatcher = Dispatcher(store, f"127.0.0.1:{proxy.port}", "default", task_queue)
    client = await Client.connect(temporal_address, namespace="default")

    async def all_started() -> bool:
        return not await store.pending_events() and not await store.sessions_to_start()

    async def waiting_to_start() -> bool:
        return not await store.pending_events() and bool(await store.sessions_to_start())

    await dispatcher.start()
    try:
        # Down at start: the event is matched, its session waits.
        first = await _event(store)
        dispatcher.wake()
        await wait_for(waiting_to_start, message="a session waiting for Temporal")
        await wait_for(lambda: outages() == 1, message="the outage noticed")
        await proxy.up()
        await wait_for(all_started, timeout=30, message="the session started")

        # Gone later, back again.
        await proxy.down()
        second = await _event(store)
        dispatcher.wake()
        await wait_for(waiting_to_start, message="a session waiting for Temporal")
        await wait_for(lambda: outages() == 2, timeout=30, message="the second outage noticed")
        await proxy.up()
        await wait_for(all_started, timeout=30, message="the session started")
    finally:
        await dispatcher.stop()
        await proxy.down()

    assert sum("reachable again" in r.getMessage() for r in caplog.records) == 2
    for event_id in (first, second):
        (session,) = await store.list_sessions(event_id=event_id)
        handle = client.get_workflow_handle(session.id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        await handle.terminate("test over")


async def test_stop_ends_the_loop_even_when_woken_at_the_same_moment(store: SQLiteStore) -> None:
    # A webhook's wake-up landing as the server shuts down: stop() used to wait
    # forever for a loop that had swallowed its cancellation (Python 3.11).
    dispatcher = Dispatcher(store, _nowhere())
    for round in range(20):
        await dispatcher.start()
        # Store round trips queue behind the pass's own reads, so after a few
        # the loop is idle, waiting to be woken (how many varies per round).
        for _ in range(round % 5):
            await store.pending_events()
        dispatcher.wake()
        stopping = asyncio.create_task(dispatcher.stop())
        done, _ = await asyncio.wait([stopping], timeout=10)
        assert done, f"stop() still waiting after 10 s (round {round})"
