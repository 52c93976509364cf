"""Idempotency namespaces: who may claim an event's idempotency key.

A key means "this delivery again" only to the party that chose it. Each source
of events (a webhook trigger, a schedule, a connection, manual starts, the
children of one session) has a namespace of its own, so a key sent through one
source can never swallow an event of another: a stranger posting to a webhook
cannot pre-claim a schedule's predictable tick key, nor a provider's delivery
id. The store keeps the source next to the key and deduplicates on
(project, source, key); the key itself is kept as the caller sent it.
"""

from __future__ import annotations

__all__ = [
    "MANUAL_SOURCE",
    "child_source",
    "connection_source",
    "default_source",
    "schedule_source",
    "webhook_source",
]

MANUAL_SOURCE = "manual"
"""Sessions started through the API without a parent (``paw session start``)."""


def webhook_source(trigger: str) -> str:
    """The namespace of the webhook of ``trigger``."""
    return f"webhook:{trigger}"


def schedule_source(trigger: str) -> str:
    """The namespace of the ticks of the schedule trigger ``trigger``."""
    return f"schedule:{trigger}"


def connection_source(connection: str) -> str:
    """The namespace of the deliveries of ``connection``."""
    return f"connection:{connection}"


def child_source(parent_session_id: str) -> str:
    """The namespace of the sessions ``parent_session_id`` starts (``pawflow.start``)."""
    return f"child:{parent_session_id}"


def default_source(trigger: str | None, connection: str | None) -> str:
    """The namespace of an event whose adder named none: its connection's, else
    its trigger's webhook, else one shared by the project's other such events."""
    if connection is not None:
        return connection_source(connection)
    if trigger is not None:
        return webhook_source(trigger)
    return ""
