"""Writes that queue up together are committed together, each still on its own."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from pawflow.errors import NotFoundError, StorageUnavailable
from pawflow.storage import Store, open_store
from tests.storage._helpers import deploy


async def _add(store: Store, project: str, n: int, key: str | None = None) -> Any:
    return await store.add_event(
        project=project, trigger="hook", type="post", data={"n": n}, idempotency_key=key
    )


async def test_concurrent_writes_each_get_their_own_outcome(store: Store) -> None:
    await deploy(store)
    jobs = []
    for n in range(120):
        if n % 10 == 0:
            jobs.append(_add(store, "nope", n))  # fails alone: unknown project
        elif n % 10 == 1:
            jobs.append(_add(store, "demo", n, key="same"))  # one event, many answers
        else:
            jobs.append(_add(store, "demo", n))
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)

    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 12 and all(isinstance(f, NotFoundError) for f in failures)
    keyed = [o for n, o in enumerate(outcomes) if n % 10 == 1]
    assert len({event.id for event, _ in keyed}) == 1
    assert sum(created for _, created in keyed) == 1
    (first,) = [event for event, created in keyed if created]
    stored = await store.list_events("demo", limit=1000)
    assert sorted(e.data["n"] for e in stored) == sorted(
        [n for n in range(120) if n % 10 > 1] + [first.data["n"]]
    )


async def test_a_full_disk_fails_the_whole_group_and_stores_nothing_of_it(db_path: Path) -> None:
    store = await open_store(db_path)
    try:
        await deploy(store)
        before = await _add(store, "demo", -1)

        def fill_up() -> None:
            # The real SQLITE_FULL error, without filling a real disk: no page
            # may be added to the file any more.
            conn: sqlite3.Connection = store._db._conn
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")

        await asyncio.get_running_loop().run_in_executor(store._executor, fill_up)
        big = "x" * 100_000
        outcomes = await asyncio.gather(
            *(
                store.add_event(project="demo", trigger="hook", type="post", data={"big": big})
                for _ in range(20)
            ),
            return_exceptions=True,
        )
        assert all(isinstance(o, StorageUnavailable) for o in outcomes), outcomes
        assert [e.id for e in await store.list_events("demo")] == [before[0].id]
    finally:
        await store.close()

    store = await open_store(db_path)  # space again (the limit lived in the connection)
    try:
        after, created = await _add(store, "demo", 1)
        assert created
        assert {e.id for e in await store.list_events("demo")} == {before[0].id, after.id}
    finally:
        await store.close()
