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
