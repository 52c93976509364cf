"""Workers' heartbeats in the store: one row per worker, listed by every store
object on the database, pruned by age and by count."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest

from pawflow.storage import Store, WorkerRecord

OpenAgain = Callable[[], Awaitable[Store]]

NOW = 1_750_000_000.25


def beat(worker_id: str, last_seen: float = NOW, **changes: object) -> WorkerRecord:
    worker = WorkerRecord(
        id=worker_id,
        host="box-1",
        pid=4242,
        task_queue="sessions",
        version="1.2.3",
        started_at=NOW - 3600.5,
        last_seen=last_seen,
        sessions_running=3,
        log_backlog=17,
    )
    return dataclasses.replace(worker, **changes)  # type: ignore[arg-type]


async def test_a_heartbeat_replaces_the_workers_row(store: Store) -> None:
    assert await store.list_workers() == []
    first = beat("box-1:4242")
    await store.record_worker(first)
    assert await store.list_workers() == [first]  # every field as given, times exact
    later = beat(
        "box-1:4242",
        NOW + 10,
        host="box-1b",
        pid=7,
        task_queue="other",
        version="1.2.4",
        started_at=NOW + 5,
        sessions_running=0,
        log_backlog=2**52,
    )
    await store.record_worker(later)
    assert await store.list_workers() == [later]


async def test_workers_are_listed_by_id_and_filtered_by_last_seen(store: Store) -> None:
    for worker_id, seen in (("c:1", NOW - 100), ("a:1", NOW), ("b:1", NOW - 5)):
        await store.record_worker(beat(worker_id, seen))
    assert [w.id for w in await store.list_workers()] == ["a:1", "b:1", "c:1"]
    assert [w.id for w in await store.list_workers(seen_since=NOW - 5)] == ["a:1", "b:1"]
    assert [w.id for w in await store.list_workers(limit=2)] == ["a:1", "b:1"]


async def test_prune_deletes_stale_rows_then_the_surplus_oldest_first(store: Store) -> None:
    for n in range(6):
        await store.record_worker(beat(f"w:{n}", NOW - n))  # w:0 is the freshest
    assert await store.prune_workers(NOW - 4.5) == 1  # w:5
    assert [w.id for w in await store.list_workers()] == [f"w:{n}" for n in range(5)]
    assert await store.prune_workers(NOW - 100, keep=10) == 0
    assert await store.prune_workers(NOW - 100, keep=2) == 3
    assert [w.id for w in await store.list_workers()] == ["w:0", "w:1"]
    # A worker that beats again is back, whatever was pruned.
    await store.record_worker(beat("w:4", NOW + 1))
    assert await store.prune_workers(NOW - 100, keep=1) == 2
    assert [w.id for w in await store.list_workers()] == ["w:4"]
    with pytest.raises(ValueError, match="keep must be at least 1"):
        await store.prune_workers(NOW, keep=0)


async def test_another_store_object_on_the_database_sees_the_same_workers(
    store: Store, open_again: OpenAgain
) -> None:
    other = await open_again()
    # Beats of many workers through both at once, as through two servers.
    await asyncio.gather(
        *(store.record_worker(beat(f"one:{n}", NOW + n)) for n in range(20)),
        *(other.record_worker(beat(f"two:{n}", NOW + n)) for n in range(20)),
    )
    await other.record_worker(beat("one:0", NOW + 50, sessions_running=9))
    listed = await store.list_workers()
    assert listed == await other.list_workers()
    assert len(listed) == 40
    assert {w.id: w.sessions_running for w in listed}["one:0"] == 9
