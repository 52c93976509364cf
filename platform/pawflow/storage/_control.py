"""Sessions started, restarted and stopped by hand (or by another session), and
the outbox telling a parent session that its child ended.

A manual session has an event of its own (type ``manual``, no trigger, already
``dispatched``) and is created ``start_pending``: the dispatcher starts its
workflow like any other session, calling the session's own ``call``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, cast

from ..errors import NotFoundError
from ..ids import new_id
from ._base import LogRecord
from ._records import (
    TERMINAL_SESSION_STATES,
    ChildNotice,
    DeploymentRecord,
    EventRecord,
    SessionRecord,
    SessionState,
)
from ._sources import MANUAL_SOURCE, child_source
from ._sql import Connection, Row

__all__ = ["MANUAL_EVENT_TYPE", "SessionControlQueries"]

MANUAL_EVENT_TYPE = "manual"


class SessionControlQueries:
    """The session-control queries of :class:`~pawflow.storage._db.Database` (a mixin)."""

    _conn: Connection

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _require_project(self, project: str) -> None: ...

        def _sessions_of_event(self, event_id: str) -> list[SessionRecord]: ...

        def _keyed_event(self, project: str, source: str, key: str | None) -> Row | None: ...

        def _apply_state(self, record: LogRecord) -> None: ...

        def _notify_log(self, session_ids: Iterable[str]) -> None: ...

        def get_event(self, event_id: str) -> EventRecord | None: ...

        def get_session(self, session_id: str) -> SessionRecord | None: ...

        def get_deployment(self, deployment_id: str) -> DeploymentRecord | None: ...

    def _insert_session(
        self,
        *,
        project: str,
        deployment_id: str,
        trigger: str,
        event_id: str | None,
        call: str,
        parent_session_id: str | None,
    ) -> SessionRecord:
        session_id = new_id("ses")
        self._conn.execute(
            "INSERT INTO sessions (id, project, deployment_id, trigger_name, event_id, "
            "call_target, state, created_at, ended_at, error, start_pending, parent_session_id) "
            "VALUES (?, ?, ?, ?, ?, ?, 'created', ?, NULL, NULL, 1, ?)",
            (
                session_id,
                project,
                deployment_id,
                trigger,
                event_id,
                call,
                time.time(),
                parent_session_id,
            ),
        )
        record = self.get_session(session_id)
        assert record is not None
        return record

    def start_manual_session(
        self,
        project: str,
        deployment_id: str,
        call: str,
        data: Any,
        parent_session_id: str | None,
        idempotency_key: str | None,
    ) -> tuple[SessionRecord | None, EventRecord, bool]:
        data_json = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        with self._write() as db:
            self._require_project(project)
            deployment = self.get_deployment(deployment_id)
            if deployment is None:
                raise NotFoundError(f"no deployment {deployment_id!r}")
            if deployment.project != project:
                raise ValueError(
                    f"deployment {deployment_id!r} belongs to {deployment.project!r}, "
                    f"not to {project!r}"
                )
            if parent_session_id is not None and self.get_session(parent_session_id) is None:
                raise NotFoundError(f"no session {parent_session_id!r}")
            # A session's children have a namespace of their own: no other
            # caller can pre-claim the keys of its pawflow.start calls.
            source = MANUAL_SOURCE if parent_session_id is None else child_source(parent_session_id)
            if idempotency_key is not None:
                row = self._keyed_event(project, source, idempotency_key)
                if row is not None:
                    event = self.get_event(row["id"])
                    assert event is not None
                    sessions = self._sessions_of_event(event.id)
                    usable = event.type == MANUAL_EVENT_TYPE and sessions
                    return (sessions[0] if usable else None), event, False
            event_id = new_id("evt")
            # Already 'dispatched': the session is made here, there is nothing to match.
            db.execute(
                "INSERT INTO events (id, project, trigger_name, type, data, idempotency_key, "
                "created_at, state, idempotency_source) "
                "VALUES (?, ?, NULL, ?, ?, ?, ?, 'dispatched', ?)",
                (
                    event_id,
                    project,
                    MANUAL_EVENT_TYPE,
                    data_json,
                    idempotency_key,
                    time.time(),
                    source,
                ),
            )
            session = self._insert_session(
                project=project,
                deployment_id=deployment_id,
                trigger="",
                event_id=event_id,
                call=call,
                parent_session_id=parent_session_id,
            )
            event = self.get_event(event_id)
            assert event is not None
        return session, event, True

    def restart_session(self, session_id: str) -> SessionRecord:
        with self._write():
            old = self.get_session(session_id)
            if old is None:
                raise NotFoundError(f"no session {session_id!r}")
            # Not a child of the old parent: that parent waits for the old id only.
            return self._insert_session(
                project=old.project,
                deployment_id=old.deployment_id,
                trigger=old.trigger,
                event_id=old.event_id,
                call=old.call,
                parent_session_id=None,
            )

    def record_stop(self, session_id: str, reason: str) -> LogRecord | None:
        with self._write():
            session = self.get_session(session_id)
            if session is None:
                raise NotFoundError(f"no session {session_id!r}")
            if session.state in TERMINAL_SESSION_STATES:
                return None
            row = self._conn.execute(
                "SELECT COALESCE(MAX(n), -1) + 1 AS n FROM session_log WHERE session_id = ?",
                (session_id,),
            ).fetchone()
            record: LogRecord = {
                "session_id": session_id,
                "n": int(row["n"]),
                "time": time.time(),
                "type": "state",
                "state": "stopped",
                "error": reason,
            }
            self._conn.execute(
                "INSERT INTO session_log (session_id, n, time, type, record) "
                "VALUES (?, ?, ?, 'state', ?)",
                (session_id, record["n"], record["time"], json.dumps(record)),
            )
            self._apply_state(record)
            self._notify_log([session_id])
        return record

    def untold_children(self, limit: int) -> list[ChildNotice]:
        terminal = tuple(sorted(TERMINAL_SESSION_STATES))
        rows = self._conn.execute(
            "SELECT id, parent_session_id, state, error FROM sessions c "
            "WHERE parent_session_id IS NOT NULL AND parent_notified = 0 "
            f"AND state IN ({', '.join('?' for _ in terminal)}) "
            # A parent whose workflow is not started yet (a restart that took
            # over the children of the session it restarts) is told later.
            "AND NOT EXISTS (SELECT 1 FROM sessions p "
            "WHERE p.id = c.parent_session_id AND p.start_pending = 1) "
            "ORDER BY ended_at, id LIMIT ?",
            (*terminal, max(int(limit), 0)),
        ).fetchall()
        return [
            ChildNotice(
                session_id=row["id"],
                parent_session_id=row["parent_session_id"],
                state=cast(SessionState, row["state"]),
                result=self._final_result(row["id"], row["state"]),
                error=row["error"],
            )
            for row in rows
        ]

    def _final_result(self, session_id: str, state: str) -> Any:
        # Only the workflow's own terminal record carries a result.
        for row in self._conn.execute(
            "SELECT record FROM session_log WHERE session_id = ? AND type = 'state' "
            "ORDER BY n DESC",
            (session_id,),
        ):
            record = json.loads(row["record"])
            if record.get("state") == state:
                return record.get("result")
        return None

    def mark_parent_told(self, session_id: str) -> None:
        with self._write() as db:
            db.execute("UPDATE sessions SET parent_notified = 1 WHERE id = ?", (session_id,))
