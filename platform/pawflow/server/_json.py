"""Store records → API JSON. The store keeps Unix seconds; the API speaks ISO 8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..storage import DeploymentRecord, EventRecord, LogRecord, ProjectRecord, SessionRecord

__all__ = [
    "deployment_json",
    "event_json",
    "iso_time",
    "project_json",
    "record_json",
    "session_json",
]


def iso_time(t: float | None) -> str | None:
    """``1700000000.5`` → ``"2023-11-14T22:13:20.500000Z"``; None stays None."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def project_json(p: ProjectRecord, active_deployment_id: str | None) -> dict[str, Any]:
    return {
        "name": p.name,
        "created_at": iso_time(p.created_at),
        "active_deployment_id": active_deployment_id,
    }


def deployment_json(d: DeploymentRecord) -> dict[str, Any]:
    return {
        "id": d.id,
        "project": d.project,
        "state": d.state,
        "created_at": iso_time(d.created_at),
    }


def session_json(s: SessionRecord, *, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "project": s.project,
        "deployment_id": s.deployment_id,
        "trigger": s.trigger,
        "event_id": s.event_id,
        "state": s.state,
        "created_at": iso_time(s.created_at),
        "ended_at": iso_time(s.ended_at),
    }
    if detail:
        out["call"] = s.call
        out["error"] = s.error
        out["parent_session_id"] = s.parent_session_id
        out["reuse_from"] = s.reuse_from
        out["reuse_count"] = s.reuse_count
    return out


def event_json(e: EventRecord, *, detail: bool = False) -> dict[str, Any]:
    """An event in API shape. ``matches`` (null while pending) lists the triggers
    and subscriptions it was for: ``{"trigger": name}`` or ``{"subscription": id,
    "session": id}``, with ``"matched"`` and the ``"reason"`` when not (a false
    filter, an event type that differs, a filter over its time or size budget)."""
    out: dict[str, Any] = {
        "id": e.id,
        "project": e.project,
        "trigger": e.trigger,
        "connection": e.connection,
        "type": e.type,
        "idempotency_key": e.idempotency_key,
        "state": e.state,
        "created_at": iso_time(e.created_at),
        "matches": e.matches,
        "replay_of": e.replay_of,
    }
    if detail:
        out["data"] = e.data
    return out


def record_json(r: LogRecord) -> dict[str, Any]:
    """A stored log record in API shape: the same fields, ``time`` in ISO 8601.

    ``n`` numbers a session's records from 0 (``after=`` and the stream's ``id:``
    refer to it); call records carry ``seq``, the number of their external call.
    """
    out = dict(r)
    time = out.get("time")
    out["time"] = iso_time(float(time)) if isinstance(time, int | float) else None
    return out
