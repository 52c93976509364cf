"""The SQLite implementation of :class:`~pawflow.storage.Store`.

All database work runs on one thread owned by the store: the event loop never
blocks on disk, the connection never crosses threads, and there is a single
writer, so transactions within a process are serialised without extra locks.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StorageUnavailable
from ._base import LogRecord
from ._db import Database
from ._group import GroupCommitExecutor
from ._records import (
    ChildNotice,
    ConnectionWebhookRecord,
    Delivery,
    DeploymentRecord,
    EventRecord,
    HttpOutcome,
    KVEntry,
    NewSession,
    ProjectRecord,
    SessionRecord,
    SubscriptionRecord,
    VarRecord,
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
    executor = GroupCommitExecutor("pawflow-store")
    loop = asyncio.get_running_loop()
    try:
        db = await loop.run_in_executor(executor, Database.open, Path(path))
    except BaseException:
        executor.shutdown(wait=True)
        raise
    executor.use(db)
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

    def __init__(self, db: Database, executor: GroupCommitExecutor, path: Path) -> None:
        self._db = db
        self._executor = executor
        self._closed = False
        self.path = path

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._submit(True, functools.partial(fn, *args))

    async def _run_light(self, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`_run` for writes that need not wait for the disk, only the OS."""
        return await self._submit(False, functools.partial(fn, *args))

    async def _submit(self, durable: bool, work: Callable[[], T]) -> T:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        try:
            return await asyncio.wrap_future(self._executor.submit_work(durable, work))
        except sqlite3.Error as err:
            if getattr(err, "sqlite_errorname", "").startswith(("SQLITE_FULL", "SQLITE_IOERR")):
                raise StorageUnavailable(
                    f"the store cannot write ({err}): its disk is full or failing"
                ) from err
            raise

    async def close(self) -> None:
        """Close the connection and stop the database thread. Idempotent; work
        already submitted finishes first."""
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(self._executor.close, self._db.close)
        )

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
        connection: str | None = None,
        idempotency_source: str | None = None,
    ) -> tuple[EventRecord, bool]:
        """Commit (durably) a new ``pending`` event; returns (event, created). When
        ``idempotency_key`` was already used in this project by the same
        ``idempotency_source`` (see ``webhook_source`` and its siblings; by
        default the connection's, else the trigger's webhook's), nothing is
        written and the first event is returned with ``created=False``.
        ``connection`` names the connection an integration event came through.
        Raises NotFoundError for an unknown project."""
        return await self._run(
            self._db.add_event,
            project,
            trigger,
            type,
            data,
            idempotency_key,
            connection,
            idempotency_source,
        )

    async def pending_events(
        self, limit: int = 100, exclude: Collection[str] = ()
    ) -> list[EventRecord]:
        """Oldest first, leaving out the events whose ids are in ``exclude`` (the
        dispatcher's: events it is matching already, whose data may be large)."""
        return await self._run(self._db.pending_events, limit, list(exclude))

    async def match_event(
        self,
        event_id: str,
        sessions: list[NewSession],
        matches: list[dict[str, Any]] | None = None,
    ) -> list[SessionRecord]:
        """In one transaction: create the sessions (state ``created``,
        ``start_pending``) for the event and mark it ``dispatched`` (or
        ``unmatched`` when ``sessions`` is empty), keeping ``matches`` (how it was
        matched, as JSON) with it. Idempotent: an event that is no longer pending
        returns its existing sessions (oldest first) and writes nothing. Raises
        NotFoundError for an unknown event or deployment."""
        return await self._run(self._db.match_event, event_id, list(sessions), matches)

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
        # Need not wait for the disk: if lost, the start is made again, and
        # Temporal answers that the workflow exists.
        await self._run_light(self._db.mark_started, session_id)

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
        # Synced like Temporal's own history on the embedded server (not to the
        # disk): it stands in for history not written yet, and is needed only
        # when a worker dies, not the machine.
        await self._run_light(self._db.journal_call, session_id, number, outcome, shown)

    async def journaled_call(
        self, session_id: str, number: int
    ) -> tuple[bytes, dict[str, Any]] | None:
        """(outcome, shown) of a journaled call, or None."""
        return await self._run(self._db.journaled_call, session_id, number)

    # -- transcripts -------------------------------------------------------------------
    async def save_transcript(self, session_id: str, start: int, exchanges: list[str]) -> None:
        """Keep the session's answered requests ``start``, ``start + 1``... (JSON
        text each; the first copy of each wins) until the session ends."""
        await self._run(self._db.save_transcript, session_id, start, exchanges)

    async def load_transcript(
        self, session_id: str, start: int = 0, limit: int = 1000
    ) -> list[str]:
        """Up to ``limit`` saved answered requests from ``start`` on, in order."""
        return await self._run(self._db.load_transcript, session_id, start, limit)

    # -- vars and connection webhooks --------------------------------------------------
    async def set_var(
        self, project: str, connection: str | None, name: str, value: str, *, secret: bool
    ) -> VarRecord:
        """Create or replace the var (``connection`` None: a project var), creating
        the project if new. ``value`` is stored as given (a secret arrives sealed)."""
        return await self._run(self._db.set_var, project, connection, name, value, secret)

    async def delete_var(self, project: str, connection: str | None, name: str) -> bool:
        """Remove the var; False when there was none."""
        return await self._run(self._db.delete_var, project, connection, name)

    async def list_vars(self, project: str) -> list[VarRecord]:
        """The project's vars of every scope; project vars first, then by connection."""
        return await self._run(self._db.list_vars, project)

    async def ensure_connection_webhook(
        self, project: str, connection: str
    ) -> ConnectionWebhookRecord:
        """The webhook of (project, connection), made on first call. Raises
        NotFoundError for an unknown project."""
        return await self._run(self._db.ensure_connection_webhook, project, connection)

    async def resolve_connection_webhook(self, slug: str) -> ConnectionWebhookRecord | None:
        """The connection webhook with this slug, or None."""
        return await self._run(self._db.resolve_connection_webhook, slug)

    # -- key-value store ---------------------------------------------------------------
    async def kv_get(self, project: str, key: str) -> KVEntry | None:
        """The entry of ``key`` in the project's key-value store, or None."""
        return await self._run(self._db.kv_get, project, key)

    async def kv_list(self, project: str, prefix: str = "", limit: int = 10_000) -> list[KVEntry]:
        """Entries whose key starts with ``prefix``, in key order."""
        return await self._run(self._db.kv_list, project, prefix, limit)

    async def kv_set(self, project: str, key: str, value: Any) -> KVEntry:
        """Store the JSON ``value`` under ``key``."""
        return await self._run(self._db.kv_set, project, key, value)

    async def kv_delete(self, project: str, key: str) -> bool:
        """Remove ``key``; whether it existed."""
        return await self._run(self._db.kv_delete, project, key)

    async def kv_mutate(self, project: str, key: str, op: str, operand: Any = None) -> KVEntry:
        """Apply the atomic operation ``op`` (see ``KV_OPS``); the entry afterwards."""
        return await self._run(self._db.kv_mutate, project, key, op, operand)

    async def kv_check_and_set(
        self, project: str, key: str, expected: Any, new: Any
    ) -> tuple[bool, KVEntry | None]:
        """Store ``new`` if the value equals ``expected`` (None: if the key is missing);
        returns (swapped, the entry afterwards or None)."""
        return await self._run(self._db.kv_check_and_set, project, key, expected, new)

    # -- session control ---------------------------------------------------------------
    async def start_manual_session(
        self,
        *,
        project: str,
        deployment_id: str,
        call: str,
        data: Any,
        parent_session_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[SessionRecord | None, EventRecord, bool]:
        """In one transaction: a ``manual`` event carrying ``data`` and a
        ``start_pending`` session of the deployment calling ``call``; returns
        (session, event, created). Keys are namespaced: manual starts share one,
        each parent's children have their own. A reused ``idempotency_key`` writes
        nothing and returns the first session of the earlier event (None when it
        has none) with ``created=False``."""
        return await self._run(
            self._db.start_manual_session,
            project,
            deployment_id,
            call,
            data,
            parent_session_id,
            idempotency_key,
        )

    async def restart_session(self, session_id: str) -> SessionRecord:
        """A new ``start_pending`` session with the same event, deployment, trigger and
        call as ``session_id``. Raises NotFoundError for an unknown session."""
        return await self._run(self._db.restart_session, session_id)

    async def record_stop(self, session_id: str, reason: str) -> LogRecord | None:
        """Record that the session was stopped from outside (its workflow cannot):
        a ``state`` record ``stopped`` with the next free ``n`` and ``error=reason``.
        Returns it, or None when the session had already ended."""
        return await self._run(self._db.record_stop, session_id, reason)

    async def untold_children(self, limit: int = 100) -> list[ChildNotice]:
        """Ended sessions with a parent that has not been told yet, oldest first."""
        return await self._run(self._db.untold_children, limit)

    async def mark_parent_told(self, session_id: str) -> None:
        """Record that the parent of ``session_id`` was told that it ended."""
        await self._run(self._db.mark_parent_told, session_id)

    # -- subscriptions and synchronous webhook outcomes --------------------------------
    async def add_subscription(
        self,
        session_id: str,
        source: str,
        filter: str | None,
        idempotency_key: str | None = None,
    ) -> SubscriptionRecord:
        """Subscribe the session to the events of ``source`` committed from now on.
        Raises NotFoundError for an unknown session, TooManySubscriptions when it
        holds ``MAX_SUBSCRIPTIONS_PER_SESSION`` already. The same ``idempotency_key``
        for the same session returns the subscription made the first time."""
        return await self._run(
            self._db.add_subscription, session_id, source, filter, idempotency_key
        )

    async def get_subscription(self, subscription_id: str) -> SubscriptionRecord | None:
        """The subscription, or None."""
        return await self._run(self._db.get_subscription, subscription_id)

    async def list_subscriptions(self, session_id: str) -> list[SubscriptionRecord]:
        """The session's subscriptions, oldest first."""
        return await self._run(self._db.list_subscriptions, session_id)

    async def delete_subscription(self, subscription_id: str) -> bool:
        """Delete it and its outbox rows; False when there was none."""
        return await self._run(self._db.delete_subscription, subscription_id)

    async def delete_session_subscriptions(self, session_id: str) -> int:
        """Delete every subscription of the session; returns how many."""
        return await self._run(self._db.delete_session_subscriptions, session_id)

    async def subscriptions_for(
        self, project: str, sources: Sequence[str], created_at: float
    ) -> list[SubscriptionRecord]:
        """The project's subscriptions to any of ``sources`` made no later than
        ``created_at``, oldest first."""
        return await self._run(self._db.subscriptions_for, project, list(sources), created_at)

    async def add_deliveries(self, event_id: str, subscription_ids: Sequence[str]) -> int:
        """Put (subscription, event) rows in the delivery outbox, skipping pairs
        already there and subscriptions gone; returns how many were added.
        Raises NotFoundError for an unknown event."""
        return await self._run(self._db.add_deliveries, event_id, list(subscription_ids))

    async def pending_deliveries(self, limit: int = 100) -> list[Delivery]:
        """Outbox rows not delivered yet, in the order they were added."""
        return await self._run(self._db.pending_deliveries, limit)

    async def mark_delivered(self, subscription_id: str, event_id: str) -> None:
        """Flag the outbox row delivered (nothing happens if it is gone)."""
        await self._run(self._db.mark_delivered, subscription_id, event_id)

    async def set_http_outcome(self, session_id: str, outcome: HttpOutcome) -> bool:
        """Keep the session's answer to its synchronous webhook; only the first is
        kept (returns whether this one was). Raises NotFoundError for an unknown
        session."""
        return await self._run(self._db.set_http_outcome, session_id, outcome)

    async def get_http_outcome(self, session_id: str) -> HttpOutcome | None:
        """The session's answer to its synchronous webhook, or None."""
        return await self._run(self._db.get_http_outcome, session_id)

    async def session_result(self, session_id: str) -> tuple[str, Any, str | None] | None:
        """(state, result, error) of an ended session; None while it runs or if unknown."""
        return await self._run(self._db.session_result, session_id)
