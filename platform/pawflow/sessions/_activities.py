"""The activities a session uses: advance its program, and flush its log."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from ._driver import RunnerDriver, SessionHosts
from ._logship import LogShipper
from ._protocol import Step, StepAction

__all__ = ["ADVANCE_ACTIVITY", "FLUSH_ACTIVITY", "SAVE_ACTIVITY", "SessionActivities"]

ADVANCE_ACTIVITY = "pawflow.advance"
FLUSH_ACTIVITY = "pawflow.flush_log"
SAVE_ACTIVITY = "pawflow.save_transcript"


class SessionActivities:
    def __init__(self, hosts: SessionHosts, shipper: LogShipper) -> None:
        self._hosts = hosts
        self._shipper = shipper

    def _driver(self) -> RunnerDriver:
        info = activity.info()
        driver = self._hosts.get(info.workflow_run_id or "")
        if driver is None:
            # Only possible if the session's workflow left this worker meanwhile;
            # the worker replaying it opens it again and retries there.
            raise ApplicationError(f"session {info.workflow_id} is not hosted on this worker")
        return driver

    @activity.defn(name=ADVANCE_ACTIVITY)
    def advance(self, action: StepAction, value: Any) -> Step:
        """Answer the calling session's pending request and run its program to the next one."""
        return self._driver().advance(action, value)

    @activity.defn(name=SAVE_ACTIVITY)
    def save_transcript(self) -> int:
        """Save the calling session's transcript on the server (it is about to
        continue as new); returns how many answered requests are saved."""
        return self._driver().save_transcript()

    @activity.defn(name=FLUSH_ACTIVITY)
    def flush_log(self) -> None:
        """Wait until every session log record emitted so far reached the server."""
        if not self._shipper.wait_delivered(self._shipper.ticket(), timeout=20.0):
            raise ApplicationError("session log not delivered yet (server unreachable?)")
