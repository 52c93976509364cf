"""SQLite gives the space of purged rows back: incremental auto-vacuum."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

from pawflow.storage import SQLiteStore, Store, open_store
from pawflow.storage._migrations import migrate
from tests.storage._helpers import deploy, printed, start_one, state

LONG_AGO = 1000.0


def _auto_vacuum(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA auto_vacuum").fetchone()[0])


def _on_disk(path: Path) -> int:
    """The store's bytes on disk: the file and its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return os.path.getsize(path) + (os.path.getsize(wal) if wal.exists() else 0)


async def _fill(store: Store, sessions: int, text: str, ended_at: float) -> list[str]:
    """``sessions`` ended sessions of project demo, each with 3 prints of ``text``."""
    dep = await deploy(store)
    ids: list[str] = []
    for start in range(0, sessions, 250):
        chunk = await asyncio.gather(
            *(start_one(store, dep) for _ in range(min(250, sessions - start)))
        )
        await asyncio.gather(
            *(
                store.append_log(
                    [
                        *(printed(s, n, text, ended_at) for n in range(3)),
                        state(s, 3, "error", ended_at),
                    ]
                )
                for s in chunk
            )
        )
        ids.extend(chunk)
    return ids


async def _purge_project(store: Store, cutoff: float) -> int:
    deleted = 0
    while True:
        counts = await store.purge("demo", cutoff=cutoff)
        deleted += counts.sessions
        if not counts.more:
            return deleted


async def test_a_new_store_uses_incremental_vacuum(sqlite_store: SQLiteStore) -> None:
    assert _auto_vacuum(sqlite_store.path) == 2


async def test_an_older_store_is_converted_once_and_keeps_its_data(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        migrate(conn, db_path)  # as stores were made before: auto_vacuum NONE
        conn.execute("INSERT INTO projects (name, created_at) VALUES ('old', 1.0)")
    assert _auto_vacuum(db_path) == 0

    store = await open_store(db_path)
    try:
        assert [p.name for p in await store.list_projects()] == ["old"]
    finally:
        await store.close()
    assert _auto_vacuum(db_path) == 2


async def test_purging_shrinks_the_file(sqlite_store: SQLiteStore) -> None:
    path = sqlite_store.path
    ids = await _fill(sqlite_store, 2000, "x" * 1500, LONG_AGO)
    # A checkpoint, so that the size measured is the data's, not a WAL's in flight.
    assert await sqlite_store.reclaim_space() == 0  # nothing was free yet
    before = _on_disk(path)
    assert before > 9_000_000

    assert await _purge_project(sqlite_store, time.time()) == len(ids)
    freed = await sqlite_store.reclaim_space()

    after = _on_disk(path)
    assert freed > 1000
    assert after < before / 4, (before, after)
    assert await sqlite_store.list_sessions(project="demo") == []


async def test_webhooks_are_stored_while_a_big_purge_runs(sqlite_store: SQLiteStore) -> None:
    ids = await _fill(sqlite_store, 1000, "y" * 200, LONG_AGO)
    batches = 0

    async def purge() -> None:
        nonlocal batches
        while True:
            counts = await sqlite_store.purge("demo", cutoff=time.time(), limit=20)
            batches += 1
            if not counts.more:
                return
            await asyncio.sleep(0)  # as the server's pass does between batches

    task = asyncio.create_task(purge())
    try:
        while batches == 0:
            await asyncio.sleep(0)
        event, created = await sqlite_store.add_event(
            project="demo", trigger="hook", type="webhook", data={"during": "purge"}
        )
        # The event was committed in between the purge's transactions, long
        # before the pass ended.
        assert created
        assert not task.done()
        stored_after = batches
    finally:
        await task
    assert batches >= len(ids) // 20
    assert stored_after < batches
    assert await sqlite_store.get_event(event.id) is not None
