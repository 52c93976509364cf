"""Retention: deleting what has aged out of the store, one small batch at a time.

A mixin of :class:`~pawflow.storage._db.Database`. One call of
:meth:`RetentionQueries.purge` is one short transaction over one project: at
most ``limit`` sessions (with everything keyed by them), ``limit`` events and a
few deployments' code, and at most ``LOG_ROWS_PER_LIMIT * limit`` log records,
so a writer waiting behind it (a webhook's event) waits milliseconds, not the
length of a whole pass. Callers repeat it while :attr:`PurgeCounts.more` says a
bound was reached.

What goes: sessions that ended (completed, error, stopped) before the cutoff,
or beyond the newest ``keep`` finished ones; never a session still running,
never a parent with a child still running or still to be told it ended, nor
such a child, nor a failed session whose answers a restart still running
reuses. Events no longer pending, older than the cutoff, that no
session refers to and no subscription still has to receive. The code (not the
row) of inactive deployments older than the cutoff that no session refers to,
except the newest :data:`ROLLBACK_TARGETS` deployments of the project that are
not active: they are what a rollback goes back to.

Every statement names rows by what they are, not by what an earlier pass saw,
so two servers purging at once (PostgreSQL) delete each row once and fail
nothing; PostgreSQL's advisory lock lets just one of them work at a time.
"""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from ._records import TERMINAL_SESSION_STATES
from ._sql import Connection, Dialect

__all__ = [
    "LOG_ROWS_PER_LIMIT",
    "PURGE_BATCH",
    "ROLLBACK_TARGETS",
    "PurgeCounts",
    "RetentionQueries",
]

PURGE_BATCH = 200
"""Sessions (and events) a purge deletes per transaction by default."""

LOG_ROWS_PER_LIMIT = 10
"""A purge deletes at most this many log records per session it may delete."""

ROLLBACK_TARGETS = 5
"""The newest deployments of a project, besides the active one, that keep their code."""

# Code archives are megabytes each: fewer of them per transaction.
_CODE_PER_BATCH = 20

# Any constant will do, as long as nothing else takes the same advisory lock.
_PG_PURGE_LOCK = 0x70617772  # "pawr"

_ENDED = ", ".join(f"'{state}'" for state in sorted(TERMINAL_SESSION_STATES))
_UNFINISHED = "'created', 'running'"

