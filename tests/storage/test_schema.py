"""Opening, migrating, persisting and closing the SQLite store."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from pawflow.errors import ConfigError, PawflowError
from pawflow.storage import SQLiteStore, Store, open_store
from pawflow.storage._migrations import MIGRATIONS, migrate, split_statements

from ._helpers import MANIFEST, deploy, printed, start_one, state

TABLES = {
    "projects",
    "deployments",
    "deployment_code",
    "webhooks",
    "events",
    "sessions",
    "session_log",
}


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


async def test_open_creates_file_dir_and_schema(db_path: Path) -> None:
    assert not db_path.parent.exists()
    store = await open_store(db_path)
    await store.close()
    assert db_path.is_file()
    conn = _raw(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert names >= TABLES
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"events_pending", "sessions_start_pending", "sessions_by_state"} <= indexes
    finally:
        conn.close()


async def test_migrations_on_an_existing_empty_file(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"")
    store = await open_store(db_path)
    try:
        assert await store.list_projects() == []
    finally:
        await store.close()


async def test_connection_pragmas(sqlite_store: SQLiteStore) -> None:
    store = sqlite_store

    def read(db: object) -> tuple[int, int, int, str]:
        conn = store._db._sqlite
        return (
            conn.execute("PRAGMA synchronous").fetchone()[0],
            conn.execute("PRAGMA foreign_keys").fetchone()[0],
            conn.execute("PRAGMA busy_timeout").fetchone()[0],
            conn.execute("PRAGMA journal_mode").fetchone()[0],
        )

    # The connection refuses other threads, so ask on the store's own thread.
    assert await store._run(read) == (2, 1, 5000, "wal")  # synchronous 2 == FULL


async def test_reopen_is_a_no_op_migration(db_path: Path) -> None:
    for _ in range(2):
        store = await open_store(db_path)
        await store.close()
    conn = _raw(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        conn.close()


async def test_refuses_a_newer_schema(db_path: Path) -> None:
    await (await open_store(db_path)).close()
    conn = _raw(db_path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(ConfigError) as info:
        await open_store(db_path)
    message = str(info.value)
    assert str(db_path) in message
    assert f"schema version {len(MIGRATIONS) + 1}" in message
    assert "upgrade Pawflow" in message
    assert "\n" not in message


async def test_not_a_database(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite, just some text long enough to have a header" * 20)
    with pytest.raises(PawflowError, match="cannot open the store"):
        await open_store(db_path)


async def test_unusable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot"):
        await open_store(blocker / "sub" / "pawflow.db")


def test_migrate_applies_each_step_and_records_the_count(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    steps = (
        "CREATE TABLE a (x TEXT); INSERT INTO a VALUES ('one;two');",
        "CREATE TABLE b (y INTEGER);",
    )
    conn = _raw(path)
    try:
        assert migrate(conn, path, steps[:1]) == 1
        assert migrate(conn, path, steps) == 2
        assert migrate(conn, path, steps) == 2  # nothing left to do
        assert conn.execute("SELECT x FROM a").fetchall() == [("one;two",)]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        conn.close()


def test_a_failing_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    steps = (
        "CREATE TABLE a (x TEXT);",
        "CREATE TABLE b (y TEXT); INSERT INTO nowhere VALUES (1);",
    )
    conn = _raw(path)
    try:
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn, path, steps)
        assert not conn.in_transaction
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"a"}
    finally:
        conn.close()


def test_split_statements_respects_quotes_comments_and_trigger_bodies() -> None:
    script = """
    CREATE TABLE t (x TEXT); -- a comment; with a semicolon
    INSERT INTO t VALUES ('a;b');
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = x || ';';
    END;
    """
    statements = split_statements(script)
    assert len(statements) == 3
    assert statements[1].startswith("-- a comment; with a semicolon")
    assert statements[2].startswith("CREATE TRIGGER") and statements[2].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        split_statements("CREATE TABLE t (x TEXT); SELECT 'unterminated")


async def test_everything_persists_across_close_and_reopen(db_path: Path) -> None:
    store = await open_store(db_path)
    dep = await deploy(store, code=b"\x00zip bytes\xff")
    hook = await store.ensure_webhook("demo", "hook")
    event, _ = await store.add_event(
        project="demo", trigger="hook", type="webhook", data={"k": [1, 2]}, idempotency_key="d1"
    )
    session_id = await start_one(store, dep)
    await store.append_log([state(session_id, 0, "running"), printed(session_id, 1, "héllo")])
    await store.close()

    store = await open_store(db_path)
    try:
        assert await store.get_deployment(dep.id) == dep
        assert await store.get_deployment_code(dep.id) == b"\x00zip bytes\xff"
        assert await store.active_deployment("demo") == dep
        assert await store.ensure_webhook("demo", "hook") == hook
        assert await store.get_event(event.id) == event
        again, created = await store.add_event(
            project="demo", trigger="hook", type="webhook", data={}, idempotency_key="d1"
        )
        assert (again, created) == (event, False)
        session = await store.get_session(session_id)
        assert session is not None and session.state == "running"
        assert [r["n"] for r in await store.get_log(session_id)] == [0, 1]
        assert (await store.get_log(session_id))[1]["text"] == "héllo"
        assert (await store.list_deployments())[0].manifest == MANIFEST
    finally:
        await store.close()


async def test_close_is_idempotent_and_later_calls_fail_clearly(db_path: Path) -> None:
    store = await open_store(db_path)
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.list_projects()


async def test_close_lets_submitted_work_finish(db_path: Path) -> None:
    store = await open_store(db_path)
    await store.create_deployment("demo", MANIFEST, b"")
    pending = [
        asyncio.ensure_future(
            store.add_event(project="demo", trigger=None, type="t", data={"i": i})
        )
        for i in range(20)
    ]
    # One trip through the loop runs each task up to its executor submission.
    await asyncio.sleep(0)
    await store.close()
    results = await asyncio.gather(*pending)
    assert all(created for _, created in results)

    store = await open_store(db_path)
    try:
        assert len(await store.list_events(limit=100)) == 20
    finally:
        await store.close()


async def test_sqlite_store_satisfies_the_protocol(sqlite_store: SQLiteStore) -> None:
    store = sqlite_store
    as_protocol: Store = store  # mypy checks the structural match here
    assert as_protocol is store
