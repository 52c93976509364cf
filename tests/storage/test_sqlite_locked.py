"""Another process holding SQLite's write lock: every waiting write fails in
time, with a clear error, instead of waiting forever."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from pawflow.errors import StorageUnavailable
from pawflow.storage import open_store
from tests.storage._helpers import deploy


async def test_writes_grouped_behind_a_lock_held_elsewhere_all_fail_then_work_again(
    db_path: Path,
) -> None:
    store = await open_store(db_path)
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        await deploy(store)
        await asyncio.get_running_loop().run_in_executor(
            store._executor,
            lambda: store._db._conn.execute("PRAGMA busy_timeout = 300"),
        )
        # What another server on the same file does while it writes.
        holder.execute("BEGIN IMMEDIATE")
        writes = [
            asyncio.ensure_future(
                store.add_event(project="demo", trigger="hook", type="post", data={"n": n})
            )
            for n in range(20)
        ]
        # The first runs alone; those queued meanwhile share one BEGIN, which
        # fails too: each of them must still get an answer.
        done, waiting = await asyncio.wait(writes, timeout=20)
        assert not waiting, f"{len(waiting)} writes never answered"
        errors = [w.exception() for w in done]
        assert all(isinstance(e, StorageUnavailable) for e in errors), errors
        assert "locked by another process" in str(errors[0])
        holder.execute("ROLLBACK")

        _, created = await store.add_event(project="demo", trigger="hook", type="post", data={})
        assert created
        assert len(await store.list_events("demo")) == 1
    finally:
        holder.close()
        await store.close()
