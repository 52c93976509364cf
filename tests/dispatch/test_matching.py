"""The rule that picks the triggers an event starts, alone and inside the dispatcher."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pawflow.dispatch import Dispatcher
from pawflow.dispatch._matching import TriggerMatcher
from pawflow.filters import FilterBudget, FilterPool
from pawflow.manifest import CallTarget, Connection, Project, ScheduleSpec, Trigger, WebhookSpec
from pawflow.storage import EventRecord, SQLiteStore
from tests.helpers import free_port, wait_for

CALL = CallTarget("program.py", "handler")

PROJECT = Project(
    name="demo",
    connections=(Connection("gh", "github"), Connection("chat", "slack")),
    triggers=(
        Trigger("hook", CALL, webhook=WebhookSpec()),
        Trigger("posts-only", CALL, webhook=WebhookSpec(), event_type="post"),
        Trigger("big", CALL, webhook=WebhookSpec(), filter="data.body.json.amount > 100"),
        Trigger("nightly", CALL, schedule=ScheduleSpec("0 3 * * *")),
        Trigger("issues", CALL, connection="gh", event_type="issues"),
        Trigger(
            "opened",
            CALL,
            connection="gh",
            event_type="issues",
            filter='data.action == "opened"',
        ),
        Trigger("everything-gh", None, connection="gh"),
        Trigger("chat", CALL, connection="chat"),
    ),
)


def _event(
    *,
    trigger: str | None = None,
    connection: str | None = None,
    type: str = "post",
    data: Any = None,
) -> EventRecord:
    return EventRecord(
        id="evt_1",
        project="demo",
        trigger=trigger,
        type=type,
        data=data if data is not None else {},
        idempotency_key=None,
        created_at=time.time(),
        state="pending",
        connection=connection,
    )


@pytest.fixture
async def matcher() -> AsyncIterator[TriggerMatcher]:
    pool = FilterPool()
    try:
        yield TriggerMatcher(pool)
    finally:
        await pool.close()


async def _names(matcher: TriggerMatcher, event: EventRecord) -> list[str]:
    return [t.name for t in await matcher.matching(PROJECT, event)]


async def test_a_webhook_event_matches_its_trigger_only(matcher: TriggerMatcher) -> None:
    assert await _names(matcher, _event(trigger="hook")) == ["hook"]
    assert await _names(matcher, _event(trigger="missing")) == []
    assert await _names(matcher, _event()) == []


async def test_event_type_must_equal_the_triggers(matcher: TriggerMatcher) -> None:
    assert await _names(matcher, _event(trigger="posts-only", type="post")) == ["posts-only"]
    assert await _names(matcher, _event(trigger="posts-only", type="put")) == []


async def test_filter_must_return_true(matcher: TriggerMatcher) -> None:
    def body(amount: Any) -> dict[str, Any]:
        return {"body": {"json": {"amount": amount}}}

    assert await _names(matcher, _event(trigger="big", data=body(500))) == ["big"]
    assert await _names(matcher, _event(trigger="big", data=body(5))) == []
    # Evaluation errors (missing key, wrong type) are no match, not a failure.
    assert await _names(matcher, _event(trigger="big", data={"body": {"json": None}})) == []
    assert await _names(matcher, _event(trigger="big", data=body("lots"))) == []


async def test_a_connection_event_matches_every_trigger_of_its_connection(
    matcher: TriggerMatcher,
) -> None:
    opened = {"action": "opened"}
    assert await _names(matcher, _event(connection="gh", type="issues", data=opened)) == [
        "issues",
        "opened",
        "everything-gh",
    ]
    closed = {"action": "closed"}
    assert await _names(matcher, _event(connection="gh", type="issues", data=closed)) == [
        "issues",
        "everything-gh",
    ]
    assert await _names(matcher, _event(connection="gh", type="push")) == ["everything-gh"]
    assert await _names(matcher, _event(connection="chat", type="command")) == ["chat"]
    assert await _names(matcher, _event(connection="nope", type="issues")) == []


async def test_a_connection_event_ignores_its_trigger_name(matcher: TriggerMatcher) -> None:
    # Only the connection counts: a trigger name on such an event is not a source.
    assert await _names(matcher, _event(connection="chat", trigger="hook", type="post")) == ["chat"]


async def test_a_connection_trigger_is_not_started_by_name(matcher: TriggerMatcher) -> None:
    assert await _names(matcher, _event(trigger="issues", type="issues")) == []


async def test_schedule_events_and_schedule_triggers_only_match_each_other(
    matcher: TriggerMatcher,
) -> None:
    assert await _names(matcher, _event(trigger="nightly", type="schedule")) == ["nightly"]
    assert await _names(matcher, _event(trigger="nightly", type="post")) == []
    assert await _names(matcher, _event(trigger="hook", type="schedule")) == []


async def test_the_record_says_why_each_trigger_did_not_match(matcher: TriggerMatcher) -> None:
    found = await matcher.match(
        _event(connection="gh", type="issues", data={"action": "closed"}), PROJECT
    )
    assert found.record == [
        {"trigger": "issues", "matched": True, "reason": None},
        {"trigger": "opened", "matched": False, "reason": "filter is false"},
        {"trigger": "everything-gh", "matched": True, "reason": None},
    ]
    found = await matcher.match(_event(trigger="posts-only", type="put"), PROJECT)
    assert found.record == [
        {"trigger": "posts-only", "matched": False, "reason": "event type 'put' is not 'post'"}
    ]


async def test_a_stored_filter_that_does_not_compile_matches_nothing(
    matcher: TriggerMatcher,
) -> None:
    project = Project("demo", triggers=(Trigger("bad", CALL, webhook=WebhookSpec(), filter="a ="),))
    found = await matcher.match(_event(trigger="bad"), project)
    assert found.triggers == []
    (line,) = found.record
    assert line["matched"] is False and line["reason"].startswith("filter does not compile")


# -- through the dispatcher, against a real store -----------------------------------

MANIFEST: dict[str, Any] = {
    "version": 1,
    "project": {
        "name": "demo",
        "connections": [{"name": "gh", "integration": "github", "vars": {}}],
        "triggers": [
            {"name": "all-issues", "connection": "gh", "event_type": "issues", "call": "p.py:a"},
            {
                "name": "opened",
                "connection": "gh",
                "filter": 'data.action == "opened"',
                "call": "p.py:b",
            },
            {"name": "listen", "connection": "gh"},
            {"name": "tick", "schedule": "@hourly", "call": "p.py:c"},
        ],
    },
}


async def test_the_dispatcher_starts_one_session_per_matching_trigger(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pawflow.dispatch")
    dep = await store.create_deployment("demo", MANIFEST, b"zip")
    await store.activate_deployment(dep.id)
    opened, _ = await store.add_event(
        project="demo", trigger=None, connection="gh", type="issues", data={"action": "opened"}
    )
    pushed, _ = await store.add_event(
        project="demo", trigger=None, connection="gh", type="push", data={"action": "opened"}
    )
    closed, _ = await store.add_event(
        project="demo", trigger=None, connection="gh", type="issues", data={"action": "closed"}
    )
    tick, _ = await store.add_event(
        project="demo", trigger="tick", type="schedule", data={"scheduled_time": "x"}
    )

    dispatcher = Dispatcher(store, f"127.0.0.1:{free_port()}", "default", "q")
    await dispatcher.start()
    try:
        dispatcher.wake()
        await wait_for(lambda: _no_pending(store), message="events matched")
    finally:
        await dispatcher.stop()

    async def triggers_of(event: EventRecord) -> list[tuple[str, str]]:
        sessions = await store.list_sessions(event_id=event.id)
        return sorted((s.trigger, s.call) for s in sessions)

    assert await triggers_of(opened) == [("all-issues", "p.py:a"), ("opened", "p.py:b")]
    assert await triggers_of(pushed) == [("opened", "p.py:b")]
    assert await triggers_of(closed) == [("all-issues", "p.py:a")]
    assert await triggers_of(tick) == [("tick", "p.py:c")]
    stored = await store.get_event(opened.id)
    assert stored is not None and stored.state == "dispatched" and stored.connection == "gh"
    assert stored.matches == [
        {"trigger": "all-issues", "matched": True, "reason": None},
        {"trigger": "opened", "matched": True, "reason": None},
        {"trigger": "listen", "matched": True, "reason": None},
    ]
    stored = await store.get_event(closed.id)
    assert stored is not None and stored.matches is not None
    assert stored.matches[1] == {"trigger": "opened", "matched": False, "reason": "filter is false"}


async def test_an_event_matching_only_a_trigger_without_call_is_unmatched(
    store: SQLiteStore,
) -> None:
    dep = await store.create_deployment("demo", MANIFEST, b"zip")
    await store.activate_deployment(dep.id)
    event, _ = await store.add_event(
        project="demo", trigger=None, connection="gh", type="star", data={}
    )
    dispatcher = Dispatcher(store, f"127.0.0.1:{free_port()}", "default", "q")
    await dispatcher.start()
    try:
        dispatcher.wake()
        await wait_for(lambda: _no_pending(store), message="events matched")
    finally:
        await dispatcher.stop()
    assert await store.list_sessions(event_id=event.id) == []
    stored = await store.get_event(event.id)
    assert stored is not None and stored.state == "unmatched"


async def _no_pending(store: SQLiteStore) -> bool:
    return not await store.pending_events()


SLOW_MANIFEST: dict[str, Any] = {
    "version": 1,
    "project": {
        "name": "demo",
        "triggers": [
            # Quadratic in the list: seconds of CPU for 3,000 items.
            {
                "name": "slow",
                "webhook": {},
                "filter": "data.l.all(x, data.l.all(y, x != -1))",
                "call": "p.py:a",
            },
            {"name": "plain", "webhook": {}, "call": "p.py:b"},
        ],
    },
}


async def test_an_event_whose_filter_grinds_holds_up_no_other(store: SQLiteStore) -> None:
    dep = await store.create_deployment("demo", SLOW_MANIFEST, b"zip")
    await store.activate_deployment(dep.id)
    slow, _ = await store.add_event(
        project="demo", trigger="slow", type="post", data={"l": list(range(3000))}
    )
    dispatcher = Dispatcher(
        store, f"127.0.0.1:{free_port()}", "default", "q", filter_budget=FilterBudget(seconds=3)
    )
    await dispatcher.start()
    try:
        dispatcher.wake()
        # Once the slow event is being matched, a plain one comes in.
        await wait_for(lambda: dispatcher._filters.pids, timeout=30, message="a filter process")
        plain, _ = await store.add_event(project="demo", trigger="plain", type="post", data={})
        dispatcher.wake()
        await wait_for(lambda: _state(store, plain.id, "dispatched"), timeout=30, message="plain")
        assert await _state(store, slow.id, "pending")
        await wait_for(lambda: _state(store, slow.id, "unmatched"), timeout=60, message="slow")
    finally:
        await dispatcher.stop()
    stored = await store.get_event(slow.id)
    assert stored is not None
    assert stored.matches == [
        {"trigger": "slow", "matched": False, "reason": "filter took longer than 3 s"}
    ]


async def _state(store: SQLiteStore, event_id: str, state: str) -> bool:
    event = await store.get_event(event_id)
    return event is not None and event.state == state
