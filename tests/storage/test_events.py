"""The event outbox: adding with idempotency, listing, matching to sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from pawflow.errors import NotFoundError
from pawflow.storage import NewSession, Store

from ._helpers import deploy, new_session


async def test_add_event(store: Store) -> None:
    await deploy(store)
    event, created = await store.add_event(
        project="demo", trigger="hook", type="webhook", data={"body": {"x": 1}, "s": "é"}
    )
    assert created
    assert event.id.startswith("evt_")
    assert (event.project, event.trigger, event.type) == ("demo", "hook", "webhook")
    assert event.data == {"body": {"x": 1}, "s": "é"}
    assert event.idempotency_key is None
    assert event.state == "pending"
    assert await store.get_event(event.id) == event
    assert await store.get_event("evt_nope") is None


async def test_event_without_trigger(store: Store) -> None:
    await deploy(store)
    event, _ = await store.add_event(project="demo", trigger=None, type="cron", data={})
    got = await store.get_event(event.id)
    assert got is not None and got.trigger is None


async def test_add_event_for_unknown_project(store: Store) -> None:
    with pytest.raises(NotFoundError, match="'ghost'"):
        await store.add_event(project="ghost", trigger=None, type="t", data={})
    assert await store.list_events() == []


async def test_idempotency_key(store: Store) -> None:
    await deploy(store)
    await deploy(store, "other")
    first, created = await store.add_event(
        project="demo", trigger="hook", type="webhook", data={"n": 1}, idempotency_key="k"
    )
    assert created
    again, created = await store.add_event(
        project="demo", trigger="hook", type="webhook", data={"n": 2}, idempotency_key="k"
    )
    assert not created
    assert again == first
    # Keys are scoped to a project.
    elsewhere, created = await store.add_event(
        project="other", trigger="hook", type="webhook", data={}, idempotency_key="k"
    )
    assert created and elsewhere.id != first.id
    # Events without a key never collide.
    for _ in range(3):
        _, created = await store.add_event(project="demo", trigger=None, type="t", data={})
        assert created
    assert len(await store.list_events("demo")) == 4


async def test_duplicate_of_a_dispatched_event_returns_it_as_it_is_now(
    store: Store,
) -> None:
    await deploy(store)
    first, _ = await store.add_event(
        project="demo", trigger=None, type="t", data={}, idempotency_key="k"
    )
    await store.match_event(first.id, [])
    again, created = await store.add_event(
        project="demo", trigger=None, type="t", data={}, idempotency_key="k"
    )
    assert not created
    assert again.id == first.id and again.state == "unmatched"


async def test_fifty_concurrent_duplicates_write_one_row(store: Store) -> None:
    await deploy(store)
    results = await asyncio.gather(
        *(
            store.add_event(
                project="demo", trigger="hook", type="webhook", data={"i": i}, idempotency_key="d"
            )
            for i in range(50)
        )
    )
    assert sum(created for _, created in results) == 1
    assert len({event.id for event, _ in results}) == 1
    assert len(await store.list_events("demo")) == 1
    assert len(await store.pending_events()) == 1


async def test_concurrent_duplicates_from_two_processes_worth_of_stores(
    open_again: Callable[[], Awaitable[Store]],
) -> None:
    # Two stores on one database are two servers: only the UNIQUE constraint
    # (and SQLite's busy timeout) can keep this to one row.
    a = await open_again()
    b = await open_again()
    if True:
        await deploy(a)
        results = await asyncio.gather(
            *(
                s.add_event(project="demo", trigger=None, type="t", data={}, idempotency_key="x")
                for _ in range(25)
                for s in (a, b)
            )
        )
        assert sum(created for _, created in results) == 1
        assert len({event.id for event, _ in results}) == 1
        assert len(await b.list_events()) == 1


async def test_pending_events_oldest_first_with_limit(store: Store) -> None:
    await deploy(store)
    ids = [
        (await store.add_event(project="demo", trigger=None, type="t", data={"i": i}))[0].id
        for i in range(5)
    ]
    assert [e.id for e in await store.pending_events()] == ids
    assert [e.id for e in await store.pending_events(limit=2)] == ids[:2]
    await store.match_event(ids[0], [])
    assert [e.id for e in await store.pending_events(limit=2)] == ids[1:3]
    assert await store.pending_events(limit=0) == []


async def test_list_events_newest_first_filtered_and_limited(store: Store) -> None:
    await deploy(store, "a")
    await deploy(store, "b")
    added = []
    for i in range(6):
        event, _ = await store.add_event(project="ab"[i % 2], trigger=None, type="t", data={"i": i})
        added.append(event)
    newest_first = [e.id for e in reversed(added)]
    assert [e.id for e in await store.list_events()] == newest_first
    assert [e.id for e in await store.list_events(limit=4)] == newest_first[:4]
    assert [e.id for e in await store.list_events("a")] == [
        e.id for e in reversed(added) if e.project == "a"
    ]
    assert [e.id for e in await store.list_events("b", limit=1)] == [added[5].id]
    assert await store.list_events("c") == []


async def test_match_event_creates_sessions(store: Store) -> None:
    dep = await deploy(store)
    event, _ = await store.add_event(project="demo", trigger="hook", type="webhook", data={})
    wanted = [new_session(dep), new_session(dep, "other")]
    sessions = await store.match_event(event.id, wanted)
    assert [s.id for s in sessions] == [w.id for w in wanted]
    for got, want in zip(sessions, wanted, strict=True):
        assert (got.project, got.deployment_id, got.trigger, got.call) == (
            want.project,
            want.deployment_id,
            want.trigger,
            want.call,
        )
        assert got.event_id == event.id
        assert got.state == "created"
        assert got.start_pending
        assert got.ended_at is None and got.error is None
        assert await store.get_session(got.id) == got
    matched = await store.get_event(event.id)
    assert matched is not None and matched.state == "dispatched"
    assert await store.pending_events() == []


async def test_match_event_is_idempotent(store: Store) -> None:
    dep = await deploy(store)
    event, _ = await store.add_event(project="demo", trigger="hook", type="webhook", data={})
    first = await store.match_event(event.id, [new_session(dep), new_session(dep)])
    # A dispatcher retrying after a crash builds new session ids; none are written.
    again = await store.match_event(event.id, [new_session(dep)])
    assert sorted(again, key=lambda s: s.id) == sorted(first, key=lambda s: s.id)
    assert len(await store.list_sessions()) == 2
    assert await store.match_event(event.id, []) == again
    got = await store.get_event(event.id)
    assert got is not None and got.state == "dispatched"


async def test_match_event_without_sessions_is_unmatched(store: Store) -> None:
    dep = await deploy(store)
    event, _ = await store.add_event(project="demo", trigger="nothing", type="webhook", data={})
    assert await store.match_event(event.id, []) == []
    got = await store.get_event(event.id)
    assert got is not None and got.state == "unmatched"
    # Once decided, the decision stands.
    assert await store.match_event(event.id, [new_session(dep)]) == []
    assert await store.list_sessions() == []


async def test_match_unknown_event(store: Store) -> None:
    with pytest.raises(NotFoundError, match="evt_nope"):
        await store.match_event("evt_nope", [])


async def test_match_with_bad_sessions_writes_nothing(store: Store) -> None:
    dep = await deploy(store)
    other = await deploy(store, "other")
    event, _ = await store.add_event(project="demo", trigger="hook", type="webhook", data={})
    ghost = NewSession(
        id="ses_ghost", project="demo", deployment_id="dep_nope", trigger="hook", call="p.py:f"
    )
    with pytest.raises(NotFoundError, match="dep_nope"):
        await store.match_event(event.id, [new_session(dep), ghost])
    with pytest.raises(ValueError, match="other"):
        await store.match_event(event.id, [new_session(dep), new_session(other)])
    assert await store.list_sessions() == []
    got = await store.get_event(event.id)
    assert got is not None and got.state == "pending"


async def test_two_thousand_events(store: Store) -> None:
    await deploy(store)
    for batch in range(20):
        results = await asyncio.gather(
            *(
                store.add_event(
                    project="demo",
                    trigger="hook",
                    type="webhook",
                    data={"i": batch * 100 + i},
                    idempotency_key=f"k{batch * 100 + i}",
                )
                for i in range(100)
            )
        )
        assert all(created for _, created in results)
    assert len(await store.list_events(limit=5000)) == 2000
    assert len(await store.pending_events(limit=5000)) == 2000
