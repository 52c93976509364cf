"""Subscriptions of running sessions to events, their delivery outbox, and the
answers sessions give to synchronous webhooks.

Delivery is an outbox: the dispatcher writes a row per (subscription, event)
before it signals the session and flags it delivered once Temporal accepted the
signal. Delivered rows are kept while their subscription lives, so fanning the
same event out again (after a crash) writes nothing new.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, PawflowError
from ..ids import new_id
from ._records import (
    TERMINAL_SESSION_STATES,
    Delivery,
    EventRecord,
    HttpOutcome,
    SessionRecord,
    SubscriptionRecord,
)
from ._sql import Connection, Row

__all__ = ["MAX_SUBSCRIPTIONS_PER_SESSION", "SubscriptionQueries", "TooManySubscriptions"]

_SUBSCRIPTION_COLUMNS = "id, session_id, project, source, filter, created_at"

MAX_SUBSCRIPTIONS_PER_SESSION = 100
"""Live subscriptions one session may hold: each is matched against every new
event of its source, so a program subscribing in a loop would slow everyone."""


class TooManySubscriptions(PawflowError):
    """A session asked for a subscription beyond :data:`MAX_SUBSCRIPTIONS_PER_SESSION`."""


class SubscriptionQueries:
    """The subscription and HTTP-outcome queries of
    :class:`~pawflow.storage._db.Database` (a mixin)."""

    _conn: Connection

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

        def get_event(self, event_id: str) -> EventRecord | None: ...

        def get_session(self, session_id: str) -> SessionRecord | None: ...

    # -- subscriptions -----------------------------------------------------------------
    def add_subscription(
        self,
        session_id: str,
        source: str,
        filter: str | None,
        idempotency_key: str | None = None,
    ) -> SubscriptionRecord:
        with self._write() as db:
            session = self.get_session(session_id)
            if session is None:
                raise NotFoundError(f"no session {session_id!r}")
            if idempotency_key is not None:
                # A retried subscribe (same session, same key) gets the same one.
                digest = hashlib.sha256(f"{session_id}\0{idempotency_key}".encode()).hexdigest()
                subscription_id = "sub_" + digest[:26]
                existing = self.get_subscription(subscription_id)
                if existing is not None:
                    return existing
            else:
                subscription_id = new_id("sub")
            # Counted under the write lock, so concurrent subscribes cannot overshoot.
            (held,) = db.execute(
                "SELECT COUNT(*) FROM subscriptions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if held >= MAX_SUBSCRIPTIONS_PER_SESSION:
                raise TooManySubscriptions(
                    f"session {session_id} already holds {held} subscriptions, the most a "
                    f"session may ({MAX_SUBSCRIPTIONS_PER_SESSION}); unsubscribe one first"
                )
            record = SubscriptionRecord(
                id=subscription_id,
                session_id=session_id,
                project=session.project,
                source=source,
                filter=filter,
                # Events are delivered when they are not older than this.
                created_at=time.time(),
            )
            db.execute(
                f"INSERT INTO subscriptions ({_SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.session_id,
                    record.project,
                    record.source,
                    record.filter,
                    record.created_at,
                ),
            )
        return record

    def get_subscription(self, subscription_id: str) -> SubscriptionRecord | None:
        row = self._conn.execute(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
        ).fetchone()
        return None if row is None else _subscription(row)

    def list_subscriptions(self, session_id: str) -> list[SubscriptionRecord]:
        rows = self._conn.execute(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE session_id = ? "
            "ORDER BY created_at, id",
            (session_id,),
        ).fetchall()
        return [_subscription(r) for r in rows]

    def delete_subscription(self, subscription_id: str) -> bool:
        with self._write() as db:
            # The deliveries go with it (ON DELETE CASCADE).
            cursor = db.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
        return cursor.rowcount > 0

    def delete_session_subscriptions(self, session_id: str) -> int:
        with self._write() as db:
            cursor = db.execute("DELETE FROM subscriptions WHERE session_id = ?", (session_id,))
        return cursor.rowcount

    def subscriptions_for(
        self, project: str, sources: Sequence[str], created_at: float
    ) -> list[SubscriptionRecord]:
        names = list(dict.fromkeys(s for s in sources if s))
        if not names:
            return []
        marks = ", ".join("?" for _ in names)
        rows = self._conn.execute(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions "
            f"WHERE project = ? AND source IN ({marks}) AND created_at <= ? "
            "ORDER BY created_at, id",
            (project, *names, created_at),
        ).fetchall()
        return [_subscription(r) for r in rows]

    # -- the delivery outbox -----------------------------------------------------------
    def add_deliveries(self, event_id: str, subscription_ids: Sequence[str]) -> int:
        if not subscription_ids:
            return 0
        added = 0
        now = time.time()
        with self._write() as db:
            if (
                self._conn.execute("SELECT 1 FROM events WHERE id = ?", (event_id,)).fetchone()
                is None
            ):
                raise NotFoundError(f"no event {event_id!r}")
            for subscription_id in dict.fromkeys(subscription_ids):
                # A subscription deleted meanwhile gets nothing (the SELECT is empty).
                cursor = db.execute(
                    "INSERT INTO subscription_deliveries (subscription_id, event_id, created_at) "
                    "SELECT id, ?, ? FROM subscriptions WHERE id = ? "
                    "ON CONFLICT (subscription_id, event_id) DO NOTHING",
                    (event_id, now, subscription_id),
                )
                added += cursor.rowcount
        return added

    def pending_deliveries(self, limit: int) -> list[Delivery]:
        rows = self._conn.execute(
            "SELECT d.subscription_id, d.event_id, s.session_id "
            "FROM subscription_deliveries d JOIN subscriptions s ON s.id = d.subscription_id "
            "JOIN events e ON e.id = d.event_id WHERE d.delivered = 0 "
            "ORDER BY d.created_at, e.created_at, e.id, s.created_at, s.id LIMIT ?",
            (max(int(limit), 0),),
        ).fetchall()
        out: list[Delivery] = []
        for row in rows:
            event = self.get_event(row["event_id"])
            if event is not None:
                out.append(Delivery(row["subscription_id"], row["session_id"], event))
        return out

    def mark_delivered(self, subscription_id: str, event_id: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE subscription_deliveries SET delivered = 1 "
                "WHERE subscription_id = ? AND event_id = ?",
                (subscription_id, event_id),
            )

    # -- synchronous webhook outcomes --------------------------------------------------
    def set_http_outcome(self, session_id: str, outcome: HttpOutcome) -> bool:
        doc: dict[str, Any] = {"status": outcome.status, "headers": outcome.headers}
        if outcome.body is not None:
            doc["body"] = outcome.body
        else:
            doc["json"] = outcome.json
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        with self._write() as db:
            if self.get_session(session_id) is None:
                raise NotFoundError(f"no session {session_id!r}")
            cursor = db.execute(
                "INSERT INTO http_outcomes (session_id, outcome, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (session_id) DO NOTHING",
                (session_id, text, time.time()),
            )
        return cursor.rowcount == 1

    def get_http_outcome(self, session_id: str) -> HttpOutcome | None:
        row = self._conn.execute(
            "SELECT outcome FROM http_outcomes WHERE session_id = ?", (session_id,)
        ).fetchone()
        if row is None:
            return None
        doc = json.loads(row["outcome"])
        return HttpOutcome(
            status=int(doc["status"]),
            headers=dict(doc.get("headers") or {}),
            json=doc.get("json"),
            body=doc.get("body"),
        )

    def session_result(self, session_id: str) -> tuple[str, Any, str | None] | None:
        session = self.get_session(session_id)
        if session is None or session.state not in TERMINAL_SESSION_STATES:
            return None
        # The session's state is the first terminal state that arrived; later
        # terminal records are kept in the log but changed nothing.
        for row in self._conn.execute(
            "SELECT record FROM session_log WHERE session_id = ? AND type = 'state' ORDER BY n",
            (session_id,),
        ):
            record = json.loads(row["record"])
            if record.get("state") == session.state:
                return session.state, record.get("result"), session.error
        return session.state, None, session.error


def _subscription(row: Row) -> SubscriptionRecord:
    return SubscriptionRecord(
        id=row["id"],
        session_id=row["session_id"],
        project=row["project"],
        source=row["source"],
        filter=row["filter"],
        created_at=row["created_at"],
    )
