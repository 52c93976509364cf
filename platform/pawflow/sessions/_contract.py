"""The session workflow's Temporal contract: its name, its input, the event a
session gets, and every signal and query it takes, with their arguments.

Whoever starts, signals or queries a session (dispatcher, server, worker)
goes through this module, so the names and argument orders live in one place.
What is recorded in histories must keep its shape: a running session may be
replayed by a newer worker.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, NotRequired, TypedDict

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

__all__ = [
    "CHILD_DONE_SIGNAL",
    "EVENT_SIGNAL",
    "INLINE_EVENT_BYTES",
    "STOP_SIGNAL",
    "TRANSCRIPT_QUERY",
    "USER_SIGNAL",
    "WORKFLOW_NAME",
    "SessionEvent",
    "SessionInput",
    "input_mismatch",
    "input_problem",
    "query_transcript",
    "session_event",
    "signal_child_done",
    "signal_event",
    "signal_stop",
    "signal_user",
    "start_session",
]

WORKFLOW_NAME = "pawflow.session"
# Signals: (subscription_id, SessionEvent); (name, payload, sender);
# (session_id, state, result, error); (reason).
EVENT_SIGNAL = "pawflow.event"
USER_SIGNAL = "pawflow.signal"
CHILD_DONE_SIGNAL = "pawflow.child_done"
STOP_SIGNAL = "pawflow.stop"
# (start) -> {"saved", "total", "exchanges", "ended"}
TRANSCRIPT_QUERY = "pawflow.transcript"

# Event data larger than this does not travel in a workflow input or signal:
# Temporal refuses payloads over 2 MB, and the session fetches it instead.
INLINE_EVENT_BYTES = 256 * 1024


class SessionEvent(TypedDict):
    """An event as a session's program gets it (``pawflow.Event``'s fields)."""

    id: str | None
    type: str | None
    trigger: str | None
    connection: str | None
    data: Any
    # True when ``data`` was too big to inline: the session reads it from the server.
    data_by_ref: NotRequired[bool]


def session_event(
    id: str | None,
    type: str | None,
    trigger: str | None,
    connection: str | None,
    data: Any,
    *,
    inline_limit: int | None = INLINE_EVENT_BYTES,
) -> SessionEvent:
    """The event as a session receives it, its data inlined when its JSON is at
    most ``inline_limit`` bytes (None: always)."""
    event = SessionEvent(id=id, type=type, trigger=trigger, connection=connection, data=data)
    if inline_limit is not None and len(json.dumps(data)) > inline_limit:
        event["data"] = None
        event["data_by_ref"] = True
    return event


@dataclass(frozen=True)
class SessionInput:
    session_id: str
    project: str
    deployment_id: str
    trigger: str
    call: str  # "file.py:function", relative to the project root
    event: SessionEvent
    vars: dict[str, str] = field(default_factory=dict)
    # From the manifest: {"durable": bool, "limits": {...}, "retry": {...}}.
    options: dict[str, Any] = field(default_factory=dict)
    # Set when an earlier run of the session continued as new: what it carried
    # over ({"saved", "log_n", "inbox", "stop_sent", "pending"}).
    carried: dict[str, Any] | None = None
    # Restarted from another session's failure: {"session_id", "count"}, the
    # first ``count`` answers of that session's transcript are reused.
    reuse: dict[str, Any] | None = None


# Ids as ``pawflow.ids`` makes them; a worker uses them in paths and URLs.
_ID = re.compile(r"^[a-z]{2,8}_[0-9a-z]{26}$")
_CALL = re.compile(r"^[A-Za-z0-9_./-]{1,400}:[A-Za-z_][A-Za-z0-9_]{0,200}$")


def input_problem(session: SessionInput) -> str | None:
    """What is malformed in a workflow's input (None: nothing). A worker runs
    only well-formed input: anyone who reaches Temporal can start a workflow."""
    if not _ID.match(session.session_id):
        return "its session id is malformed"
    if not _ID.match(session.deployment_id):
        return "its deployment id is malformed"
    if not _CALL.match(session.call) or ".." in session.call.split(":")[0].split("/"):
        return "its call is malformed"
    return None


def input_mismatch(session: SessionInput, recorded: dict[str, Any]) -> str | None:
    """How the workflow's input differs from what the server recorded of the
    session (None: it does not)."""
    for name in ("project", "deployment_id", "trigger", "call"):
        if recorded.get(name) != getattr(session, name):
            return f"its {name.replace('_', ' ')} is not the one the server recorded"
    if recorded.get("reuse") != session.reuse:
        return "the session it reuses answers of is not the one the server recorded"
    if recorded.get("event_id") != session.event.get("id"):
        return "its event is not the one the server recorded"
    if not isinstance(recorded.get("code_sha256"), str):
        return "the server has no code for its deployment"
    return None


async def start_session(client: Client, task_queue: str, session: SessionInput) -> bool:
    """Start the session's workflow (its id is the session id).

    Idempotent: returns False when that workflow was already started, which is
    what a dispatcher retrying after a crash sees.
    """
    try:
        await client.start_workflow(
            WORKFLOW_NAME,
            # The same JSON as the dataclass, without the converter's deep copy
            # of it (``dataclasses.asdict``): the event's data may be large.
            {f.name: getattr(session, f.name) for f in fields(session)},
            id=session.session_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # A session that runs for days is normal; the limit is for runaway ones.
            execution_timeout=timedelta(days=365),
            request_eager_start=True,
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def signal_event(
    handle: WorkflowHandle[Any, Any], subscription_id: str, event: SessionEvent
) -> None:
    """Deliver an event to one of the session's subscriptions."""
    await handle.signal(EVENT_SIGNAL, args=[subscription_id, event])


async def signal_user(
    handle: WorkflowHandle[Any, Any], name: str, payload: Any, sender: str | None
) -> None:
    """A ``pawflow.signal`` from a user or another session (``sender``)."""
    await handle.signal(USER_SIGNAL, args=[name, payload, sender])


async def signal_child_done(
    handle: WorkflowHandle[Any, Any], session_id: str, state: str, result: Any, error: str | None
) -> None:
    """Tell a parent session that its child ``session_id`` ended."""
    await handle.signal(CHILD_DONE_SIGNAL, args=[session_id, state, result, error])


async def signal_stop(handle: WorkflowHandle[Any, Any], reason: str) -> None:
    """Ask the session to stop gracefully (its program sees ``SessionStopped``)."""
    await handle.signal(STOP_SIGNAL, reason)


async def query_transcript(handle: WorkflowHandle[Any, Any], start: int) -> dict[str, Any]:
    """A page of the session's transcript from answered request ``start``."""
    page: dict[str, Any] = await handle.query(TRANSCRIPT_QUERY, start, result_type=dict)
    return page
