"""The SQL of the store, as plain blocking methods shared by both back ends.

A :class:`Database` is one connection and runs on one thread at a time (SQLite:
the store's database thread; PostgreSQL: a thread of its pool). The connection
is in autocommit mode and every write happens inside an explicit transaction
begun by the dialect (``_sql.py``): SQLite's ``BEGIN IMMEDIATE`` takes the
write lock up front, PostgreSQL's SERIALIZABLE fails (and the store runs again)
whatever another writer interleaved, so a read-then-write (idempotency checks,
state moves) is as if it ran alone, even against other processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import string
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from ..errors import NotFoundError
from ..ids import new_id
from ._base import LogRecord
from ._control import SessionControlQueries
from ._group import savepoint
from ._kv import KeyValueQueries
from ._operations import OperationQueries
from ._records import (
    TERMINAL_SESSION_STATES,
    DeploymentRecord,
    DeploymentState,
    EventRecord,
    EventState,
    NewSession,
    ProjectRecord,
    SessionRecord,
    SessionState,
    WebhookRecord,
)
from ._retention import RetentionQueries
from ._settings import SettingQueries
from ._sources import default_source
from ._sql import Connection, Dialect, Row
from ._status import StatusQueries
from ._subscriptions import SubscriptionQueries
from ._vars import VarQueries
from ._workers import WorkerQueries

__all__ = ["Database"]

log = logging.getLogger(__name__)

SLUG_LENGTH = 24
_SLUG_ALPHABET = string.ascii_lowercase + string.digits

# Sessions only move up this ladder; terminal states share the top rung, so the
# first terminal state recorded is final.
_STATE_RANK: dict[str, int] = {
    "created": 0,
    "running": 1,
    "completed": 2,
    "error": 2,
    "stopped": 2,
}
_UNFINISHED = ("created", "running")

_DEPLOYMENT_COLUMNS = "id, project, state, created_at, manifest, code_sha256"
_EVENT_COLUMNS = (
    "id, project, trigger_name, type, data, idempotency_key, created_at, state, connection_name"
)
# What reading an event selects: its columns, and how it was matched (see match_event).
_EVENT_READ = f"{_EVENT_COLUMNS}, matches, replay_of"
_SESSION_COLUMNS = (
    "id, project, deployment_id, trigger_name, event_id, call_target, state, created_at, "
    "ended_at, error, start_pending, parent_session_id"
)
# What reading a session selects: its columns, and the failed session it reuses answers of.
_SESSION_READ = f"{_SESSION_COLUMNS}, reuse_from, reuse_count"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _new_slug() -> str:
    return "".join(secrets.choice(_SLUG_ALPHABET) for _ in range(SLUG_LENGTH))


class Database(
    KeyValueQueries,
    SessionControlQueries,
    VarQueries,
    SubscriptionQueries,
    WorkerQueries,
    SettingQueries,
    StatusQueries,
    OperationQueries,
    RetentionQueries,
):
    """One connection and the queries of the store. Not thread-safe by design:
    one thread at a time uses it."""

    def __init__(self, conn: Connection, dialect: Dialect) -> None:
        self._conn = conn
        self._dialect = dialect
        self._grouped = False  # inside a group commit (SQLite): each write is a savepoint

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        if self._grouped:
            with savepoint(self._conn):
                yield self._conn
        else:
            with self._transaction():
                yield self._conn

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute(self._dialect.begin)
        try:
            yield
        except BaseException:
            # It may be rolled back already (SQLite: a full disk, an I/O error).
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        try:
            self._conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT can leave the transaction open; the next BEGIN would fail.
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Row | None:
        return cast("Row | None", self._conn.execute(sql, params).fetchone())

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def _older(
        self, table: str, key: str, where: str, params: tuple[Any, ...], before: str | None
    ) -> tuple[str, tuple[Any, ...]]:
        """``where`` narrowed to the rows listed after ``before`` in a newest-first
        listing ordered by ``(created_at, key)`` descending. The pair, not the time
        alone, so rows sharing a timestamp are neither skipped nor repeated across
        pages. ``table`` and ``key`` are our own names, never caller input."""
        if before is None:
            return where, params
        row = self._one(f"SELECT created_at FROM {table} WHERE {key} = ?", (before,))
        if row is None:
            raise NotFoundError(f"no {_ROW_NAMES[table]} {before!r} to list from")
        at = row["created_at"]
        older = f"(created_at < ? OR (created_at = ? AND {key} < ?))"
        joined = f"{where} AND {older}" if where else f" WHERE {older}"
        return joined, (*params, at, at, before)

    # -- projects and deployments ----------------------------------------------------
    def create_deployment(
        self, project: str, manifest: dict[str, Any], code: bytes
    ) -> DeploymentRecord:
        record = DeploymentRecord(
            id=new_id("dep"),
            project=project,
            state="inactive",
            created_at=time.time(),
            manifest=manifest,
            code_sha256=hashlib.sha256(code).hexdigest(),
        )
        manifest_json = _dumps(manifest)
        with self._write() as db:
            db.execute(
                "INSERT INTO projects (name, created_at) VALUES (?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (project, record.created_at),
            )
            db.execute(
                f"INSERT INTO deployments ({_DEPLOYMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    project,
                    record.state,
                    record.created_at,
                    manifest_json,
                    record.code_sha256,
                ),
            )
            db.execute(
                "INSERT INTO deployment_code (deployment_id, code) VALUES (?, ?)",
                (record.id, code),
            )
        return record

    def activate_deployment(self, deployment_id: str) -> DeploymentRecord:
        with self._write() as db:
            target = self.get_deployment(deployment_id)
            if target is None:
                raise NotFoundError(f"no deployment {deployment_id!r}")
            if target.state == "active":
                return target
            previous = self.active_deployment(target.project)
            if previous is not None:
                # Demote first: the unique index allows one active deployment per project.
                state = "draining" if self._has_unfinished_sessions(previous.id) else "inactive"
                db.execute("UPDATE deployments SET state = ? WHERE id = ?", (state, previous.id))
                log.info("deployment %s of %s is now %s", previous.id, previous.project, state)
            db.execute("UPDATE deployments SET state = 'active' WHERE id = ?", (deployment_id,))
        log.info("deployment %s of %s is now active", deployment_id, target.project)
        return DeploymentRecord(
            id=target.id,
            project=target.project,
            state="active",
            created_at=target.created_at,
            manifest=target.manifest,
            code_sha256=target.code_sha256,
        )

    def _has_unfinished_sessions(self, deployment_id: str) -> bool:
        row = self._one(
            "SELECT 1 FROM sessions WHERE deployment_id = ? AND state IN (?, ?) LIMIT 1",
            (deployment_id, *_UNFINISHED),
        )
        return row is not None

    def get_deployment(self, deployment_id: str) -> DeploymentRecord | None:
        row = self._one(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?", (deployment_id,)
        )
        return None if row is None else _deployment(row)

    def get_deployment_code(self, deployment_id: str) -> bytes | None:
        row = self._one(
            "SELECT code FROM deployment_code WHERE deployment_id = ?", (deployment_id,)
        )
        return None if row is None else bytes(row["code"])

    def active_deployment(self, project: str) -> DeploymentRecord | None:
        row = self._one(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE project = ? AND state = 'active'",
            (project,),
        )
        return None if row is None else _deployment(row)

    def list_projects(
        self, limit: int | None = None, before: str | None = None
    ) -> list[ProjectRecord]:
        where, params = self._older("projects", "name", "", (), before)
        bound = "" if limit is None else " LIMIT ?"
        rows = self._all(
            f"SELECT name, created_at FROM projects{where} "
            f"ORDER BY created_at DESC, name DESC{bound}",
            params if limit is None else (*params, _limit(limit)),
        )
        return [ProjectRecord(name=r["name"], created_at=r["created_at"]) for r in rows]

    def list_deployments(
        self, project: str | None, limit: int | None, before: str | None = None
    ) -> list[DeploymentRecord]:
        where, params = self._older("deployments", "id", *_where(project=project), before)
        bound = "" if limit is None else " LIMIT ?"
        rows = self._all(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments{where} "
            f"ORDER BY created_at DESC, id DESC{bound}",
            params if limit is None else (*params, max(0, limit)),
        )
        return [_deployment(r) for r in rows]

    # -- webhooks ----------------------------------------------------------------------
    def ensure_webhook(self, project: str, trigger: str) -> WebhookRecord:
        with self._write() as db:
            existing = self._one(
                "SELECT slug FROM webhooks WHERE project = ? AND trigger_name = ?",
                (project, trigger),
            )
            if existing is not None:
                return WebhookRecord(slug=existing["slug"], project=project, trigger=trigger)
            self._require_project(project)
            while True:
                slug = _new_slug()
                cursor = db.execute(
                    "INSERT INTO webhooks (slug, project, trigger_name) VALUES (?, ?, ?) "
                    "ON CONFLICT (slug) DO NOTHING",
                    (slug, project, trigger),
                )
                # 36**24 slugs: a collision is astronomically rare, but cheap to survive.
                if cursor.rowcount == 1:
                    return WebhookRecord(slug=slug, project=project, trigger=trigger)

    def resolve_webhook(self, slug: str) -> WebhookRecord | None:
        row = self._one("SELECT slug, project, trigger_name FROM webhooks WHERE slug = ?", (slug,))
        if row is None:
            return None
        return WebhookRecord(slug=row["slug"], project=row["project"], trigger=row["trigger_name"])

    def _require_project(self, project: str) -> None:
        if self._one("SELECT 1 FROM projects WHERE name = ?", (project,)) is None:
            raise NotFoundError(f"no project {project!r}")

    # -- events ------------------------------------------------------------------------
    def add_event(
        self,
        project: str,
        trigger: str | None,
        type: str,
        data: dict[str, Any],
        idempotency_key: str | None,
        connection: str | None = None,
        idempotency_source: str | None = None,
    ) -> tuple[EventRecord, bool]:
        source = (
            default_source(trigger, connection)
            if idempotency_source is None
            else idempotency_source
        )
        record = EventRecord(
            id=new_id("evt"),
            project=project,
            trigger=trigger,
            type=type,
            data=data,
            idempotency_key=idempotency_key,
            created_at=time.time(),
            state="pending",
            connection=connection,
        )
        data_json = _dumps(data)
        with self._write() as db:
            self._require_project(project)
            # The UNIQUE constraint, not a prior SELECT, decides who wins a race
            # between two writers (possibly in different processes).
            cursor = db.execute(
                f"INSERT INTO events ({_EVENT_COLUMNS}, idempotency_source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project, idempotency_source, idempotency_key) DO NOTHING",
                (
                    record.id,
                    project,
                    trigger,
                    type,
                    data_json,
                    idempotency_key,
                    record.created_at,
                    record.state,
                    connection,
                    source,
                ),
            )
            if cursor.rowcount == 1:
                return record, True
            row = self._keyed_event(project, source, idempotency_key)
        if row is None:  # pragma: no cover - the conflict implies the row exists
            raise RuntimeError("idempotency conflict without a matching event")
        return _event(row), False

    def _keyed_event(self, project: str, source: str, key: str | None) -> Row | None:
        """The event holding ``key`` in the namespace ``source`` of ``project``."""
        return self._one(
            f"SELECT {_EVENT_READ} FROM events "
            "WHERE project = ? AND idempotency_source = ? AND idempotency_key = ?",
            (project, source, key),
        )

    def pending_events(self, limit: int, exclude: Sequence[str] = ()) -> list[EventRecord]:
        rows = self._all(
            f"SELECT {_EVENT_READ} FROM events WHERE state = 'pending' "
            f"AND id NOT IN ({self._dialect.json_values}) "
            "ORDER BY created_at, id LIMIT ?",
            (json.dumps(list(exclude)), _limit(limit)),
        )
        return [_event(r) for r in rows]

    def claim_events(
        self,
        owner: str,
        lease_seconds: float,
        limit: int,
        exclude: Sequence[str] = (),
    ) -> list[EventRecord]:
        now = time.time()
        with self._write() as db:
            # Locked (PostgreSQL) so that concurrent claimers pass each other
            # by; the claim written below is what keeps them apart afterwards.
            rows = self._all(
                f"SELECT {_EVENT_READ} FROM events WHERE state = 'pending' "
                "AND (claim_until IS NULL OR claim_until < ? OR claimed_by = ?) "
                f"AND id NOT IN ({self._dialect.json_values}) "
                f"ORDER BY created_at, id LIMIT ?{self._dialect.skip_locked}",
                (now, owner, json.dumps(list(exclude)), _limit(limit)),
            )
            if rows:
                db.executemany(
                    "UPDATE events SET claimed_by = ?, claim_until = ? WHERE id = ?",
                    [(owner, now + lease_seconds, r["id"]) for r in rows],
                )
        return [_event(r) for r in rows]

    def claim_event(self, owner: str, lease_seconds: float, event_id: str) -> bool:
        now = time.time()
        with self._write() as db:
            # One statement: on PostgreSQL a concurrent claimer waits for the
            # row and then sees the claim written here.
            cursor = db.execute(
                "UPDATE events SET claimed_by = ?, claim_until = ? "
                "WHERE id = ? AND state = 'pending' "
                "AND (claim_until IS NULL OR claim_until < ? OR claimed_by = ?)",
                (owner, now + lease_seconds, event_id, now, owner),
            )
            return bool(cursor.rowcount == 1)

    def match_event(
        self,
        event_id: str,
        sessions: list[NewSession],
        matches: list[dict[str, Any]] | None = None,
    ) -> list[SessionRecord]:
        matches_json = None if matches is None else _dumps(matches)
        with self._write() as db:
            event = self._one("SELECT project, state FROM events WHERE id = ?", (event_id,))
            if event is None:
                raise NotFoundError(f"no event {event_id!r}")
            if event["state"] != "pending":
                return self._sessions_of_event(event_id)
            for new in sessions:
                if new.project != event["project"]:
                    raise ValueError(
                        f"session {new.id!r} is for project {new.project!r}, "
                        f"but event {event_id!r} belongs to {event['project']!r}"
                    )
            now = time.time()
            created: list[SessionRecord] = []
            for new in sessions:
                record = SessionRecord(
                    id=new.id,
                    project=new.project,
                    deployment_id=new.deployment_id,
                    trigger=new.trigger,
                    event_id=event_id,
                    call=new.call,
                    state="created",
                    created_at=now,
                    ended_at=None,
                    error=None,
                    start_pending=True,
                )
                # Its project only: the manifest need not be read and decoded here.
                deployment = self._one(
                    "SELECT project FROM deployments WHERE id = ?", (new.deployment_id,)
                )
                if deployment is None:
                    raise NotFoundError(f"no deployment {new.deployment_id!r}")
                if deployment["project"] != event["project"]:
                    raise ValueError(
                        f"deployment {new.deployment_id!r} belongs to {deployment['project']!r}, "
                        f"not to the event's project {event['project']!r}"
                    )
                db.execute(
                    f"INSERT INTO sessions ({_SESSION_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        record.project,
                        record.deployment_id,
                        record.trigger,
                        record.event_id,
                        record.call,
                        record.state,
                        record.created_at,
                        record.ended_at,
                        record.error,
                        1,
                        record.parent_session_id,
                    ),
                )
                created.append(record)
            state: EventState = "dispatched" if sessions else "unmatched"
            db.execute(
                "UPDATE events SET state = ?, matches = ? WHERE id = ?",
                (state, matches_json, event_id),
            )
        return created

    def _sessions_of_event(self, event_id: str) -> list[SessionRecord]:
        rows = self._all(
            f"SELECT {_SESSION_READ} FROM sessions WHERE event_id = ? ORDER BY created_at, id",
            (event_id,),
        )
        return [_session(r) for r in rows]

    def get_event(self, event_id: str) -> EventRecord | None:
        row = self._one(f"SELECT {_EVENT_READ} FROM events WHERE id = ?", (event_id,))
        return None if row is None else _event(row)

    def list_events(
        self, project: str | None, limit: int, before: str | None = None
    ) -> list[EventRecord]:
        where, params = self._older("events", "id", *_where(project=project), before)
        rows = self._all(
            f"SELECT {_EVENT_READ} FROM events{where} ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, _limit(limit)),
        )
        return [_event(r) for r in rows]

    # -- sessions ----------------------------------------------------------------------
    def sessions_to_start(self, limit: int) -> list[SessionRecord]:
        rows = self._all(
            f"SELECT {_SESSION_READ} FROM sessions WHERE start_pending = 1 "
            "ORDER BY created_at, id LIMIT ?",
            (_limit(limit),),
        )
        return [_session(r) for r in rows]

    def mark_started(self, session_id: str) -> None:
        with self._write() as db:
            cursor = db.execute("UPDATE sessions SET start_pending = 0 WHERE id = ?", (session_id,))
            if cursor.rowcount == 0:
                raise NotFoundError(f"no session {session_id!r}")

    def get_session(self, session_id: str) -> SessionRecord | None:
        row = self._one(f"SELECT {_SESSION_READ} FROM sessions WHERE id = ?", (session_id,))
        return None if row is None else _session(row)

    def list_sessions(
        self,
        project: str | None,
        event_id: str | None,
        state: str | None,
        limit: int,
        before: str | None = None,
    ) -> list[SessionRecord]:
        filters = _where(project=project, event_id=event_id, state=state)
        where, params = self._older("sessions", "id", *filters, before)
        rows = self._all(
            f"SELECT {_SESSION_READ} FROM sessions{where} "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, _limit(limit)),
        )
        return [_session(r) for r in rows]

    # -- session logs ------------------------------------------------------------------
    def append_log(self, records: list[LogRecord]) -> list[LogRecord]:
        rows = [_log_row(r) for r in records]  # validate all before writing any
        inserted: list[LogRecord] = []
        with self._write() as db:
            for record, row in zip(records, rows, strict=True):
                cursor = db.execute(
                    "INSERT INTO session_log (session_id, n, time, type, record) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id, n) DO NOTHING",
                    row,
                )
                if cursor.rowcount != 1:
                    continue
                inserted.append(record)
                if record["type"] == "state":
                    self._apply_state(record)
            self._notify_log(r["session_id"] for r in inserted)
        return inserted

    def _notify_log(self, session_ids: Iterable[str]) -> None:
        if self._dialect.notify_log:
            for session_id in sorted(set(session_ids)):
                self._conn.execute(self._dialect.notify_log, (session_id,))

    def _apply_state(self, record: LogRecord) -> None:
        new_state = record.get("state")
        if not isinstance(new_state, str) or new_state not in _STATE_RANK:
            log.warning("ignoring unknown session state in %r", record)
            return
        session_id = record["session_id"]
        row = self._one("SELECT state, deployment_id FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            log.warning(
                "state record for unknown session %s kept without a state change", session_id
            )
            return
        if _STATE_RANK[new_state] <= _STATE_RANK[row["state"]]:
            return
        # A state report proves the workflow exists (or, for a session stopped
        # before it ran, that it must not be started any more): either way the
        # dispatcher has nothing left to start.
        if new_state in TERMINAL_SESSION_STATES:
            error = record.get("error")
            self._conn.execute(
                "UPDATE sessions SET state = ?, ended_at = ?, error = ?, start_pending = 0 "
                "WHERE id = ?",
                (
                    new_state,
                    float(record["time"]),
                    None if error is None else str(error),
                    session_id,
                ),
            )
            self._finish_draining(row["deployment_id"])
            self._conn.execute("DELETE FROM call_journal WHERE session_id = ?", (session_id,))
            if new_state != "error":
                # A failed session's transcript stays (until retention removes the
                # session): a restart from its failure reuses it.
                self._conn.execute("DELETE FROM transcripts WHERE session_id = ?", (session_id,))
        else:
            self._conn.execute(
                "UPDATE sessions SET state = ?, start_pending = 0 WHERE id = ?",
                (new_state, session_id),
            )

    def _finish_draining(self, deployment_id: str) -> None:
        row = self._one("SELECT state FROM deployments WHERE id = ?", (deployment_id,))
        if row is None or row["state"] != "draining":
            return
        if self._has_unfinished_sessions(deployment_id):
            return
        self._conn.execute(
            "UPDATE deployments SET state = 'inactive' WHERE id = ?", (deployment_id,)
        )
        log.info("deployment %s drained, now inactive", deployment_id)

    def get_log(self, session_id: str, after: int) -> list[LogRecord]:
        rows = self._all(
            "SELECT record FROM session_log WHERE session_id = ? AND n > ? ORDER BY n",
            (session_id, after),
        )
        return [cast(LogRecord, json.loads(r["record"])) for r in rows]

    # -- call journal ------------------------------------------------------------------
    def journal_call(
        self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]
    ) -> None:
        with self._write() as db:
            # Only for a session that has not ended: its end drops the journal,
            # and a late write (a worker that lost the race) must not outlive it.
            db.execute(
                "INSERT INTO call_journal (session_id, number, outcome, shown) "
                f"SELECT ?, ?, ?, ? WHERE {_SESSION_RUNS} "
                "ON CONFLICT (session_id, number) DO NOTHING",
                (session_id, number, outcome, _dumps(shown), session_id),
            )

    def journaled_call(self, session_id: str, number: int) -> tuple[bytes, dict[str, Any]] | None:
        row = self._one(
            "SELECT outcome, shown FROM call_journal WHERE session_id = ? AND number = ?",
            (session_id, number),
        )
        return None if row is None else (bytes(row["outcome"]), json.loads(row["shown"]))

    # -- transcripts of sessions that continued as new ----------------------------------
    def save_transcript(self, session_id: str, start: int, exchanges: list[str]) -> None:
        with self._write() as db:
            db.executemany(
                "INSERT INTO transcripts (session_id, seq, exchange) "
                f"SELECT ?, ?, ? WHERE {_SESSION_RUNS} "
                "ON CONFLICT (session_id, seq) DO NOTHING",
                [(session_id, start + i, e, session_id) for i, e in enumerate(exchanges)],
            )

    def load_transcript(self, session_id: str, start: int, limit: int) -> list[str]:
        rows = self._all(
            "SELECT exchange FROM transcripts WHERE session_id = ? AND seq >= ? "
            "ORDER BY seq LIMIT ?",
            (session_id, start, _limit(limit)),
        )
        return [str(r["exchange"]) for r in rows]


# The session named by the statement's last parameter exists and has not ended.
_SESSION_RUNS = "EXISTS (SELECT 1 FROM sessions WHERE id = ? AND state NOT IN ({}))".format(
    ", ".join(f"'{state}'" for state in sorted(TERMINAL_SESSION_STATES))
)


_ROW_NAMES = {
    "projects": "project",
    "deployments": "deployment",
    "events": "event",
    "sessions": "session",
}


def _limit(limit: int) -> int:
    # SQLite reads a negative LIMIT as "no limit"; a caller asking for less than
    # nothing gets nothing.
    return max(int(limit), 0)


def _where(**filters: str | None) -> tuple[str, tuple[str, ...]]:
    """`` WHERE a = ? AND b = ?`` for the filters that are set. Keys are our own
    column names, never caller input."""
    used = {column: value for column, value in filters.items() if value is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{c} = ?" for c in used), tuple(used.values())


def _log_row(record: LogRecord) -> tuple[str, int, float, str, str]:
    if not isinstance(record, dict):
        raise TypeError(f"a log record must be a dict, got {type(record).__name__}")
    session_id = record.get("session_id")
    n = record.get("n")
    at = record.get("time")
    kind = record.get("type")
    if not isinstance(session_id, str) or not session_id:
        raise ValueError(f"log record without a session_id: {record!r}")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < 2**63:
        raise ValueError(f"log record without a non-negative 64-bit integer n: {record!r}")
    # SQLite would store NaN as NULL, so only finite times get through.
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at):
        raise ValueError(f"log record without a finite numeric time: {record!r}")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"log record without a type: {record!r}")
    return session_id, n, float(at), kind, _dumps(record)


def _deployment(row: Row) -> DeploymentRecord:
    return DeploymentRecord(
        id=row["id"],
        project=row["project"],
        state=cast(DeploymentState, row["state"]),
        created_at=row["created_at"],
        manifest=json.loads(row["manifest"]),
        code_sha256=row["code_sha256"],
    )


def _event(row: Row) -> EventRecord:
    return EventRecord(
        id=row["id"],
        project=row["project"],
        trigger=row["trigger_name"],
        type=row["type"],
        data=json.loads(row["data"]),
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        state=cast(EventState, row["state"]),
        connection=row["connection_name"],
        matches=None if row["matches"] is None else json.loads(row["matches"]),
        replay_of=row["replay_of"],
    )


def _session(row: Row) -> SessionRecord:
    return SessionRecord(
        id=row["id"],
        project=row["project"],
        deployment_id=row["deployment_id"],
        trigger=row["trigger_name"],
        event_id=row["event_id"],
        call=row["call_target"],
        state=cast(SessionState, row["state"]),
        created_at=row["created_at"],
        ended_at=row["ended_at"],
        error=row["error"],
        start_pending=bool(row["start_pending"]),
        parent_session_id=row["parent_session_id"],
        reuse_from=row["reuse_from"],
        reuse_count=row["reuse_count"] or 0,
    )
