"""Durable state: projects, deployments, webhooks, events, sessions and their logs.

Callers use the :class:`Store` protocol; :func:`open_store` returns the SQLite
implementation (the default, a file in the data dir).
"""

from ._base import LogRecord, Store
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
from ._sources import (
    MANUAL_SOURCE,
    child_source,
    connection_source,
    schedule_source,
    webhook_source,
)
from ._sqlite import SQLiteStore, open_store
from ._subscriptions import MAX_SUBSCRIPTIONS_PER_SESSION, TooManySubscriptions

__all__ = [
    "KV_OPS",
    "MANUAL_EVENT_TYPE",
    "MANUAL_SOURCE",
    "MAX_KEY_CHARS",
    "MAX_SUBSCRIPTIONS_PER_SESSION",
    "TERMINAL_SESSION_STATES",
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
    "ProjectRecord",
    "SQLiteStore",
    "SessionRecord",
    "SessionState",
    "Store",
    "SubscriptionRecord",
    "TooManySubscriptions",
    "VarRecord",
    "WebhookRecord",
    "child_source",
    "connection_source",
    "open_store",
    "schedule_source",
    "webhook_source",
]
