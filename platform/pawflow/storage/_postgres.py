"""The PostgreSQL implementation of :class:`~pawflow.storage.Store`.

Why psycopg 3's blocking API and not an async driver: the store's queries are
written once, as blocking code shared with SQLite (``_db.py``). An async-only
driver (asyncpg) would need a second copy of every query. Here each operation
runs on a thread of a small pool, with a connection of its own taken from a
``psycopg_pool.ConnectionPool`` (which replaces broken connections), so the
event loop never waits on the database and several operations run at once.

Write transactions are SERIALIZABLE: a read-then-write behaves as if it ran
alone, as on SQLite, even against other servers. A transaction that lost such
a race (or a deadlock) is rolled back by PostgreSQL and simply run again.

Live logs: every transaction that appends to a session's log sends
``NOTIFY pawflow_log, '<session id>'`` (see ``Dialect.notify_log``); one
listening connection per store wakes the log streams of this server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import psycopg
import psycopg.errors
import psycopg.pq
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import ConfigError, StorageUnavailable
from ._db import Database
from ._migrations import migrate
from ._sql import LOG_CHANNEL, POSTGRESQL
from ._store import DatabaseStore

__all__ = ["PostgresStore", "open_postgres_store", "safe_url"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_CONNECT_SECONDS = 10
_MAX_ATTEMPTS = 20  # of a transaction that keeps losing races; each wait is random
# Its own generator: the waits must not move the process's shared random state,
# which a program (or a property test) in the same process may depend on.
_JITTER = random.Random()
_LISTEN_BACKOFF_MAX = 2.0


def safe_url(url: str) -> str:
    """``url`` for messages and logs: scheme, user, host, port and database,
    never the password (nor other parameters, which may hold one)."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://?"
    user = f"{info['user']}@" if info.get("user") else ""
    host = str(info.get("host") or "")
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{host}{port}/{info.get('dbname') or ''}"


async def open_postgres_store(url: str, *, pool_size: int = 8) -> PostgresStore:
    """Connect to the PostgreSQL database at ``url`` (``postgresql://...``) and
    bring its schema up to date (several servers starting at once take turns).

    Raises :class:`~pawflow.errors.ConfigError`, naming the database without its
    password, when it cannot be reached or was written by a newer Pawflow.
    """
    where = safe_url(url)
    loop = asyncio.get_running_loop()
    pool = await loop.run_in_executor(None, _open_pool, url, where, pool_size)
    log.debug("store opened at %s", where)
    return PostgresStore(url, where, pool, pool_size)


def _open_pool(url: str, where: str, size: int) -> ConnectionPool[Any]:
    try:
        conninfo_to_dict(url)
    except psycopg.Error:
        raise ConfigError(f"the database URL {where} is not a valid PostgreSQL URL") from None
    try:
        # First alone: a clear error when the database is unreachable, and
        # the schema up to date before any query runs.
        with psycopg.connect(url, autocommit=True, connect_timeout=_CONNECT_SECONDS) as conn:
            migrate(_Connection(conn), where, dialect=POSTGRESQL)
    except psycopg.Error as err:
        raise ConfigError(f"cannot open the store {where}: {_first_line(err)}") from None
    pool: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs={"autocommit": True, "connect_timeout": _CONNECT_SECONDS},
        check=ConnectionPool.check_connection,
        timeout=_CONNECT_SECONDS,
        name="pawflow-store",
        open=False,
    )
    try:
        pool.open(wait=True, timeout=_CONNECT_SECONDS)
    except PoolTimeout:
        pool.close()
        raise ConfigError(f"cannot open the store {where}: no connection in time") from None
    return pool


