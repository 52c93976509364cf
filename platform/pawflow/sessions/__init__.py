"""Durable sessions: the session workflow, the user-code runtime, and the worker.

The names below are imported when first used: a process that needs one module
of the package (the deploy's load check, a runner) does not pay for the
worker's imports (Temporal's client and worker, the store).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config import WorkerConfig
    from ._contract import (
        CHILD_DONE_SIGNAL,
        EVENT_SIGNAL,
        INLINE_EVENT_BYTES,
        STOP_SIGNAL,
        TRANSCRIPT_QUERY,
        USER_SIGNAL,
        WORKFLOW_NAME,
        SessionEvent,
        SessionInput,
        query_transcript,
        session_event,
        signal_child_done,
        signal_event,
        signal_stop,
        signal_user,
        start_session,
    )
    from ._worker import Patience, run_worker

__all__ = [
    "CHILD_DONE_SIGNAL",
    "EVENT_SIGNAL",
    "INLINE_EVENT_BYTES",
    "STOP_SIGNAL",
    "TRANSCRIPT_QUERY",
    "USER_SIGNAL",
    "WORKFLOW_NAME",
    "Patience",
    "SessionEvent",
    "SessionInput",
    "WorkerConfig",
    "query_transcript",
    "run_worker",
    "session_event",
    "signal_child_done",
    "signal_event",
    "signal_stop",
    "signal_user",
    "start_session",
]

_WHERE = {
    "WorkerConfig": "._config",
    "CHILD_DONE_SIGNAL": "._contract",
    "EVENT_SIGNAL": "._contract",
    "INLINE_EVENT_BYTES": "._contract",
    "STOP_SIGNAL": "._contract",
    "TRANSCRIPT_QUERY": "._contract",
    "USER_SIGNAL": "._contract",
    "WORKFLOW_NAME": "._contract",
    "SessionEvent": "._contract",
    "SessionInput": "._contract",
    "query_transcript": "._contract",
    "session_event": "._contract",
    "signal_child_done": "._contract",
    "signal_event": "._contract",
    "signal_stop": "._contract",
    "signal_user": "._contract",
    "start_session": "._contract",
    "Patience": "._worker",
    "run_worker": "._worker",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
