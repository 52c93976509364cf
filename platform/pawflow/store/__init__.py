"""Durable state: projects, deployments, webhooks, events, sessions and their logs.

Callers use the :class:`Store` protocol; :func:`open_store` returns the SQLite
implementation (the default, a file in the data dir).
"""

from ._base import LogRecord, Store
from ._records import (
    TERMINAL_SESSION_STATES,
    DeploymentRecord,
    DeploymentState,
    EventRecord,
    EventState,
    NewSession,
    ProjectRecord,
    SessionRecord,
    SessionState,
    WebhookRecord,
)
from ._sqlite import SQLiteStore, open_store

__all__ = [
    "TERMINAL_SESSION_STATES",
    "DeploymentRecord",
    "DeploymentState",
    "EventRecord",
    "EventState",
    "LogRecord",
    "NewSession",
    "ProjectRecord",
    "SQLiteStore",
    "SessionRecord",
    "SessionState",
    "Store",
    "WebhookRecord",
    "open_store",
]
