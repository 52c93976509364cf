"""What a session workflow is started with, and how it is started."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

__all__ = ["WORKFLOW_NAME", "SessionInput", "start_session"]

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
