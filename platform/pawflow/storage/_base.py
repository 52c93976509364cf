"""The store interface. Callers depend on this protocol only, never on a back end."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

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

    async def list_projects(
        self, limit: int | None = None, before: str | None = None
    ) -> list[ProjectRecord]:
        """Newest first; at most ``limit`` (None: all); after project ``before``."""
        ...

    async def list_deployments(
        self, project: str | None = None, limit: int | None = None, before: str | None = None
    ) -> list[DeploymentRecord]:
        """Newest first; at most ``limit`` of them (None: all); after deployment ``before``."""
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
        connection: str | None = None,
        idempotency_source: str | None = None,
    ) -> tuple[EventRecord, bool]:
        """Commit a new ``pending`` event; returns (event, created). When
        ``idempotency_key`` was already used in this project by the same
        ``idempotency_source`` (the namespace of whoever chose the key: see
        ``webhook_source`` and its siblings; by default the connection's, else
        the trigger's webhook's), nothing is written and the first event is
        returned with ``created=False``. ``connection``: the connection an
        integration event came through (None otherwise)."""
        ...

    async def pending_events(
        self, limit: int = 100, exclude: Collection[str] = ()
    ) -> list[EventRecord]:
        """Oldest first, leaving out the events whose ids are in ``exclude``."""
        ...

    async def claim_events(
        self,
        owner: str,
        *,
        lease_seconds: float,
        limit: int = 100,
        exclude: Collection[str] = (),
    ) -> list[EventRecord]:
        """Like :meth:`pending_events`, but only events no other ``owner`` holds a
        live claim on, and each returned one is now claimed by ``owner`` for
        ``lease_seconds`` (renewing its own claims). Servers sharing a database
        each match only what they claimed; a claim of a server that died runs
        out and the event is taken by another."""
        ...

    async def claim_event(self, owner: str, *, lease_seconds: float, event_id: str) -> bool:
        """Claim one event, as :meth:`claim_events` claims each, for a caller that
        has it at hand: whether it is now claimed by ``owner`` (it is pending and
        no other owner holds a live claim), without reading it."""
        ...

    async def match_event(
        self,
        event_id: str,
        sessions: list[NewSession],
        matches: list[dict[str, Any]] | None = None,
    ) -> list[SessionRecord]:
        """In one transaction: create the sessions (state ``created``,
        ``start_pending``) for the event and mark it ``dispatched`` (or
        ``unmatched`` when ``sessions`` is empty), keeping ``matches`` with it
        (``EventRecord.matches``). Idempotent: an event that is no longer pending
        returns its existing sessions and writes nothing."""
        ...

    async def get_event(self, event_id: str) -> EventRecord | None: ...

    async def list_events(
        self, project: str | None = None, limit: int = 100, before: str | None = None
    ) -> list[EventRecord]:
        """Newest first; after event ``before`` when given."""
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
        before: str | None = None,
    ) -> list[SessionRecord]:
        """Newest first; after session ``before`` when given."""
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

    def watch_log(self, session_id: str, wake: Callable[[], None]) -> AbstractContextManager[None]:
        """While the block runs, ``wake`` is called (on the event loop) when records
        of ``session_id`` are appended through another store object on the same
        database, as far as the back end can tell promptly (PostgreSQL: LISTEN/
        NOTIFY; SQLite: never, so readers re-read the store now and then)."""
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

    # -- transcripts -------------------------------------------------------------
    async def save_transcript(self, session_id: str, start: int, exchanges: list[str]) -> None:
        """Keep the session's answered requests ``start``, ``start + 1``... (JSON
        text each; the first copy of each wins) until the session ends (or, when
        it ends in ``error``, until the session is deleted)."""
        ...

    async def load_transcript(
        self, session_id: str, start: int = 0, limit: int = 1000
    ) -> list[str]:
        """Up to ``limit`` saved answered requests from ``start`` on, in order."""
        ...

    # -- vars and connection webhooks ----------------------------------------------
    async def set_var(
        self, project: str, connection: str | None, name: str, value: str, *, secret: bool
    ) -> VarRecord:
        """Create or replace the var (``connection`` None: a project var). The
        project is created if new, so secrets can be set before the first deploy.
        ``value`` is stored as given: a secret arrives sealed."""
        ...

    async def delete_var(self, project: str, connection: str | None, name: str) -> bool:
        """Remove the var; False when there was none."""
        ...

    async def list_vars(self, project: str) -> list[VarRecord]:
        """The project's vars of every scope, by (connection, name); project vars first."""
        ...

    async def ensure_connection_webhook(
        self, project: str, connection: str
    ) -> ConnectionWebhookRecord:
        """The webhook of (project, connection): a random slug made on first call,
        the same forever after."""
        ...

    async def resolve_connection_webhook(self, slug: str) -> ConnectionWebhookRecord | None: ...

    # -- key-value store (values are JSON data; keys 1-256 characters) ---------------
    async def kv_get(self, project: str, key: str) -> KVEntry | None: ...

    async def kv_list(
        self, project: str, prefix: str = "", limit: int = 10_000, after: str | None = None
    ) -> list[KVEntry]:
        """Entries whose key starts with ``prefix``, in key order (after ``after``)."""
        ...

    async def kv_set(self, project: str, key: str, value: Any) -> KVEntry: ...

    async def kv_delete(self, project: str, key: str) -> bool:
        """Whether the key existed."""
        ...

    async def kv_mutate(self, project: str, key: str, op: str, operand: Any = None) -> KVEntry:
        """Apply the atomic operation ``op`` (``add``, ``append``, ``merge``,
        ``set_default``) in one transaction; the entry afterwards."""
        ...

    async def kv_check_and_set(
        self, project: str, key: str, expected: Any, new: Any
    ) -> tuple[bool, KVEntry | None]:
        """Store ``new`` if the value equals ``expected`` (None: the key must be
        missing); returns (swapped, the entry afterwards or None)."""
        ...

    # -- session control -------------------------------------------------------------
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
        """A ``manual`` event and a ``start_pending`` session calling ``call``, in one
        transaction; (session, event, created). Keys are namespaced: manual starts
        share one, each parent's children have their own. A reused idempotency key
        writes nothing: (first session of that event or None if it has none,
        event, False)."""
        ...

    async def restart_session(self, session_id: str) -> SessionRecord:
        """A new session with the same event, deployment, trigger and call."""
        ...

    async def deactivate_deployment(self, deployment_id: str) -> DeploymentRecord:
        """An ``active`` deployment becomes ``draining`` (``inactive`` when it has
        no unfinished sessions); any other is returned as it is."""
        ...

    async def redispatch_event(self, event_id: str, deployment_id: str | None) -> EventRecord:
        """Commit a new event with the old one's project, trigger, type, data and
        connection, ``replay_of`` it and without idempotency key: ``pending``, or
        for a ``manual`` event ``dispatched`` with a new session of the same call
        on ``deployment_id`` (ValueError when it started none)."""
        ...

    async def delete_project(self, project: str) -> bool:
        """In one transaction, delete the project with its deployments, code,
        webhooks, vars, store, events and sessions (purge the bulk of them in
        batches first: see :meth:`purge`); False when there was no such project.
        ValueError while one of its sessions has not ended."""
        ...

    async def restart_from_failure(
        self, session_id: str, deployment_id: str, call: str, reuse_count: int
    ) -> SessionRecord:
        """A new ``start_pending`` session with the old one's event and trigger,
        calling ``call`` on ``deployment_id``, reusing the first ``reuse_count`` answers of
        the old one's saved transcript (``reuse_from``/``reuse_count``). The old
        one's children become the new one's, to be told (again) of their end."""
        ...

    async def record_stop(self, session_id: str, reason: str) -> LogRecord | None:
        """Store a ``stopped`` state record (next free n); None if already ended."""
        ...

    async def untold_children(self, limit: int = 100) -> list[ChildNotice]:
        """Ended sessions whose parent has not been told yet, oldest first."""
        ...

    async def mark_parent_told(self, session_id: str) -> None: ...

    # -- subscriptions and synchronous webhook outcomes ---------------------------
    async def add_subscription(
        self,
        session_id: str,
        source: str,
        filter: str | None,
        idempotency_key: str | None = None,
    ) -> SubscriptionRecord:
        """Subscribe the session (NotFoundError if unknown) to the events of
        ``source`` committed from now on; the same ``idempotency_key`` for the
        same session returns the subscription made the first time. A session
        holding ``MAX_SUBSCRIPTIONS_PER_SESSION`` gets TooManySubscriptions."""
        ...

    async def get_subscription(self, subscription_id: str) -> SubscriptionRecord | None: ...

    async def list_subscriptions(self, session_id: str) -> list[SubscriptionRecord]:
        """Oldest first."""
        ...

    async def delete_subscription(self, subscription_id: str) -> bool:
        """Delete it and its outbox rows; False when there was none."""
        ...

    async def delete_session_subscriptions(self, session_id: str) -> int:
        """Delete every subscription of the session; returns how many."""
        ...

    async def subscriptions_for(
        self, project: str, sources: Sequence[str], created_at: float
    ) -> list[SubscriptionRecord]:
        """The project's subscriptions to any of ``sources`` made no later than
        ``created_at`` (an event's time), oldest first."""
        ...

    async def add_deliveries(self, event_id: str, subscription_ids: Sequence[str]) -> int:
        """Put (subscription, event) rows in the delivery outbox; pairs already
        there and subscriptions gone are skipped. Returns how many were added."""
        ...

    async def pending_deliveries(self, limit: int = 100) -> list[Delivery]:
        """Outbox rows not delivered yet, in the order they were added."""
        ...

    async def mark_delivered(self, subscription_id: str, event_id: str) -> None: ...

    async def set_http_outcome(self, session_id: str, outcome: HttpOutcome) -> bool:
        """Keep the session's answer to its synchronous webhook; only the first
        is kept (returns whether this one was). NotFoundError for an unknown session."""
        ...

    async def get_http_outcome(self, session_id: str) -> HttpOutcome | None: ...

    async def session_result(self, session_id: str) -> tuple[str, Any, str | None] | None:
        """(state, result, error) of an ended session; None while it runs or if unknown."""
        ...

    # -- workers' heartbeats ---------------------------------------------------------
    async def record_worker(self, worker: WorkerRecord) -> None:
        """Create or replace the row of ``worker.id`` with this heartbeat (one
        statement; it need not reach the disk, the next beat repeats it). Every
        store object on the database sees it: any server lists any worker."""
        ...

    async def prune_workers(self, seen_before: float, keep: int = MAX_WORKERS) -> int:
        """Delete the workers last seen before ``seen_before``, then all but the
        ``keep`` (at least 1) most recently seen (ties are kept); returns how
        many rows went."""
        ...

    async def list_workers(
        self, seen_since: float = 0.0, limit: int = MAX_WORKERS
    ) -> list[WorkerRecord]:
        """Up to ``limit`` workers last seen at or after ``seen_since``, by id."""
        ...

    # -- settings shared by the servers of the database -------------------------------
    async def get_setting(self, name: str) -> str | None:
        """The value of the setting ``name``, or None when none was put."""
        ...

    async def put_setting_if_absent(self, name: str, value: str) -> str:
        """Put ``value`` unless the setting has one already; returns the value it
        has now (``value``, or the one another server put first)."""
        ...

    async def replace_setting(self, name: str, expected: str, value: str) -> bool:
        """Replace the setting's value with ``value`` only while it is
        ``expected``; returns whether it was replaced."""
        ...

    async def store_status(self) -> StoreStatus:
        """Sessions by state, events waiting, the oldest running session, size."""
        ...

    async def count_secret_vars(self) -> int:
        """How many secret vars are stored, in every project and scope."""
        ...

    # -- retention ----------------------------------------------------------------------
    async def purge(
        self,
        project: str,
        *,
        cutoff: float | None = None,
        keep: int | None = None,
        limit: int = PURGE_BATCH,
    ) -> PurgeCounts:
        """One short transaction of retention in ``project``: delete up to
        ``limit`` finished sessions that ended before ``cutoff`` (Unix time) or,
        with ``keep``, all but the newest ``keep`` finished ones (by start), with
        everything keyed by them; up to ``limit`` events no longer pending, older
        than the cutoff (or the oldest session kept), that nothing refers to; and
        the code of old inactive deployments no session refers to, except the
        newest ``ROLLBACK_TARGETS`` that are not active. Never a session that has
        not ended, nor a parent with a child still running. Exactly one of
        ``cutoff`` and ``keep``. Repeat while the result's ``more`` is set; its
        ``busy`` says another server is purging right now (nothing was done)."""
        ...

    async def reclaim_space(self) -> int:
        """Give the space of deleted rows back to the file system (SQLite, in
        short steps; PostgreSQL's autovacuum does it on its own: 0). Returns the
        pages freed."""
        ...
