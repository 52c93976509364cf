"""Durable sessions: the session workflow, the user-code runtime, and the worker."""

from ._config import WorkerConfig
from ._input import WORKFLOW_NAME, SessionInput, start_session
from ._worker import run_worker

__all__ = ["WORKFLOW_NAME", "SessionInput", "WorkerConfig", "run_worker", "start_session"]