# A session that may go once it is old enough: it ended; if it is a child, its
# parent has been told so; and none of its children runs or is still to be
# told (the relay's outbox needs both ends of that).
_DELETABLE_SESSION = (
    f"s.project = ? AND s.state IN ({_ENDED}) "
    "AND NOT (s.parent_session_id IS NOT NULL AND s.parent_notified = 0) "
    "AND NOT EXISTS (SELECT 1 FROM sessions c WHERE c.parent_session_id = s.id "
    f"AND (c.state IN ({_UNFINISHED}) OR c.parent_notified = 0)) "
    # A failed session whose answers a running restart reuses stays with them.
    "AND s.id NOT IN (SELECT r.reuse_from FROM sessions r "
    f"WHERE r.state IN ({_UNFINISHED}) AND r.reuse_from IS NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """What one purge (or a pass of them, added up) deleted."""

    sessions: int = 0
    log_records: int = 0
    events: int = 0
    deployment_code: int = 0
    # A bound of the batch was reached: the next batch may find more.
    more: bool = False
    # Another server is purging (PostgreSQL): this one did nothing.
    busy: bool = False

    @property
    def total(self) -> int:
        """Rows deleted, of every kind."""
        return self.sessions + self.log_records + self.events + self.deployment_code

    def __add__(self, other: PurgeCounts) -> PurgeCounts:
        counted = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name not in ("more", "busy")
        }
        return PurgeCounts(**counted, more=other.more, busy=other.busy)


class RetentionQueries:
    """The retention queries of the database (a mixin)."""

    _conn: Connection
    _dialect: Dialect

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

    def purge(
        self, project: str, cutoff: float | None, keep: int | None, limit: int
    ) -> PurgeCounts:
        if (cutoff is None) == (keep is None):
            raise ValueError("purge takes either a cutoff or a number of sessions to keep")
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}")
        limit = max(int(limit), 1)
        with self._write() as db:
            if not self._purge_lock(db):
                return PurgeCounts(busy=True)
            if keep is not None:
                newest = self._oldest_kept(db, project, keep)
                if newest is None:
                    # Fewer finished sessions than kept: nothing ages out; old
                    # code still may (it has no session left, whatever its age).
                    code = self._purge_code(db, project, time.time(), _CODE_PER_BATCH)
                    return PurgeCounts(deployment_code=code, more=code == _CODE_PER_BATCH)
                created_at, session_id = newest
                older = "(s.created_at < ? OR (s.created_at = ? AND s.id < ?))"
                sessions, logs, more = self._purge_sessions(
                    db, older, (project, created_at, created_at, session_id), limit
                )
                event_cutoff, code_cutoff = created_at, time.time()
            else:
                assert cutoff is not None
                sessions, logs, more = self._purge_sessions(
                    db, "s.ended_at < ?", (project, cutoff), limit
                )
                event_cutoff = code_cutoff = cutoff
            events = self._purge_events(db, project, event_cutoff, limit)
            code = self._purge_code(db, project, code_cutoff, _CODE_PER_BATCH)
        return PurgeCounts(
            sessions=sessions,
            log_records=logs,
            events=events,
            deployment_code=code,
            more=more or events == limit or code == _CODE_PER_BATCH,
        )

    def _purge_lock(self, db: Connection) -> bool:
        if self._dialect.name != "postgresql":
            return True  # SQLite: BEGIN IMMEDIATE already made this the only writer
        # Held until the transaction ends; a server that finds it taken skips
        # its turn instead of deleting the same rows as the holder.
        return bool(
            db.execute("SELECT pg_try_advisory_xact_lock(?)", (_PG_PURGE_LOCK,)).fetchone()[0]
        )

    def _oldest_kept(self, db: Connection, project: str, keep: int) -> tuple[float, str] | None:
        """(created_at, id) of the ``keep``-th newest finished session of the
        project; None when there are not that many."""
        row = db.execute(
            f"SELECT created_at, id FROM sessions WHERE project = ? AND state IN ({_ENDED}) "
            "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?",
            (project, keep - 1),
        ).fetchone()
        return None if row is None else (float(row["created_at"]), str(row["id"]))

    def _purge_sessions(
        self, db: Connection, old: str, params: tuple[Any, ...], limit: int
    ) -> tuple[int, int, bool]:
        """(sessions, log records, more) deleted among the deletable sessions
        matching ``old``, oldest first."""
        rows = db.execute(
            f"SELECT s.id FROM sessions s WHERE {_DELETABLE_SESSION} AND {old} "
            "ORDER BY s.created_at, s.id LIMIT ?",
            (*params, limit),
        ).fetchall()
        if not rows:
            return 0, 0, False
        ids = json.dumps([str(r["id"]) for r in rows])
        among = self._dialect.json_values
        log_budget = LOG_ROWS_PER_LIMIT * limit
        logs = db.execute(
            "DELETE FROM session_log WHERE (session_id, n) IN "
            f"(SELECT session_id, n FROM session_log WHERE session_id IN ({among}) LIMIT ?)",
            (ids, log_budget),
        ).rowcount
        if logs == log_budget:
            # Long logs: the sessions go in a later batch, when theirs are gone.
            return 0, logs, True
        for statement in (
            f"DELETE FROM call_journal WHERE session_id IN ({among})",
            f"DELETE FROM transcripts WHERE session_id IN ({among})",
            f"DELETE FROM http_outcomes WHERE session_id IN ({among})",
            "DELETE FROM subscription_deliveries WHERE subscription_id IN "
            f"(SELECT id FROM subscriptions WHERE session_id IN ({among}))",
            f"DELETE FROM subscriptions WHERE session_id IN ({among})",
            # Children outlive their parent (they all ended, and were told).
            f"UPDATE sessions SET parent_session_id = NULL WHERE parent_session_id IN ({among})",
        ):
            db.execute(statement, (ids,))
        sessions = db.execute(f"DELETE FROM sessions WHERE id IN ({among})", (ids,)).rowcount
        return sessions, logs, len(rows) == limit

    def _purge_events(self, db: Connection, project: str, cutoff: float, limit: int) -> int:
        rows = db.execute(
            "SELECT e.id FROM events e WHERE e.project = ? AND e.state <> 'pending' "
            "AND e.created_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.event_id = e.id) "
            "AND NOT EXISTS (SELECT 1 FROM subscription_deliveries d "
            "WHERE d.event_id = e.id AND d.delivered = 0) "
            "ORDER BY e.created_at, e.id LIMIT ?",
            (project, cutoff, limit),
        ).fetchall()
        if not rows:
            return 0
        ids = json.dumps([str(r["id"]) for r in rows])
        among = self._dialect.json_values
        db.execute(f"DELETE FROM subscription_deliveries WHERE event_id IN ({among})", (ids,))
        return int(db.execute(f"DELETE FROM events WHERE id IN ({among})", (ids,)).rowcount)

    def _purge_code(self, db: Connection, project: str, cutoff: float, limit: int) -> int:
        return int(
            db.execute(
                "DELETE FROM deployment_code WHERE deployment_id IN ("
                "SELECT d.id FROM deployments d JOIN deployment_code c ON c.deployment_id = d.id "
                "WHERE d.project = ? AND d.state = 'inactive' AND d.created_at < ? "
                "AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.deployment_id = d.id) "
                "AND d.id NOT IN (SELECT r.id FROM deployments r "
                "WHERE r.project = ? AND r.state <> 'active' "
                "ORDER BY r.created_at DESC, r.id DESC LIMIT ?) "
                "LIMIT ?)",
                (project, cutoff, project, ROLLBACK_TARGETS, limit),
            ).rowcount
        )
