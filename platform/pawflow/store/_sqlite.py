"""The SQLite implementation of :class:`~pawflow.store.Store`.

All database work runs on one thread owned by the store: the event loop never
blocks on disk, the connection never crosses threads, and there is a single
writer, so transactions within a process are serialised without extra locks.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ._base import LogRecord
from ._db import Database
from ._records import (
    DeploymentRecord,
    EventRecord,
    NewSession,
    ProjectRecord,
    SessionRecord,
    WebhookRecord,
)

__all__ = ["SQLiteStore", "open_store"]

log = logging.getLogger(__name__)

T = TypeVar("T")


async def open_store(path: Path) -> SQLiteStore:
    """Open (creating it and its directory if needed) the SQLite store at ``path``
    and bring its schema up to date.

    Raises :class:`~pawflow.errors.ConfigError` when the file cannot be opened, is
    not a database, or was written by a newer Pawflow.
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pawflow-store")
    loop = asyncio.get_running_loop()
    try:
        db = await loop.run_in_executor(executor, Database.open, Path(path))
    except BaseException:
        executor.shutdown(wait=True)
        raise
    log.debug("store opened at %s", path)
    return SQLiteStore(db, executor, Path(path))


class SQLiteStore:
    """The store in one SQLite file (WAL, synchronous=FULL). Build it with
    :func:`open_store`; every method is safe to call concurrently.

    Beyond the protocol: a ``state`` log record that moves a session out of
    ``created`` also clears ``start_pending`` (the workflow evidently exists, or
    the session ended before it started and must not be started), and unknown
    projects, deployments, events or sessions given to a mutating method raise
    :class:`~pawflow.errors.NotFoundError`.
    """

    def __init__(self, db: Database, executor: ThreadPoolExecutor, path: Path) -> None:
        self._db = db
        self._executor = executor
        self._closed = False
        self.path = path

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def close(self) -> None:
        """Close the connection and stop the database thread. Idempotent; work
        already submitted finishes first."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._db.close)
        finally:
            # The queue is drained by now, so this only joins an idle thread.
            self._executor.shutdown(wait=True)

    # -- projects and deployments ----------------------------------------------------
    async def create_deployment(
        self, project: str, manifest: dict[str, Any], code: bytes
    ) -> DeploymentRecord:
        """Create the project if new and a deployment in state ``inactive``."""
        return await self._run(self._db.create_deployment, project, manifest, code)

    async def activate_deployment(self, deployment_id: str) -> DeploymentRecord:
        """Make the deployment ``active``; the project's previously active one becomes
        ``draining`` (or ``inactive`` right away when it has no unfinished sessions).
        Raises NotFoundError for an unknown id."""
        return await self._run(self._db.activate_deployment, deployment_id)

    async def get_deployment(self, deployment_id: str) -> DeploymentRecord | None:
        """The deployment, or None."""
        return await self._run(self._db.get_deployment, deployment_id)

    async def get_deployment_code(self, deployment_id: str) -> bytes | None:
        """The deployment's code archive, or None."""
        return await self._run(self._db.get_deployment_code, deployment_id)

    async def active_deployment(self, project: str) -> DeploymentRecord | None:
        """The project's active deployment, or None."""
        return await self._run(self._db.active_deployment, project)

    async def list_projects(self) -> list[ProjectRecord]:
        """All projects, newest first."""
        return await self._run(self._db.list_projects)

    async def list_deployments(self, project: str | None = None) -> list[DeploymentRecord]:
        """Newest first."""
        return await self._run(self._db.list_deployments, project)

    # -- webhooks ----------------------------------------------------------------------
    async def ensure_webhook(self, project: str, trigger: str) -> WebhookRecord:
        """The webhook of (project, trigger), created with a new random slug on first
        call and the same one forever after. Raises NotFoundError for an unknown
        project."""
        return await self._run(self._db.ensure_webhook, project, trigger)

    async def resolve_webhook(self, slug: str) -> WebhookRecord | None:
        """The webhook with this slug, or None."""
        return await self._run(self._db.resolve_webhook, slug)

    # -- events ------------------------------------------------------------------------
    async def add_event(
        self,
        *,
        project: str,
        trigger: str | None,
        type: str,
        data: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> tuple[EventRecord, bool]:
        """Commit (durably) a new ``pending`` event; returns (event, created). When
        ``idempotency_key`` was already used for this project, nothing is written
        and the first event is returned with ``created=False``. Raises
        NotFoundError for an unknown project."""
        return await self._run(self._db.add_event, project, trigger, type, data, idempotency_key)

    async def pending_events(self, limit: int = 100) -> list[EventRecord]:
        """Oldest first."""
        return await self._run(self._db.pending_events, limit)

    async def match_event(self, event_id: str, sessions: list[NewSession]) -> list[SessionRecord]:
        """In one transaction: create the sessions (state ``created``,
        ``start_pending``) for the event and mark it ``dispatched`` (or
        ``unmatched`` when ``sessions`` is empty). Idempotent: an event that is no
        longer pending returns its existing sessions (oldest first) and writes
        nothing. Raises NotFoundError for an unknown event or deployment."""
        return await self._run(self._db.match_event, event_id, list(sessions))

    async def get_event(self, event_id: str) -> EventRecord | None:
        """The event, or None."""
        return await self._run(self._db.get_event, event_id)

    async def list_events(self, project: str | None = None, limit: int = 100) -> list[EventRecord]:
        """Newest first."""
        return await self._run(self._db.list_events, project, limit)

    # -- sessions ----------------------------------------------------------------------
    async def sessions_to_start(self, limit: int = 100) -> list[SessionRecord]:
        """Sessions whose workflow start is not acknowledged yet, oldest first."""
        return await self._run(self._db.sessions_to_start, limit)

    async def mark_started(self, session_id: str) -> None:
        """Record that the session's workflow start was acknowledged. Raises
        NotFoundError for an unknown session."""
        await self._run(self._db.mark_started, session_id)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session, or None."""
        return await self._run(self._db.get_session, session_id)

    async def list_sessions(
        self,
        *,
        project: str | None = None,
        event_id: str | None = None,
        state: str | None = None,
        limit: int = 100,
    ) -> list[SessionRecord]:
        """Newest first; the filters that are given must all match."""
        return await self._run(self._db.list_sessions, project, event_id, state, limit)

    # -- session logs ------------------------------------------------------------------
    async def append_log(self, records: list[LogRecord]) -> list[LogRecord]:
        """Insert records, ignoring any whose (session_id, n) exists; returns the
        ones actually inserted, in the given order. A ``state`` record also moves
        its session forward (created → running → completed|error|stopped, never
        backwards; the first terminal state is final), sets ``ended_at``/``error``
        on a terminal state, and moves a ``draining`` deployment with no
        unfinished sessions left to ``inactive``. Raises ValueError, writing
        nothing, when a record lacks a valid session_id, n, time or type."""
        return await self._run(self._db.append_log, list(records))

    async def get_log(self, session_id: str, after: int = -1) -> list[LogRecord]:
        """Records with n > after, in n order."""
        return await self._run(self._db.get_log, session_id, after)

    # -- call journal ------------------------------------------------------------------
    async def journal_call(
        self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]
    ) -> None:
        """Keep the outcome of the session's completed call ``number`` (the first
        one written wins) until the session ends."""
        await self._run(self._db.journal_call, session_id, number, outcome, shown)

    async def journaled_call(
        self, session_id: str, number: int
    ) -> tuple[bytes, dict[str, Any]] | None:
        """(outcome, shown) of a journaled call, or None."""
        return await self._run(self._db.journaled_call, session_id, number)
