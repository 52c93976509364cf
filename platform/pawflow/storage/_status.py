"""What ``paw status`` asks the store: sessions by state, events waiting, its size.

A mixin of :class:`~pawflow.storage._db.Database`: a handful of aggregate
queries that use the indexes the dispatcher already needs (``state``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from ._sql import Connection, Dialect

__all__ = ["StatusQueries", "StoreStatus"]


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """The store at a glance."""

    kind: str  # "sqlite" or "postgresql"
    size_bytes: int | None  # None: the back end would not say
    sessions: dict[str, int]  # state -> count; states without sessions are absent
    pending_events: int  # committed, not dispatched yet
    oldest_running: tuple[str, float] | None  # (session id, created_at)


class StatusQueries:
    """The status queries of the database (a mixin)."""

    _conn: Connection
    _dialect: Dialect

    def store_status(self) -> StoreStatus:
        sessions = {
            str(r["state"]): int(r["n"])
            for r in self._conn.execute(
                "SELECT state, COUNT(*) AS n FROM sessions GROUP BY state"
            ).fetchall()
        }
        pending = self._conn.execute(
            "SELECT COUNT(*) AS n FROM events WHERE state = 'pending'"
        ).fetchone()
        oldest = self._conn.execute(
            "SELECT id, created_at FROM sessions WHERE state = 'running' "
            "ORDER BY created_at, id LIMIT 1"
        ).fetchone()
        return StoreStatus(
            kind=self._dialect.name,
            size_bytes=self._size(),
            sessions=sessions,
            pending_events=int(pending["n"]),
            oldest_running=None if oldest is None else (oldest["id"], oldest["created_at"]),
        )

    def _size(self) -> int | None:
        if self._dialect.name == "postgresql":
            row = self._conn.execute("SELECT pg_database_size(current_database()) AS n").fetchone()
            return int(row["n"])
        # SQLite: the file, and the write-ahead log not yet copied back into it.
        row = self._conn.execute(
            "SELECT file FROM pragma_database_list WHERE name = 'main'"
        ).fetchone()
        if row is None or not row["file"]:
            return None  # in memory
        total = 0
        for path in (row["file"], row["file"] + "-wal"):
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(path).st_size
        return total
