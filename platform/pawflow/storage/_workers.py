"""Workers' last heartbeats, shared by every server on the database.

A mixin of :class:`~pawflow.storage._db.Database`. Each worker has one row,
keyed by its id and replaced by each beat, so a worker's beats may reach any
server and every server lists the same workers. Rows of workers gone quiet are
deleted by :meth:`WorkerQueries.prune_workers`, which callers run now and then
(the table must stay small: a beat is one statement, and listing reads it all).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._sql import Connection, Row

__all__ = ["MAX_WORKERS", "WorkerQueries", "WorkerRecord"]

MAX_WORKERS = 10_000
"""The most rows :meth:`WorkerQueries.list_workers` returns by default."""

_COLUMNS = (
    "id, host, pid, task_queue, version, started_at, last_seen, sessions_running, log_backlog"
)


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """A worker's last heartbeat, and when a server received it (``last_seen``)."""

    id: str
    host: str
    pid: int
    task_queue: str
    version: str
    started_at: float
    last_seen: float
    sessions_running: int
    log_backlog: int


class WorkerQueries:
    """The worker heartbeat queries of the database (a mixin)."""

    _conn: Connection

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

    def record_worker(self, worker: WorkerRecord) -> None:
        with self._write() as db:
            # Every field is replaced: a worker restarted with the same id (a
            # container's pid 1 on the same host name) is a new one.
            db.execute(
                f"INSERT INTO workers ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
                "task_queue = excluded.task_queue, version = excluded.version, "
                "started_at = excluded.started_at, last_seen = excluded.last_seen, "
                "sessions_running = excluded.sessions_running, "
                "log_backlog = excluded.log_backlog",
                (
                    worker.id,
                    worker.host,
                    worker.pid,
                    worker.task_queue,
                    worker.version,
                    worker.started_at,
                    worker.last_seen,
                    worker.sessions_running,
                    worker.log_backlog,
                ),
            )

    def prune_workers(self, seen_before: float, keep: int) -> int:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}")
        with self._write() as db:
            stale = db.execute("DELETE FROM workers WHERE last_seen < ?", (seen_before,))
            # Rows seen before the keep-th most recently seen one; with fewer
            # rows than that, the subquery is NULL and deletes nothing.
            surplus = db.execute(
                "DELETE FROM workers WHERE last_seen < (SELECT last_seen FROM workers "
                "ORDER BY last_seen DESC LIMIT 1 OFFSET ?)",
                (keep - 1,),
            )
        return stale.rowcount + surplus.rowcount

    def list_workers(self, seen_since: float, limit: int) -> list[WorkerRecord]:
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM workers WHERE last_seen >= ? ORDER BY id LIMIT ?",
            (seen_since, limit),
        ).fetchall()
        return [_worker(r) for r in rows]


def _worker(row: Row) -> WorkerRecord:
    return WorkerRecord(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        task_queue=row["task_queue"],
        version=row["version"],
        started_at=row["started_at"],
        last_seen=row["last_seen"],
        sessions_running=row["sessions_running"],
        log_backlog=row["log_backlog"],
    )
