"""Durable state: projects, deployments, webhooks, events, sessions and their logs.

Callers use the :class:`Store` protocol; :func:`connect_store` opens the one
the configuration names: SQLite (the default, a file in the data dir, also
:func:`open_store`) or PostgreSQL (several servers on one database).
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._backup import BackupResult, backup_sqlite
from ._base import LogRecord, Store
from ._connect import DB_FILE, connect_store
from ._control import MANUAL_EVENT_TYPE
from ._kv import KV_OPS, MAX_KEY_CHARS, KVError
from ._records import (
    TERMINAL_SESSION_STATES,
    ChildNotice,
    ConnectionWebhookRecord,
    Delivery,
    DeploymentRecord,
    DeploymentState,
    EventRecord,
    EventState,
    HttpOutcome,
    KVEntry,
    NewSession,
    ProjectRecord,
    SessionRecord,
    SessionState,
    SubscriptionRecord,
    VarRecord,
    WebhookRecord,
)
from ._retention import PURGE_BATCH, ROLLBACK_TARGETS, PurgeCounts
from ._sources import (
    MANUAL_SOURCE,
    child_source,
    connection_source,
    schedule_source,
    webhook_source,
)
from ._sqlite import SQLiteStore, open_store
from ._status import StoreStatus
from ._subscriptions import MAX_SUBSCRIPTIONS_PER_SESSION, TooManySubscriptions
from ._workers import MAX_WORKERS, WorkerRecord

__all__ = [
    "DB_FILE",
    "KV_OPS",
    "MANUAL_EVENT_TYPE",
    "MANUAL_SOURCE",
    "MAX_KEY_CHARS",
    "MAX_SUBSCRIPTIONS_PER_SESSION",
    "MAX_WORKERS",
    "PURGE_BATCH",
    "ROLLBACK_TARGETS",
    "TERMINAL_SESSION_STATES",
    "BackupResult",
    "ChildNotice",
    "ConnectionWebhookRecord",
    "Delivery",
    "DeploymentRecord",
    "DeploymentState",
    "EventRecord",
    "EventState",
    "HttpOutcome",
    "KVEntry",
    "KVError",
    "LogRecord",
    "NewSession",
    "PostgresStore",
    "ProjectRecord",
    "PurgeCounts",
    "SQLiteStore",
    "SessionRecord",
    "SessionState",
    "Store",
    "StoreStatus",
    "SubscriptionRecord",
    "TooManySubscriptions",
    "VarRecord",
    "WebhookRecord",
    "WorkerRecord",
    "backup_sqlite",
    "child_source",
    "connect_store",
    "connection_source",
    "open_postgres_store",
    "open_store",
    "schedule_source",
    "webhook_source",
]

if TYPE_CHECKING:
    from ._postgres import PostgresStore, open_postgres_store


def __getattr__(name: str) -> Any:
    # psycopg and the libpq it bundles cost about 11 MB in every process that
    # imports the store: loaded only where PostgreSQL is used.
    if name in ("PostgresStore", "open_postgres_store"):
        return getattr(importlib.import_module("._postgres", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
