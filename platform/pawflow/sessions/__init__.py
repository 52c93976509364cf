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
    from ._input import WORKFLOW_NAME, SessionInput, start_session
    from ._worker import run_worker

__all__ = ["WORKFLOW_NAME", "SessionInput", "WorkerConfig", "run_worker", "start_session"]

_WHERE = {
    "WorkerConfig": "._config",
    "WORKFLOW_NAME": "._input",
    "SessionInput": "._input",
    "start_session": "._input",
    "run_worker": "._worker",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
