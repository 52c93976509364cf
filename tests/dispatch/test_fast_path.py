"""``Dispatcher.dispatch``: a just-committed event is claimed without being read
again, matched and started at once; a pass is asked for only when something is
left for it, and whatever failed stays pending in the store for one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from pawflow.dispatch import Dispatcher
from pawflow.storage import EventRecord, Store
from tests.helpers import free_port, wait_for
from tests.storage._helpers import deploy, new_session

pytestmark = pytest.mark.timeout(60)


async def _event(store: Store) -> EventRecord:
    event, _ = await store.add_event(
        project="demo", trigger="hook", type="post", data={"body": {"json": {"n": 1}}}
    )
    return event


async def _start_and_settle(dispatcher: Dispatcher) -> None:
    """Start it and let its first pass (over an empty store) end, so that the
    event dispatched next is the fast path's alone."""
    passes: list[float] = []
    first_pass = dispatcher._pass

    async def counted() -> None:
        await first_pass()
        passes.append(time.monotonic())

    dispatcher._pass = counted  # type: ignore[method-assign]
    await dispatcher.start()
    await wait_for(lambda: passes, message="the first pass")


async def test_claim_event_claims_a_pending_event_no_one_else_holds(
    store: Store, open_again: Callable[[], Awaitable[Store]]
) -> None:
    dep = await deploy(store)
    other = await open_again()
    event = await _event(store)
    assert await store.claim_event("one", lease_seconds=30, event_id=event.id)
    assert await store.claim_event("one", lease_seconds=30, event_id=event.id)  # renewed
    assert not await other.claim_event("two", lease_seconds=30, event_id=event.id)
    assert not await other.claim_events("two", lease_seconds=30)  # a pass of the other too
    assert event.id in [e.id for e in await store.claim_events("one", lease_seconds=30)]

    # A claim that ran out is taken over.
    lapsing = await _event(store)
    assert await store.claim_event("one", lease_seconds=0.2, event_id=lapsing.id)
    until = time.time() + 0.2

    async def taken() -> bool:
        return time.time() > until and await other.claim_event(
            "two", lease_seconds=30, event_id=lapsing.id
        )

    await wait_for(taken, timeout=10, message="the lapsed claim taken over")

    # Matched (no longer pending), or unknown: nothing to claim.
    await store.match_event(event.id, [new_session(dep)])
    assert not await store.claim_event("one", lease_seconds=30, event_id=event.id)
    assert not await store.claim_event("one", lease_seconds=30, event_id="evt_unknown")


async def test_a_dispatched_event_is_started_without_waking_a_pass(
    store: Store, temporal_address: str
) -> None:
    await deploy(store)
    dispatcher = Dispatcher(store, temporal_address, "default", f"fast-{uuid.uuid4().hex}")
    wakes: list[float] = []
    dispatcher.wake = lambda: wakes.append(time.monotonic())  # type: ignore[method-assign]
    await _start_and_settle(dispatcher)
    try:
        event = await _event(store)
        dispatcher.dispatch(event)

        async def started() -> bool:
            sessions = await store.list_sessions(event_id=event.id)
            return bool(sessions) and not any(s.start_pending for s in sessions)

        await wait_for(started, message="the event's session started")
        (session,) = await store.list_sessions(event_id=event.id)
        stored = await store.get_event(event.id)
        assert stored is not None and stored.state == "dispatched"
        client = await Client.connect(temporal_address, namespace="default")
        handle = client.get_workflow_handle(session.id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        await handle.terminate("test over")
        # Everything was done: no pass was asked for.
        assert wakes == []
    finally:
        await dispatcher.stop()


async def test_a_dispatch_that_cannot_start_leaves_its_session_to_a_pass(store: Store) -> None:
    await deploy(store)
    nowhere = f"127.0.0.1:{free_port()}"  # Temporal unreachable
    dispatcher = Dispatcher(store, nowhere, "default", "q")
    wakes: list[float] = []
    wake = dispatcher.wake

    def counted() -> None:
        wakes.append(time.monotonic())
        wake()

    dispatcher.wake = counted  # type: ignore[method-assign]
    await _start_and_settle(dispatcher)
    try:
        event = await _event(store)
        dispatcher.dispatch(event)
        await wait_for(lambda: wakes, message="a pass asked for")
        # Matched, and the session waits in the store to be started.
        (session,) = await wait_for(
            lambda: store.list_sessions(event_id=event.id), message="the event matched"
        )
        assert session.start_pending
        assert [s.id for s in await store.sessions_to_start()] == [session.id]
    finally:
        await dispatcher.stop()
