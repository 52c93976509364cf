"""Value objects the store hands out. Times are Unix seconds (float, UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

DeploymentState = Literal["active", "draining", "inactive"]
SessionState = Literal["created", "running", "completed", "error", "stopped"]
EventState = Literal["pending", "dispatched", "unmatched"]

TERMINAL_SESSION_STATES: frozenset[str] = frozenset({"completed", "error", "stopped"})


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    name: str
    created_at: float


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    id: str
    project: str
    state: DeploymentState
    created_at: float
    manifest: dict[str, Any]  # the validated manifest as plain JSON data
    code_sha256: str


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    slug: str
    project: str
    trigger: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: str
    project: str
    trigger: str | None
    type: str
    data: dict[str, Any]
    idempotency_key: str | None
    created_at: float
    state: EventState
    # The connection an integration event came through (None for webhooks, schedules).
    connection: str | None = None
    # How the dispatcher matched it: one {"trigger" or "subscription", "matched",
    # "reason"} per trigger or subscription it was for (None while pending).
    matches: list[dict[str, Any]] | None = None
    # The event this one dispatches again (``paw event redispatch``).
    replay_of: str | None = None


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session the dispatcher wants created for an event."""

    id: str
    project: str
    deployment_id: str
    trigger: str
    call: str  # "file.py:function"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    project: str
    deployment_id: str
    trigger: str
    event_id: str | None
    call: str
    state: SessionState
    created_at: float
    ended_at: float | None
    error: str | None
    start_pending: bool  # True until the Temporal workflow start was acknowledged
    # The session that started this one (pawflow.start / the API), told when it ends.
    parent_session_id: str | None = None
    # Restarted from the failure of ``reuse_from``: the first ``reuse_count``
    # answers of that session's transcript are reused, not asked again.
    reuse_from: str | None = None
    reuse_count: int = 0


# -- key-value store and session control ------------------------------------------


@dataclass(frozen=True, slots=True)
class KVEntry:
    """One key of a project's key-value store; ``value`` is plain JSON data."""

    key: str
    value: Any
    updated_at: float


@dataclass(frozen=True, slots=True)
class ChildNotice:
    """A child session that ended and whose parent has not been told yet."""

    session_id: str
    parent_session_id: str
    state: SessionState
    result: Any
    error: str | None


# -- vars and connection webhooks ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class VarRecord:
    """A var set with ``paw var set``: of the project (``connection`` None) or of
    one of its connections. A secret's ``value`` is ciphertext."""

    project: str
    connection: str | None
    name: str
    value: str
    secret: bool
    updated_at: float


@dataclass(frozen=True, slots=True)
class ConnectionWebhookRecord:
    slug: str
    project: str
    connection: str


# -- subscriptions and synchronous webhook outcomes ---------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """A running session's wish to receive the new events whose trigger or
    connection is ``source`` (and that pass the CEL ``filter``, if any)."""

    id: str
    session_id: str
    project: str
    source: str
    filter: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event waiting in the outbox to be signalled to a subscribed session."""

    subscription_id: str
    session_id: str
    event: EventRecord


@dataclass(frozen=True, slots=True)
class HttpOutcome:
    """What a session wants its synchronous webhook to answer: ``body`` (text)
    when it is not None, else ``json`` (any JSON value, null included)."""

    status: int
    headers: dict[str, str]
    json: Any = None
    body: str | None = None
