"""The store's async face, shared by both back ends.

:class:`DatabaseStore` turns each method of the :class:`~pawflow.storage.Store`
protocol into one call of the shared blocking query (``_db.py``), run off the
event loop by the back end (``_sqlite.py``: one thread with group commit;
``_postgres.py``: a pool of threads, a connection each).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, TypeVar

from ._base import LogRecord
from ._db import Database
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
from ._retention import PURGE_BATCH, PurgeCounts
from ._status import StoreStatus
from ._workers import MAX_WORKERS, WorkerRecord

__all__ = ["DatabaseStore"]

T = TypeVar("T")


class DatabaseStore:
    """The store over a :class:`Database`; a back end provides :meth:`_submit`.

    Beyond the protocol: a ``state`` log record that moves a session out of
    ``created`` also clears ``start_pending`` (the workflow evidently exists, or
    the session ended before it started and must not be started), and unknown
    projects, deployments, events or sessions given to a mutating method raise
    :class:`~pawflow.errors.NotFoundError`.
    """

    _closed: bool = False
    _deployment_changes: int = 0

    @property
    def deployment_changes(self) -> int:
        """How many activations, deactivations and project deletions went
        through this store object: a cache of active deployments compares it
        to see its entries outdated (another store's changes it cannot see)."""
        return self._deployment_changes

    def _deployments_changed(self) -> None:
        self._deployment_changes += 1

    async def _submit(self, durable: bool, work: Callable[[Database], T]) -> T:
        """Run ``work`` on a database off the event loop. ``durable=False``: what
        it writes need survive a crash of any process, not of the machine."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def watch_log(
        self, session_id: str, wake: Callable[[], None]
    ) -> contextlib.AbstractContextManager[None]:
        """While the block runs, call ``wake`` (on the event loop) when records of
        ``session_id`` are appended through another store object on the same
        database, as promptly as the back end can tell. SQLite cannot: readers
        of another process's records re-read the store on their own."""
        return _nothing()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._submit(True, functools.partial(_call, fn, args))

    async def _run_light(self, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`_run` for writes that need not wait for the disk, only the OS."""
        return await self._submit(False, functools.partial(_call, fn, args))

    # -- projects and deployments ----------------------------------------------------
    async def create_deployment(
        self, project: str, manifest: dict[str, Any], code: bytes
    ) -> DeploymentRecord:
        """Create the project if new and a deployment in state ``inactive``."""
        return await self._run(Database.create_deployment, project, manifest, code)

    async def activate_deployment(self, deployment_id: str) -> DeploymentRecord:
        """Make the deployment ``active``; the project's previously active one becomes
        ``draining`` (or ``inactive`` right away when it has no unfinished sessions).
        Raises NotFoundError for an unknown id."""
        try:
            return await self._run(Database.activate_deployment, deployment_id)
        finally:
            # Also on failure: the change may be committed all the same.
            self._deployments_changed()

    async def get_deployment(self, deployment_id: str) -> DeploymentRecord | None:
        """The deployment, or None."""
        return await self._run(Database.get_deployment, deployment_id)

    async def get_deployment_code(self, deployment_id: str) -> bytes | None:
        """The deployment's code archive, or None."""
        return await self._run(Database.get_deployment_code, deployment_id)

    async def active_deployment(self, project: str) -> DeploymentRecord | None:
        """The project's active deployment, or None."""
        return await self._run(Database.active_deployment, project)

    async def list_projects(
        self, limit: int | None = None, before: str | None = None
    ) -> list[ProjectRecord]:
        """Projects, newest first; at most ``limit`` (None: all), only those listed
        after the project named ``before`` (NotFoundError if there is none)."""
        return await self._run(Database.list_projects, limit, before)

    async def list_deployments(
        self, project: str | None = None, limit: int | None = None, before: str | None = None
    ) -> list[DeploymentRecord]:
        """Newest first; at most ``limit`` of them (None: all), only those listed
        after deployment ``before`` (NotFoundError if there is none)."""
        return await self._run(Database.list_deployments, project, limit, before)

    # -- webhooks ----------------------------------------------------------------------
    async def ensure_webhook(self, project: str, trigger: str) -> WebhookRecord:
        """The webhook of (project, trigger), created with a new random slug on first
        call and the same one forever after. Raises NotFoundError for an unknown
        project."""
        return await self._run(Database.ensure_webhook, project, trigger)

    async def resolve_webhook(self, slug: str) -> WebhookRecord | None:
        """The webhook with this slug, or None."""
        return await self._run(Database.resolve_webhook, slug)

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
            Database.add_event,
            project,
            trigger,
            type,
            data,
            idempotency_key,
            connection,
            idempotency_source,
        )

    async def claim_events(
        self,
        owner: str,
        *,
        lease_seconds: float,
        limit: int = 100,
        exclude: Collection[str] = (),
    ) -> list[EventRecord]:
        """See :meth:`pawflow.storage.Store.claim_events`."""
        # Need not wait for the disk: a claim lost in a crash is one the
        # crashed server held anyway, and matching is idempotent.
        return await self._run_light(
            Database.claim_events, owner, lease_seconds, limit, list(exclude)
        )

    async def claim_event(self, owner: str, *, lease_seconds: float, event_id: str) -> bool:
        """See :meth:`pawflow.storage.Store.claim_event`."""
        # Need not wait for the disk, as claim_events.
        return await self._run_light(Database.claim_event, owner, lease_seconds, event_id)

    async def pending_events(
        self, limit: int = 100, exclude: Collection[str] = ()
    ) -> list[EventRecord]:
        """Oldest first, leaving out the events whose ids are in ``exclude`` (the
        dispatcher's: events it is matching already, whose data may be large)."""
        return await self._run(Database.pending_events, limit, list(exclude))

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
        return await self._run(Database.match_event, event_id, list(sessions), matches)

    async def get_event(self, event_id: str) -> EventRecord | None:
        """The event, or None."""
        return await self._run(Database.get_event, event_id)

    async def list_events(
        self, project: str | None = None, limit: int = 100, before: str | None = None
    ) -> list[EventRecord]:
        """Newest first; only those listed after event ``before`` when given
        (NotFoundError if there is none)."""
        return await self._run(Database.list_events, project, limit, before)

    # -- sessions ----------------------------------------------------------------------
    async def sessions_to_start(self, limit: int = 100) -> list[SessionRecord]:
        """Sessions whose workflow start is not acknowledged yet, oldest first."""
        return await self._run(Database.sessions_to_start, limit)

    async def mark_started(self, session_id: str) -> None:
        """Record that the session's workflow start was acknowledged. Raises
        NotFoundError for an unknown session."""
        # Need not wait for the disk: if lost, the start is made again, and
        # Temporal answers that the workflow exists.
        await self._run_light(Database.mark_started, session_id)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session, or None."""
        return await self._run(Database.get_session, session_id)

    async def list_sessions(
        self,
        *,
        project: str | None = None,
        event_id: str | None = None,
        state: str | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[SessionRecord]:
        """Newest first; the filters that are given must all match; only those
        listed after session ``before`` when given (NotFoundError if there is none)."""
        return await self._run(Database.list_sessions, project, event_id, state, limit, before)

    # -- session logs ------------------------------------------------------------------
    async def append_log(self, records: list[LogRecord]) -> list[LogRecord]:
        """Insert records, ignoring any whose (session_id, n) exists; returns the
        ones actually inserted, in the given order. A ``state`` record also moves
        its session forward (created → running → completed|error|stopped, never
        backwards; the first terminal state is final), sets ``ended_at``/``error``
        on a terminal state, and moves a ``draining`` deployment with no
        unfinished sessions left to ``inactive``. Raises ValueError, writing
        nothing, when a record lacks a valid session_id, n, time or type."""
        return await self._run(Database.append_log, list(records))

    async def get_log(self, session_id: str, after: int = -1) -> list[LogRecord]:
        """Records with n > after, in n order."""
        return await self._run(Database.get_log, session_id, after)

    # -- call journal ------------------------------------------------------------------
    async def journal_call(
        self, session_id: str, number: int, outcome: bytes, shown: dict[str, Any]
    ) -> None:
        """Keep the outcome of the session's completed call ``number`` (the first
        one written wins) until the session ends."""
        # Synced like Temporal's own history on the embedded server (not to the
        # disk): it stands in for history not written yet, and is needed only
        # when a worker dies, not the machine.
        await self._run_light(Database.journal_call, session_id, number, outcome, shown)

    async def journaled_call(
        self, session_id: str, number: int
    ) -> tuple[bytes, dict[str, Any]] | None:
        """(outcome, shown) of a journaled call, or None."""
        return await self._run(Database.journaled_call, session_id, number)

    # -- transcripts -------------------------------------------------------------------
    async def save_transcript(self, session_id: str, start: int, exchanges: list[str]) -> None:
        """Keep the session's answered requests ``start``, ``start + 1``... (JSON
        text each; the first copy of each wins) until the session ends."""
        await self._run(Database.save_transcript, session_id, start, exchanges)

    async def load_transcript(
        self, session_id: str, start: int = 0, limit: int = 1000
    ) -> list[str]:
        """Up to ``limit`` saved answered requests from ``start`` on, in order."""
        return await self._run(Database.load_transcript, session_id, start, limit)

    # -- vars and connection webhooks --------------------------------------------------
    async def set_var(
        self, project: str, connection: str | None, name: str, value: str, *, secret: bool
    ) -> VarRecord:
        """Create or replace the var (``connection`` None: a project var), creating
        the project if new. ``value`` is stored as given (a secret arrives sealed)."""
        return await self._run(Database.set_var, project, connection, name, value, secret)

    async def delete_var(self, project: str, connection: str | None, name: str) -> bool:
        """Remove the var; False when there was none."""
        return await self._run(Database.delete_var, project, connection, name)

    async def list_vars(self, project: str) -> list[VarRecord]:
        """The project's vars of every scope; project vars first, then by connection."""
        return await self._run(Database.list_vars, project)

    async def ensure_connection_webhook(
        self, project: str, connection: str
    ) -> ConnectionWebhookRecord:
        """The webhook of (project, connection), made on first call. Raises
        NotFoundError for an unknown project."""
        return await self._run(Database.ensure_connection_webhook, project, connection)

    async def resolve_connection_webhook(self, slug: str) -> ConnectionWebhookRecord | None:
        """The connection webhook with this slug, or None."""
        return await self._run(Database.resolve_connection_webhook, slug)

    # -- key-value store ---------------------------------------------------------------
    async def kv_get(self, project: str, key: str) -> KVEntry | None:
        """The entry of ``key`` in the project's key-value store, or None."""
        return await self._run(Database.kv_get, project, key)

    async def kv_list(
        self, project: str, prefix: str = "", limit: int = 10_000, after: str | None = None
    ) -> list[KVEntry]:
        """Entries whose key starts with ``prefix``, in key order; only keys after
        ``after`` when given."""
        return await self._run(Database.kv_list, project, prefix, limit, after)

    async def kv_set(self, project: str, key: str, value: Any) -> KVEntry:
        """Store the JSON ``value`` under ``key``."""
        return await self._run(Database.kv_set, project, key, value)

    async def kv_delete(self, project: str, key: str) -> bool:
        """Remove ``key``; whether it existed."""
        return await self._run(Database.kv_delete, project, key)

    async def kv_mutate(self, project: str, key: str, op: str, operand: Any = None) -> KVEntry:
        """Apply the atomic operation ``op`` (see ``KV_OPS``); the entry afterwards."""
        return await self._run(Database.kv_mutate, project, key, op, operand)

    async def kv_check_and_set(
        self, project: str, key: str, expected: Any, new: Any
    ) -> tuple[bool, KVEntry | None]:
        """Store ``new`` if the value equals ``expected`` (None: if the key is missing);
        returns (swapped, the entry afterwards or None)."""
        return await self._run(Database.kv_check_and_set, project, key, expected, new)

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
            Database.start_manual_session,
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
        return await self._run(Database.restart_session, session_id)

    async def deactivate_deployment(self, deployment_id: str) -> DeploymentRecord:
        """Take an active deployment out of service: ``draining`` while it has
        unfinished sessions, else ``inactive``; any other is returned unchanged."""
        try:
            return await self._run(Database.deactivate_deployment, deployment_id)
        finally:
            self._deployments_changed()

    async def redispatch_event(self, event_id: str, deployment_id: str | None) -> EventRecord:
        """A new event (``replay_of`` the old one) with its project, trigger, type
        and data; a manual start's comes with a new session on ``deployment_id``."""
        return await self._run(Database.redispatch_event, event_id, deployment_id)

    async def delete_project(self, project: str) -> bool:
        """Delete the project and all that is left of it; False when there was none."""
        try:
            return await self._run(Database.delete_project, project)
        finally:
            self._deployments_changed()

    async def restart_from_failure(
        self, session_id: str, deployment_id: str, call: str, reuse_count: int
    ) -> SessionRecord:
        """A new session of the failed one's event and trigger, calling ``call``
        on ``deployment_id``, that reuses the first ``reuse_count`` answers of its
        transcript."""
        return await self._run(
            Database.restart_from_failure, session_id, deployment_id, call, reuse_count
        )

    async def record_stop(self, session_id: str, reason: str) -> LogRecord | None:
        """Record that the session was stopped from outside (its workflow cannot):
        a ``state`` record ``stopped`` with the next free ``n`` and ``error=reason``.
        Returns it, or None when the session had already ended."""
        return await self._run(Database.record_stop, session_id, reason)

    async def untold_children(self, limit: int = 100) -> list[ChildNotice]:
        """Ended sessions with a parent that has not been told yet, oldest first."""
        return await self._run(Database.untold_children, limit)

    async def mark_parent_told(self, session_id: str) -> None:
        """Record that the parent of ``session_id`` was told that it ended."""
        await self._run(Database.mark_parent_told, session_id)

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
            Database.add_subscription, session_id, source, filter, idempotency_key
        )

    async def get_subscription(self, subscription_id: str) -> SubscriptionRecord | None:
        """The subscription, or None."""
        return await self._run(Database.get_subscription, subscription_id)

    async def list_subscriptions(self, session_id: str) -> list[SubscriptionRecord]:
        """The session's subscriptions, oldest first."""
        return await self._run(Database.list_subscriptions, session_id)

    async def delete_subscription(self, subscription_id: str) -> bool:
        """Delete it and its outbox rows; False when there was none."""
        return await self._run(Database.delete_subscription, subscription_id)

    async def delete_session_subscriptions(self, session_id: str) -> int:
        """Delete every subscription of the session; returns how many."""
        return await self._run(Database.delete_session_subscriptions, session_id)

    async def subscriptions_for(
        self, project: str, sources: Sequence[str], created_at: float
    ) -> list[SubscriptionRecord]:
        """The project's subscriptions to any of ``sources`` made no later than
        ``created_at``, oldest first."""
        return await self._run(Database.subscriptions_for, project, list(sources), created_at)

    async def add_deliveries(self, event_id: str, subscription_ids: Sequence[str]) -> int:
        """Put (subscription, event) rows in the delivery outbox, skipping pairs
        already there and subscriptions gone; returns how many were added.
        Raises NotFoundError for an unknown event."""
        return await self._run(Database.add_deliveries, event_id, list(subscription_ids))

    async def pending_deliveries(self, limit: int = 100) -> list[Delivery]:
        """Outbox rows not delivered yet, in the order they were added."""
        return await self._run(Database.pending_deliveries, limit)

    async def mark_delivered(self, subscription_id: str, event_id: str) -> None:
        """Flag the outbox row delivered (nothing happens if it is gone)."""
        await self._run(Database.mark_delivered, subscription_id, event_id)

    async def set_http_outcome(self, session_id: str, outcome: HttpOutcome) -> bool:
        """Keep the session's answer to its synchronous webhook; only the first is
        kept (returns whether this one was). Raises NotFoundError for an unknown
        session."""
        return await self._run(Database.set_http_outcome, session_id, outcome)

    async def get_http_outcome(self, session_id: str) -> HttpOutcome | None:
        """The session's answer to its synchronous webhook, or None."""
        return await self._run(Database.get_http_outcome, session_id)

    async def session_result(self, session_id: str) -> tuple[str, Any, str | None] | None:
        """(state, result, error) of an ended session; None while it runs or if unknown."""
        return await self._run(Database.session_result, session_id)

    # -- workers' heartbeats -----------------------------------------------------------
    async def record_worker(self, worker: WorkerRecord) -> None:
        """See :meth:`pawflow.storage.Store.record_worker`."""
        # Need not wait for the disk: a beat lost in a crash is sent again in seconds.
        await self._run_light(Database.record_worker, worker)

    async def prune_workers(self, seen_before: float, keep: int = MAX_WORKERS) -> int:
        """See :meth:`pawflow.storage.Store.prune_workers`."""
        # Need not wait for the disk either: a deletion lost is made again next time.
        return await self._run_light(Database.prune_workers, seen_before, keep)

    async def list_workers(
        self, seen_since: float = 0.0, limit: int = MAX_WORKERS
    ) -> list[WorkerRecord]:
        """See :meth:`pawflow.storage.Store.list_workers`."""
        return await self._run(Database.list_workers, seen_since, limit)

    # -- settings shared by the servers of the database ---------------------------------
    async def get_setting(self, name: str) -> str | None:
        """See :meth:`pawflow.storage.Store.get_setting`."""
        return await self._run(Database.get_setting, name)

    async def put_setting_if_absent(self, name: str, value: str) -> str:
        """See :meth:`pawflow.storage.Store.put_setting_if_absent`."""
        return await self._run(Database.put_setting_if_absent, name, value)

    async def replace_setting(self, name: str, expected: str, value: str) -> bool:
        """See :meth:`pawflow.storage.Store.replace_setting`."""
        return await self._run(Database.replace_setting, name, expected, value)

    async def store_status(self) -> StoreStatus:
        """Sessions by state, events waiting to be dispatched, the oldest running
        session and the store's size (``paw status``)."""
        return await self._run(Database.store_status)

    async def count_secret_vars(self) -> int:
        """See :meth:`pawflow.storage.Store.count_secret_vars`."""
        return await self._run(Database.count_secret_vars)

    # -- retention ----------------------------------------------------------------------
    async def purge(
        self,
        project: str,
        *,
        cutoff: float | None = None,
        keep: int | None = None,
        limit: int = PURGE_BATCH,
    ) -> PurgeCounts:
        """See :meth:`pawflow.storage.Store.purge`."""
        # Need not wait for the disk: a deletion lost in a crash is made again.
        return await self._run_light(Database.purge, project, cutoff, keep, limit)

    async def reclaim_space(self) -> int:
        """See :meth:`pawflow.storage.Store.reclaim_space`; here, nothing to do."""
        return 0


def _call(fn: Callable[..., T], args: tuple[Any, ...], db: Database) -> T:
    return fn(db, *args)


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield
