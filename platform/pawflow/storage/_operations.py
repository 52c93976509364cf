"""Day-2 operations on the store: taking a deployment out of service, dispatching
an event again, and restarting a failed session from where it failed.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ..errors import NotFoundError
from ..ids import new_id
from ._control import MANUAL_EVENT_TYPE
from ._records import DeploymentRecord, EventRecord, SessionRecord
from ._sql import Connection

__all__ = ["OperationQueries"]

log = logging.getLogger(__name__)


class OperationQueries:
    """The operations queries of :class:`~pawflow.storage._db.Database` (a mixin)."""

    _conn: Connection

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _has_unfinished_sessions(self, deployment_id: str) -> bool: ...

        def _insert_session(
            self,
            *,
            project: str,
            deployment_id: str,
            trigger: str,
            event_id: str | None,
            call: str,
            parent_session_id: str | None,
        ) -> SessionRecord: ...

        def get_event(self, event_id: str) -> EventRecord | None: ...

        def _sessions_of_event(self, event_id: str) -> list[SessionRecord]: ...

        def get_session(self, session_id: str) -> SessionRecord | None: ...

        def get_deployment(self, deployment_id: str) -> DeploymentRecord | None: ...

    def deactivate_deployment(self, deployment_id: str) -> DeploymentRecord:
        with self._write() as db:
            target = self.get_deployment(deployment_id)
            if target is None:
                raise NotFoundError(f"no deployment {deployment_id!r}")
            if target.state != "active":
                return target
            state = "draining" if self._has_unfinished_sessions(deployment_id) else "inactive"
            db.execute("UPDATE deployments SET state = ? WHERE id = ?", (state, deployment_id))
        log.info("deployment %s of %s is now %s", deployment_id, target.project, state)
        found = self.get_deployment(deployment_id)
        assert found is not None
        return found

    def redispatch_event(self, event_id: str, deployment_id: str | None) -> EventRecord:
        """A new event with the old one's project, trigger, type and data.
        A manual start is no trigger's event: it comes with a new session of the
        same call on ``deployment_id`` (required then)."""
        with self._write() as db:
            old = self.get_event(event_id)
            if old is None:
                raise NotFoundError(f"no event {event_id!r}")
            manual = old.type == MANUAL_EVENT_TYPE
            started = self._sessions_of_event(event_id) if manual else []
            if manual and (deployment_id is None or not started):
                raise ValueError(f"event {event_id} started no session to start again")
            new = new_id("evt")
            # No idempotency key: the point is that it runs again. A trigger's
            # event is pending, so the dispatcher matches it against the
            # triggers active now.
            db.execute(
                "INSERT INTO events (id, project, trigger_name, type, data, idempotency_key, "
                "created_at, state, connection_name, idempotency_source, replay_of) "
                "SELECT ?, project, trigger_name, type, data, NULL, ?, ?, "
                "connection_name, idempotency_source, id FROM events WHERE id = ?",
                (new, time.time(), "dispatched" if manual else "pending", event_id),
            )
            if manual:
                assert deployment_id is not None
                self._insert_session(
                    project=old.project,
                    deployment_id=deployment_id,
                    trigger=started[0].trigger,
                    event_id=new,
                    call=started[0].call,
                    parent_session_id=None,
                )
        found = self.get_event(new)
        assert found is not None
        return found

    def delete_project(self, project: str) -> bool:
        """Delete the project and everything left of it in one transaction (the
        bulk of its sessions should be purged in batches first). Refuses, with
        ValueError, while one of its sessions has not ended."""
        with self._write() as db:
            if db.execute("SELECT 1 FROM projects WHERE name = ?", (project,)).fetchone() is None:
                return False
            running = db.execute(
                "SELECT COUNT(*) FROM sessions "
                "WHERE project = ? AND state IN ('created', 'running')",
                (project,),
            ).fetchone()[0]
            if running:
                raise ValueError(f"project {project!r} has {running} sessions that have not ended")
            sessions = "SELECT id FROM sessions WHERE project = ?"
            for statement in (
                f"DELETE FROM session_log WHERE session_id IN ({sessions})",
                f"DELETE FROM call_journal WHERE session_id IN ({sessions})",
                f"DELETE FROM transcripts WHERE session_id IN ({sessions})",
                f"DELETE FROM http_outcomes WHERE session_id IN ({sessions})",
                "DELETE FROM subscription_deliveries WHERE subscription_id IN "
                "(SELECT id FROM subscriptions WHERE project = ?)",
                "DELETE FROM subscriptions WHERE project = ?",
                # One statement: parents and children among them go together.
                "DELETE FROM sessions WHERE project = ?",
                "DELETE FROM subscription_deliveries WHERE event_id IN "
                "(SELECT id FROM events WHERE project = ?)",
                "DELETE FROM events WHERE project = ?",
                "DELETE FROM deployment_code WHERE deployment_id IN "
                "(SELECT id FROM deployments WHERE project = ?)",
                "DELETE FROM deployments WHERE project = ?",
                "DELETE FROM webhooks WHERE project = ?",
                "DELETE FROM connection_webhooks WHERE project = ?",
                "DELETE FROM vars WHERE project = ?",
                "DELETE FROM kv_store WHERE project = ?",
                "DELETE FROM projects WHERE name = ?",
            ):
                db.execute(statement, (project,))
        log.info("project %s deleted", project)
        return True

    def restart_from_failure(
        self, session_id: str, deployment_id: str, call: str, reuse_count: int
    ) -> SessionRecord:
        with self._write() as db:
            old = self.get_session(session_id)
            if old is None:
                raise NotFoundError(f"no session {session_id!r}")
            new = self._insert_session(
                project=old.project,
                deployment_id=deployment_id,
                trigger=old.trigger,
                event_id=old.event_id,
                call=call,
                parent_session_id=None,
            )
            db.execute(
                "UPDATE sessions SET reuse_from = ?, reuse_count = ? WHERE id = ?",
                (session_id, reuse_count, new.id),
            )
            # The children the failed session started are the new one's now (it
            # reuses their ids): it is told when each ends, or has ended.
            db.execute(
                "UPDATE sessions SET parent_session_id = ?, parent_notified = 0 "
                "WHERE parent_session_id = ?",
                (new.id, session_id),
            )
        found = self.get_session(new.id)
        assert found is not None
        return found
