"""Idempotency keys are namespaced by source, and existing stores migrate to that."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pawflow.storage import (
    Store,
    connection_source,
    open_store,
    schedule_source,
    webhook_source,
)
from pawflow.storage._migrations import _EVENT_SOURCES_SQLITE, MIGRATIONS, PerDialect, migrate

from ._helpers import MANIFEST, deploy

TICK_KEY = "schedule:demo:nightly:2024-05-01T03:00:00Z"


async def _add(
    store: Store,
    trigger: str | None,
    key: str,
    source: str | None,
    connection: str | None = None,
) -> tuple[str, bool]:
    """(event id, created) of an event with ``key`` from ``source`` (None: the default)."""
    event, created = await store.add_event(
        project="demo",
        trigger=trigger,
        type="t",
        data={},
        idempotency_key=key,
        connection=connection,
        idempotency_source=source,
    )
    return event.id, created


async def test_a_key_claims_nothing_in_other_sources(store: Store) -> None:
    await deploy(store)
    claimed, _ = await _add(store, "hook", TICK_KEY, webhook_source("hook"))
    tick, created = await _add(store, "nightly", TICK_KEY, schedule_source("nightly"))
    assert created and tick != claimed
    event = await store.get_event(tick)
    assert event is not None and (event.trigger, event.idempotency_key) == ("nightly", TICK_KEY)
    assert await _add(store, "nightly", TICK_KEY, schedule_source("nightly")) == (tick, False)


async def test_the_default_source_is_the_connection_else_the_trigger(store: Store) -> None:
    await deploy(store)
    hook, _ = await _add(store, "hook", "k", None)
    gh, _ = await _add(store, None, "k", None, "gh")
    assert hook != gh
    assert await _add(store, "hook", "k", webhook_source("hook")) == (hook, False)
    assert await _add(store, None, "k", connection_source("gh"), "gh") == (gh, False)


# -- migration ----------------------------------------------------------------------------


def _old_store(path: Path) -> sqlite3.Connection:
    """A store file at the schema just before namespaced keys, holding one event of
    every kind, sessions pointing at them and a subscription delivery."""
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    (sources,) = [
        i
        for i, m in enumerate(MIGRATIONS)
        if isinstance(m, PerDialect) and m.sqlite == _EVENT_SOURCES_SQLITE
    ]
    migrate(conn, path, MIGRATIONS[:sources])
    conn.execute("INSERT INTO projects VALUES ('demo', 1.0)")
    conn.execute(
        "INSERT INTO deployments VALUES ('dep_1', 'demo', 'active', 1.0, ?, 'sha')",
        (json.dumps(MANIFEST),),
    )
    events = [
        # id, trigger, type, key, connection
        ("evt_hook", "hook", "post", "k", None),
        ("evt_claim", "hook", "post", TICK_KEY.replace("03:00", "04:00"), None),
        ("evt_tick", "nightly", "schedule", TICK_KEY, None),
        ("evt_gh", None, "issues", "delivery-1", "gh"),
        ("evt_manual", None, "manual", "m", None),
        ("evt_child", None, "manual", "c", None),
        ("evt_nokey", "hook", "post", None, None),
    ]
    for event_id, trigger, kind, key, connection in events:
        conn.execute(
            "INSERT INTO events (id, project, trigger_name, type, data, idempotency_key, "
            "created_at, state, connection_name) VALUES (?, 'demo', ?, ?, '{}', ?, 2.0, "
            "'dispatched', ?)",
            (event_id, trigger, kind, key, connection),
        )
    sessions = [
        ("ses_manual", "evt_manual", None),
        ("ses_child", "evt_child", "ses_manual"),
        ("ses_hook", "evt_hook", None),
    ]
    for session_id, event_id, parent in sessions:
        conn.execute(
            "INSERT INTO sessions (id, project, deployment_id, trigger_name, event_id, "
            "call_target, state, created_at, start_pending, parent_session_id) "
            "VALUES (?, 'demo', 'dep_1', '', ?, 'a.py:f', 'running', 3.0, 0, ?)",
            (session_id, event_id, parent),
        )
    conn.execute("INSERT INTO subscriptions VALUES ('sub_1', 'ses_hook', 'demo', 'gh', NULL, 1.0)")
    conn.execute("INSERT INTO subscription_deliveries VALUES ('sub_1', 'evt_gh', 4.0, 0)")
    return conn


async def test_existing_events_migrate_to_the_source_they_came_through(db_path: Path) -> None:
    _old_store(db_path).close()
    store = await open_store(db_path)
    await store.close()

    conn = sqlite3.connect(db_path)
    try:
        sources = dict(conn.execute("SELECT id, idempotency_source FROM events"))
        assert sources == {
            "evt_hook": "webhook:hook",
            "evt_claim": "webhook:hook",
            "evt_tick": "schedule:nightly",
            "evt_gh": "connection:gh",
            "evt_manual": "manual",
            "evt_child": "child:ses_manual",
            "evt_nokey": "webhook:hook",
        }
        # Keys, sessions and deliveries are as they were, and still checked.
        assert dict(conn.execute("SELECT id, idempotency_key FROM events"))["evt_tick"] == TICK_KEY
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT event_id FROM sessions WHERE id = 'ses_child'").fetchone() == (
            "evt_child",
        )
        conn.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("DELETE FROM events WHERE id = 'evt_gh'")
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"events_pending", "events_by_project", "events_by_time"} <= indexes
    finally:
        conn.close()


async def test_after_migrating_keys_dedupe_per_source(db_path: Path) -> None:
    _old_store(db_path).close()
    store = await open_store(db_path)
    try:
        assert await _add(store, "hook", "k", webhook_source("hook")) == ("evt_hook", False)
        assert await _add(store, "nightly", TICK_KEY, schedule_source("nightly")) == (
            "evt_tick",
            False,
        )
        assert await _add(store, None, "delivery-1", connection_source("gh"), "gh") == (
            "evt_gh",
            False,
        )
        # The key a webhook caller pre-claimed before the upgrade no longer swallows the tick.
        late_tick = TICK_KEY.replace("03:00", "04:00")
        assert (await _add(store, "nightly", late_tick, schedule_source("nightly")))[1]
        dep = await store.active_deployment("demo")
        assert dep is not None
        again, _, created = await store.start_manual_session(
            project="demo",
            deployment_id=dep.id,
            call="a.py:f",
            data={},
            parent_session_id="ses_manual",
            idempotency_key="c",
        )
        assert again is not None and (again.id, created) == ("ses_child", False)
    finally:
        await store.close()
