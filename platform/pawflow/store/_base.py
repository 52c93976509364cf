"""The store interface. Callers depend on this protocol only, never on SQLite."""

from __future__ import annotations

from typing import Any, Protocol

from ._records import (
    DeploymentRecord,
    EventRecord,
    NewSession,
    ProjectRecord,
    SessionRecord,
    WebhookRecord,
)

# A session log record is plain JSON data:
#   {"session_id": str, "n": int, "time": float, "type": str, ...type-specific fields}
# where n numbers the session's records from 0 (call records carry their own "seq",
# the number of the external call they describe)
# (session_id, n) is its identity: appending the same pair twice keeps the first.
LogRecord = dict[str, Any]


class Store(Protocol):
    """Durable state of the platform. Every method is safe to call concurrently."""

    async def close(self) -> None: ...

    # -- projects and deployments ------------------------------------------------
    async def create_deployment(
        self, project: str, manifest: dict[str, Any], code: bytes
    ) -> DeploymentRecord:
        """Create the project if new and a deployment in state ``inactive``."""
        ...

    async def activate_deployment(self, deployment_id: str) -> DeploymentRecord:
        """Make the deployment ``active``; the project's previously active one becomes
        ``draining`` (or ``inactive`` right away when it has no unfinished sessions)."""
        ...

    async def get_deployment(self, deployment_id: str) -> DeploymentRecord | None: ...

    async def get_deployment_code(self, deployment_id: str) -> bytes | None: ...

    async def active_deployment(self, project: str) -> DeploymentRecord | None: ...

    async def list_projects(self) -> list[ProjectRecord]: ...

    async def list_deployments(self, project: str | None = None) -> list[DeploymentRecord]:
        """Newest first."""
        ...

    # -- webhooks ----------------------------------------------------------------
    async def ensure_webhook(self, project: str, trigger: str) -> WebhookRecord:
        """The webhook of (project, trigger), created with a new random slug on first
        call and the same one forever after (URLs survive redeploys)."""
        ...

    async def resolve_webhook(self, slug: str) -> WebhookRecord | None: ...

    # -- events (the outbox) -----------------------------------------------------
    async def add_event(
        self,
        *,
        project: str,
        trigger: str | None,
        type: str,
        data: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> tuple[EventRecord, bool]:
        """Commit a new ``pending`` event; returns (event, created). When
        ``idempotency_key`` was already used for this project, nothing is written
        and the first event is returned with ``created=False``."""
        ...

    async def pending_events(self, limit: int = 100) -> list[EventRecord]:
        """Oldest first."""
        ...

    async def match_event(self, event_id: str, sessions: list[NewSession]) -> list[SessionRecord]:
        """In one transaction: create the sessions (state ``created``,
        ``start_pending``) for the event and mark it ``dispatched`` (or
        ``unmatched`` when ``sessions`` is empty). Idempotent: an event that is no
        longer pending returns its existing sessions and writes nothing."""
        ...

    async def get_event(self, event_id: str) -> EventRecord | None: ...

    async def list_events(self, project: str | None = None, limit: int = 100) -> list[EventRecord]:
        """Newest first."""
        ...

    # -- sessions ----------------------------------------------------------------
    async def sessions_to_start(self, limit: int = 100) -> list[SessionRecord]:
        """Sessions whose workflow start is not acknowledged yet, oldest first."""
        ...

    async def mark_started(self, session_id: str) -> None: ...

    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    async def list_sessions(
        self,
        *,
        project: str | None = None,
        event_id: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[SessionRecord]:
        """Newest first."""
        ...

    # -- session logs ------------------------------------------------------------
    async def append_log(self, records: list[LogRecord]) -> list[LogRecord]:
        """Insert records, ignoring any whose (session_id, n) exists; returns the
        ones actually inserted. A ``state`` record also moves its session forward
        (created → running → completed|error|stopped, never backwards), sets
        ``ended_at``/``error`` on a terminal state, and moves a ``draining``
        deployment with no unfinished sessions left to ``inactive``."""
        ...

    async def get_log(self, session_id: str, after: int = -1) -> list[LogRecord]:
        """Records with n > after, in n order."""
        ...

    # -- call journal ------------------------------------------------------------
    async def journal_call(
        self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]
    ) -> None:
        """Keep the outcome of the session's completed external call ``number``
        (the first one written wins) until the session ends."""
        ...

    async def journaled_call(
        self, session_id: str, number: int
    ) -> tuple[bytes, dict[str, Any]] | None:
        """(outcome, shown) of a journaled call, or None."""
        ...
