"""The rule that picks the triggers an event starts, alone and inside the dispatcher."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from pawflow.dispatch import Dispatcher
from pawflow.dispatch._matching import TriggerMatcher
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


def _names(event: EventRecord, matcher: TriggerMatcher | None = None) -> list[str]:
    return [t.name for t in (matcher or TriggerMatcher()).matching(PROJECT, event)]


def test_a_webhook_event_matches_its_trigger_only() -> None:
    assert _names(_event(trigger="hook")) == ["hook"]
    assert _names(_event(trigger="missing")) == []
    assert _names(_event()) == []


def test_event_type_must_equal_the_triggers() -> None:
    assert _names(_event(trigger="posts-only", type="post")) == ["posts-only"]
    assert _names(_event(trigger="posts-only", type="put")) == []


def test_filter_must_return_true() -> None:
    def body(amount: Any) -> dict[str, Any]:
        return {"body": {"json": {"amount": amount}}}

    assert _names(_event(trigger="big", data=body(500))) == ["big"]
    assert _names(_event(trigger="big", data=body(5))) == []
    # Evaluation errors (missing key, wrong type) are no match, not a failure.
    assert _names(_event(trigger="big", data={"body": {"json": None}})) == []
    assert _names(_event(trigger="big", data=body("lots"))) == []


def test_a_connection_event_matches_every_trigger_of_its_connection() -> None:
    opened = {"action": "opened"}
    assert _names(_event(connection="gh", type="issues", data=opened)) == [
        "issues",
        "opened",
        "everything-gh",
    ]
    closed = {"action": "closed"}
    assert _names(_event(connection="gh", type="issues", data=closed)) == [
        "issues",
        "everything-gh",
    ]
    assert _names(_event(connection="gh", type="push")) == ["everything-gh"]
    assert _names(_event(connection="chat", type="command")) == ["chat"]
    assert _names(_event(connection="nope", type="issues")) == []


def test_a_connection_event_ignores_its_trigger_name() -> None:
    # Only the connection counts: a trigger name on such an event is not a source.
    assert _names(_event(connection="chat", trigger="hook", type="post")) == ["chat"]


def test_a_connection_trigger_is_not_started_by_name() -> None:
    assert _names(_event(trigger="issues", type="issues")) == []


def test_schedule_events_and_schedule_triggers_only_match_each_other() -> None:
    assert _names(_event(trigger="nightly", type="schedule")) == ["nightly"]
    assert _names(_event(trigger="nightly", type="post")) == []
    assert _names(_event(trigger="hook", type="schedule")) == []


def test_filters_are_compiled_once_per_expression() -> None:
    matcher = TriggerMatcher()
    for amount in (1, 500, 7):
        _names(_event(trigger="big", data={"body": {"json": {"amount": amount}}}), matcher)
    assert list(matcher._filters) == ["data.body.json.amount > 100"]


def test_a_stored_filter_that_does_not_compile_matches_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    project = Project("demo", triggers=(Trigger("bad", CALL, webhook=WebhookSpec(), filter="a ="),))
    assert TriggerMatcher().matching(project, _event(trigger="bad")) == []
    assert "does not compile" in caplog.text


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
