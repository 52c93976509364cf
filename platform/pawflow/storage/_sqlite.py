"""The SQLite implementation of :class:`~pawflow.storage.Store`.

All database work runs on one thread owned by the store: the event loop never
blocks on disk, the connection never crosses threads, and there is a single
writer, so transactions within a process are serialised without extra locks.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from ..errors import ConfigError, StorageUnavailable
from ._db import Database
from ._group import GroupCommitExecutor
from ._migrations import migrate
from ._sql import SQLITE
from ._store import DatabaseStore
from ._vacuum import free_pages, use_incremental_vacuum

__all__ = ["SQLiteStore", "open_store"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a write waits for another process (another server on the same file)
# to release the write lock before it fails.
BUSY_SECONDS = 5.0


async def open_store(path: Path) -> SQLiteStore:
    """Open (creating it and its directory if needed) the SQLite store at ``path``
    and bring its schema up to date.

    Raises :class:`~pawflow.errors.ConfigError` when the file cannot be opened, is
    not a database, or was written by a newer Pawflow.
    """
    executor = GroupCommitExecutor("pawflow-store")
    loop = asyncio.get_running_loop()
    try:
        db = await loop.run_in_executor(executor, SQLiteDatabase.open, Path(path))
    except BaseException:
        executor.shutdown(wait=True)
        raise
    executor.use(db)
    log.debug("store opened at %s", path)
    return SQLiteStore(db, executor, Path(path))


class SQLiteDatabase(Database):
    """The queries on one SQLite connection, with what group commit needs."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn, SQLITE)
        self._sqlite = conn
        self._full_sync = True

    @classmethod
    def open(cls, path: Path) -> SQLiteDatabase:
        """Create the file (and its directory) if needed, configure, migrate."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the store directory {path.parent}: {exc}") from None
        try:
            # isolation_level=None: the module's implicit transactions would begin
            # lazily and commit behind our back; we delimit every one ourselves.
            conn = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the store {path}: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {round(BUSY_SECONDS * 1000)}")
            # Before the first table: deleted rows must give their space back.
            use_incremental_vacuum(conn, path)
            conn.execute("PRAGMA journal_mode = WAL")
            # FULL: an event acknowledged to a webhook caller must survive power loss.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ConfigError(f"cannot open the store {path}: {exc}") from None
        except BaseException:
            conn.close()
            raise
        conn.row_factory = sqlite3.Row
        return cls(conn)

    def sync_fully(self, full: bool) -> None:
        if full != self._full_sync:
            self._sqlite.execute(f"PRAGMA synchronous = {'FULL' if full else 'NORMAL'}")
            self._full_sync = full

    @contextmanager
    def group(self) -> Iterator[None]:
        """One transaction (and one sync to disk) around several operations."""
        with self._transaction():
            self._grouped = True
            try:
                yield
            finally:
                self._grouped = False

    def group_intact(self) -> bool:
        return self._sqlite.in_transaction


class SQLiteStore(DatabaseStore):
    """The store in one SQLite file (WAL, synchronous=FULL). Build it with
    :func:`open_store`; every method is safe to call concurrently."""

    def __init__(self, db: SQLiteDatabase, executor: GroupCommitExecutor, path: Path) -> None:
        self._db = db
        self._executor = executor
        self._closed = False
        self.path = path

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    async def _submit(self, durable: bool, work: Callable[[Database], T]) -> T:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        try:
            return await asyncio.wrap_future(
                self._executor.submit_work(durable, functools.partial(work, self._db))
            )
        except sqlite3.Error as err:
            name = getattr(err, "sqlite_errorname", "")
            if name.startswith(("SQLITE_FULL", "SQLITE_IOERR")):
                raise StorageUnavailable(
                    f"the store cannot write ({err}): its disk is full or failing"
                ) from err
            if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                raise StorageUnavailable(
                    f"the store {self.path} stayed locked by another process "
                    f"for over {BUSY_SECONDS:g} s ({err})"
                ) from err
            raise

    async def reclaim_space(self) -> int:
        """Hand the file's free pages back to the file system, in short writes
        that let the store's own go between; returns how many were freed."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        return await free_pages(self.path, BUSY_SECONDS)

    async def close(self) -> None:
        """Close the connection and stop the database thread. Idempotent; work
        already submitted finishes first."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._executor.close, self._db.close)
        )
