"""Delivery of events to subscribed sessions, against a real store and the real
Temporal dev server (recorder workflows stand in for sessions)."""

from __future__ import annotations

import uuid
from typing import Any

from pawflow.dispatch import Dispatcher
from pawflow.ids import new_id
from pawflow.storage import DeploymentRecord, NewSession, SQLiteStore
from tests.helpers import free_port, wait_for

from ._recorder import RecordingSessions, recording_sessions

MANIFEST: dict[str, Any] = {
    "version": 1,
    "project": {
        "name": "demo",
        "vars": [],
        "triggers": [
            {"name": "hook", "call": "program.py:on_hook", "webhook": {"methods": ["POST"]}},
            # No call: its events only feed subscriptions.
            {"name": "feed", "webhook": {"methods": ["POST"]}},
            {"name": "other", "webhook": {"methods": ["POST"]}},
        ],
    },
}


async def _deploy(store: SQLiteStore, project: str = "demo") -> DeploymentRecord:
    manifest = {**MANIFEST, "project": {**MANIFEST["project"], "name": project}}
    dep = await store.create_deployment(project, manifest, b"zip")
    return await store.activate_deployment(dep.id)


async def _session(store: SQLiteStore, dep: DeploymentRecord) -> str:
    """A session of ``dep`` whose workflow counts as started."""
    event, _ = await store.add_event(project=dep.project, trigger="hook", type="post", data={})
    new = NewSession(new_id("ses"), dep.project, dep.id, "hook", "program.py:on_hook")
    (session,) = await store.match_event(event.id, [new])
    await store.mark_started(session.id)
    return session.id


async def _event(
    store: SQLiteStore, trigger: str, data: dict[str, Any], project: str = "demo"
) -> str:
    event, _ = await store.add_event(project=project, trigger=trigger, type="post", data=data)
    return event.id


async def _delivered(store: SQLiteStore) -> bool:
    return not await store.pending_events() and not await store.pending_deliveries()


async def _received(sessions: RecordingSessions, session_id: str, count: int) -> Any:
    async def check() -> list[list[Any]] | None:
        got = await sessions.received(session_id)
        return got if len(got) >= count else None

    return await wait_for(check, timeout=30, message=f"{count} signal(s) to {session_id}")


async def test_new_matching_events_are_signalled_in_order(
    store: SQLiteStore, temporal_address: str
) -> None:
    dep = await _deploy(store)
    other_dep = await _deploy(store, "elsewhere")
    async with recording_sessions(temporal_address) as sessions:
        session_id = await _session(store, dep)
        await sessions.start(session_id)
        too_early = await _event(store, "feed", {"n": 5})
        filtered = await store.add_subscription(session_id, "feed", "data.n > 1")
        everything = await store.add_subscription(session_id, "feed", None)
        skipped = await _event(store, "feed", {"n": 1})
        wanted = await _event(store, "feed", {"n": 2})
        await _event(store, "other", {"n": 9})
        await _event(store, "feed", {"n": 9}, project="elsewhere")
        await _session(store, other_dep)

        dispatcher = Dispatcher(store, temporal_address, "default", sessions.task_queue)
        await dispatcher.start()
        try:
            await wait_for(lambda: _delivered(store), timeout=30, message="deliveries")
            got = await _received(sessions, session_id, 3)
        finally:
            await dispatcher.stop()

    assert too_early not in str(got)
    assert got == [
        [
            "event",
            everything.id,
            {
                "id": skipped,
                "type": "post",
                "trigger": "feed",
                "connection": None,
                "data": {"n": 1},
            },
        ],
        [
            "event",
            filtered.id,
            {"id": wanted, "type": "post", "trigger": "feed", "connection": None, "data": {"n": 2}},
        ],
        [
            "event",
            everything.id,
            {"id": wanted, "type": "post", "trigger": "feed", "connection": None, "data": {"n": 2}},
        ],
    ]
    # Fed to subscriptions only: the trigger without a call started nothing.
    assert await store.list_sessions(event_id=wanted) == []
    # The skipped event's record says which subscription it missed, and why.
    stored = await store.get_event(skipped)
    assert stored is not None
    assert stored.matches == [
        {"trigger": "feed", "matched": True, "reason": None},
        {
            "subscription": filtered.id,
            "session": session_id,
            "matched": False,
            "reason": "filter is false",
        },
        {"subscription": everything.id, "session": session_id, "matched": True, "reason": None},
    ]


async def test_events_still_start_sessions_of_triggers_with_a_call(
    store: SQLiteStore, temporal_address: str
) -> None:
    dep = await _deploy(store)
    async with recording_sessions(temporal_address) as sessions:
        session_id = await _session(store, dep)
        await sessions.start(session_id)
        sub = await store.add_subscription(session_id, "hook", None)
        event_id = await _event(store, "hook", {"x": 1})
        # Sessions started by the dispatcher run "pawflow.session", which no
        # worker of this queue runs: they just wait, and are terminated below.
        dispatcher = Dispatcher(store, temporal_address, "default", sessions.task_queue)
        await dispatcher.start()
        try:
            (got,) = await _received(sessions, session_id, 1)
            await wait_for(
                lambda: _started(store, event_id), timeout=30, message="the event's session"
            )
        finally:
            await dispatcher.stop()
        (started,) = await store.list_sessions(event_id=event_id)
        await sessions.client.get_workflow_handle(started.id).terminate("test over")
    assert got[:2] == ["event", sub.id]
    assert got[2]["id"] == event_id


async def _started(store: SQLiteStore, event_id: str) -> bool:
    found = await store.list_sessions(event_id=event_id)
    return bool(found) and not found[0].start_pending


async def test_a_session_whose_workflow_is_gone_loses_its_subscriptions(
    store: SQLiteStore, temporal_address: str
) -> None:
    dep = await _deploy(store)
    async with recording_sessions(temporal_address) as sessions:
        gone = await _session(store, dep)  # never started in Temporal
        await store.add_subscription(gone, "feed", None)
        alive = await _session(store, dep)
        await sessions.start(alive)
        await store.add_subscription(alive, "feed", None)
        await _event(store, "feed", {})
        dispatcher = Dispatcher(store, temporal_address, "default", sessions.task_queue)
        await dispatcher.start()
        try:
            await wait_for(lambda: _delivered(store), timeout=30, message="deliveries")
            await _received(sessions, alive, 1)
        finally:
            await dispatcher.stop()
    assert await store.list_subscriptions(gone) == []
    assert len(await store.list_subscriptions(alive)) == 1


async def test_outbox_rows_wait_while_temporal_is_down(store: SQLiteStore) -> None:
    dep = await _deploy(store)
    session_id = await _session(store, dep)
    sub = await store.add_subscription(session_id, "feed", None)
    event_id = await _event(store, "feed", {"n": 1})
    dispatcher = Dispatcher(store, f"127.0.0.1:{free_port()}", "default", f"q-{uuid.uuid4()}")
    await dispatcher.start()
    try:

        async def fanned_out() -> bool:
            return not await store.pending_events() and bool(await store.pending_deliveries())

        await wait_for(fanned_out, message="the event fanned out")
    finally:
        await dispatcher.stop()
    (row,) = await store.pending_deliveries()
    assert (row.subscription_id, row.event.id, row.session_id) == (sub.id, event_id, session_id)
