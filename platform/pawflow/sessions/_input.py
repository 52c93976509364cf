"""What a session workflow is started with, and how it is started."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

__all__ = ["WORKFLOW_NAME", "SessionInput", "input_mismatch", "input_problem", "start_session"]

WORKFLOW_NAME = "pawflow.session"


@dataclass(frozen=True)
class SessionInput:
    session_id: str
    project: str
    deployment_id: str
    trigger: str
    call: str  # "file.py:function", relative to the project root
    event: dict[str, Any]  # {"id", "type", "trigger", "data"}
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
            session,
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
