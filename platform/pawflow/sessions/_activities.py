"""The activities a session uses: run an external call, and flush its log."""

from __future__ import annotations

import pickle
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ..errors import ExternalCallError, UnrecordableResult
from ..sdk._scope import Scope, ScopedGreenlet
from ._logship import LogShipper
from ._program import CallTable

__all__ = [
    "CALL_ACTIVITY",
    "FLUSH_ACTIVITY",
    "SessionActivities",
    "decode_outcome",
]

CALL_ACTIVITY = "pawflow.call"
FLUSH_ACTIVITY = "pawflow.flush_log"


def decode_outcome(data: bytes) -> tuple[str, Any, BaseException | None]:
    """(function, value, exception) from an activity's recorded outcome."""
    function, value, exception = pickle.loads(data)
    return function, value, exception


def _encode(function: str, value: Any, exception: BaseException | None) -> bytes:
    data = pickle.dumps((function, value, exception), protocol=pickle.HIGHEST_PROTOCOL)
    pickle.loads(data)  # what cannot be loaded back must fail now, not on replay
    return data


class SessionActivities:
    def __init__(self, calls: CallTable, shipper: LogShipper) -> None:
        self._calls = calls
        self._shipper = shipper

    @activity.defn(name=CALL_ACTIVITY)
    def call(self, number: int, function: str) -> bytes:
        """Run the pending external call ``number`` of the calling session."""
        info = activity.info()
        pending = self._calls.get((info.workflow_run_id or "", number))
        if pending is None:
            # Only possible if the session's workflow left this worker meanwhile;
            # the replaying worker registers the call again and retries it there.
            raise ApplicationError(f"call #{number} ({function}) is not pending on this worker")
        value: Any = None
        error: BaseException | None = None
        try:
            # The callable runs with the session's vars visible to pawflow.vars;
            # calls it makes itself run directly (no session greenlet here).
            value = ScopedGreenlet(
                lambda: pending.fn(*pending.args, **pending.kwargs), Scope(pending.variables)
            ).switch()
        except (Exception, SystemExit) as exc:
            error = exc
        try:
            return _encode(function, value, error)
        except Exception as exc:
            if error is None:
                failure: BaseException = UnrecordableResult(
                    f"{function} returned a {type(value).__module__}.{type(value).__qualname__}, "
                    f"which cannot be recorded ({exc}); return plain data instead"
                )
            else:
                kind = f"{type(error).__module__}.{type(error).__qualname__}"
                failure = ExternalCallError(f"{function} raised {kind}: {error}")
            return _encode(function, None, failure)

    @activity.defn(name=FLUSH_ACTIVITY)
    def flush_log(self) -> None:
        """Wait until every session log record emitted so far reached the server."""
        if not self._shipper.wait_delivered(self._shipper.ticket(), timeout=20.0):
            raise ApplicationError("session log not delivered yet (server unreachable?)")
