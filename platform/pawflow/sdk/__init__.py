"""What user code imports as ``pawflow``. Kept small and documented."""

from ..errors import PawflowError, SessionFailed, SessionStopped
from ._activity import Retry, activity, inhibit_activities, register_no_activity
from ._attrdict import AttrDict
from ._durable import (
    http_outcome,
    next_event,
    next_signal,
    result,
    session_id,
    signal,
    sleep,
    start,
    subscribe,
    unsubscribe,
    webhook_url,
)
from ._event import Event
from ._kv import store
from ._saga import CompensationFailed, call_key, compensate, saga
from ._scope import vars

__all__ = [
    "AttrDict",
    "CompensationFailed",
    "Event",
    "PawflowError",
    "Retry",
    "SessionFailed",
    "SessionStopped",
    "activity",
    "call_key",
    "compensate",
    "http_outcome",
    "inhibit_activities",
    "next_event",
    "next_signal",
    "register_no_activity",
    "result",
    "saga",
    "session_id",
    "signal",
    "sleep",
    "start",
    "store",
    "subscribe",
    "unsubscribe",
    "vars",
    "webhook_url",
]