class PostgresStore(DatabaseStore):
    """The store in a PostgreSQL database. Build it with :func:`open_postgres_store`;
    every method is safe to call concurrently, from any number of servers."""

    def __init__(self, url: str, where: str, pool: ConnectionPool[Any], threads: int) -> None:
        self._url = url
        self._where = where
        self._pool = pool
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pawflow-pg")
        self._closed = False
        self._watchers: dict[str, set[Callable[[], None]]] = {}
        self._listener: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"

    async def _submit(self, durable: bool, work: Callable[[Database], T]) -> T:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        run = functools.partial(self._work, durable, work)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, run)
        except (psycopg.OperationalError, PoolTimeout) as err:
            raise StorageUnavailable(
                f"the store {self._where} cannot be reached or cannot write: {_first_line(err)}"
            ) from err

    def _work(self, durable: bool, work: Callable[[Database], T]) -> T:
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            with self._pool.connection() as conn:
                if not durable:
                    # Like SQLite's synchronous=NORMAL: the commit need not
                    # wait for the disk (a lost one is redone by its caller).
                    conn.execute("SET synchronous_commit = off")
                try:
                    return work(Database(_Connection(conn), POSTGRESQL))
                except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
                    if attempt == _MAX_ATTEMPTS:
                        raise
                finally:
                    if not durable and not conn.closed:
                        conn.execute("SET synchronous_commit = on")
            # Apart at random, so that the losers of one race do not meet again.
            time.sleep(_JITTER.uniform(0, min(0.002 * 2**attempt, 0.2)))
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Stop listening, let submitted work finish, close every connection.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await asyncio.get_running_loop().run_in_executor(None, self._shut)

    def _shut(self) -> None:
        self._threads.shutdown(wait=True)
        self._pool.close()

    # -- live logs ---------------------------------------------------------------------
    @contextlib.contextmanager
    def watch_log(self, session_id: str, wake: Callable[[], None]) -> Iterator[None]:
        """While the block runs, call ``wake`` when records of ``session_id`` are
        appended through any store on this database (NOTIFY), and after the
        listening connection was lost and is back (records may have come meanwhile)."""
        watchers = self._watchers.setdefault(session_id, set())
        watchers.add(wake)
        if (self._listener is None or self._listener.done()) and not self._closed:
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name="pawflow-log-listener"
            )
        try:
            yield
        finally:
            watchers.discard(wake)
            if not watchers:
                self._watchers.pop(session_id, None)

    def _wake(self, session_ids: Iterable[str]) -> None:
        for session_id in session_ids:
            for wake in list(self._watchers.get(session_id, ())):
                wake()

    async def _listen(self) -> None:
        delay = 0.1
        lost = False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=_CONNECT_SECONDS
                )
                async with conn:
                    await conn.execute(f"LISTEN {LOG_CHANNEL}")
                    if lost:
                        self._wake(list(self._watchers))
                    delay = 0.1
                    async for notice in conn.notifies():
                        self._wake((notice.payload,))
            except psycopg.Error as err:
                if not lost:
                    log.warning(
                        "listening for session logs on %s failed (%s); streams fall back "
                        "to re-reading the store until it is back",
                        self._where,
                        _first_line(err),
                    )
                lost = True
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LISTEN_BACKOFF_MAX)


class _Connection:
    """A psycopg connection (autocommit) behind the ``sqlite3`` interface the
    queries were written against: ``?`` placeholders, rows by column name or
    position, ``in_transaction``."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    @property
    def in_transaction(self) -> bool:
        return self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        cursor = self._conn.cursor(row_factory=_rows)
        cursor.execute(_pyformat(sql), tuple(parameters))
        return cursor

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        cursor = self._conn.cursor(row_factory=_rows)
        cursor.executemany(_pyformat(sql), [tuple(p) for p in parameters])
        return cursor

    def close(self) -> None:
        """The pool owns the connection."""


@functools.lru_cache(maxsize=1024)
def _pyformat(query: str) -> str:
    """``?`` placeholders (outside string literals) as psycopg's ``%s``, and a
    literal ``%`` doubled."""
    out: list[str] = []
    quoted = False
    for char in query:
        if char == "'":
            quoted = not quoted
        if char == "%":
            out.append("%%")
        elif char == "?" and not quoted:
            out.append("%s")
        else:
            out.append(char)
    return "".join(out)


class _Row:
    """A row readable by column name and by position, like ``sqlite3.Row``."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        return self._values[self._index[key] if isinstance(key, str) else key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)


def _rows(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: _Row(values, index)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
