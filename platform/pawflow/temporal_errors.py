"""Telling "Temporal cannot be reached" from "Temporal refused this request".

The first is an outage to wait out (events stay in the store meanwhile); the
second is an answer. Server, dispatcher and relays all decide this the same way.
"""

from __future__ import annotations

from temporalio.service import RPCError, RPCStatusCode

from .errors import TemporalUnavailable

__all__ = ["is_unavailable"]

_TRANSIENT_STATUSES = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.UNKNOWN,
    }
)


def is_unavailable(err: BaseException) -> bool:
    """Whether ``err`` says Temporal cannot be reached (as opposed to rejecting one request)."""
    if isinstance(err, TemporalUnavailable):
        return True
    if isinstance(err, RPCError):
        return err.status in _TRANSIENT_STATUSES
    return isinstance(err, (ConnectionError, TimeoutError))
