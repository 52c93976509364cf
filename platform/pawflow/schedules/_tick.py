"""A schedule tick: the tiny workflow a Temporal Schedule starts, and its one activity.

The workflow does not start the session itself: it hands the tick to the
Pawflow server, which stores it as an event (idempotent per scheduled time) and
lets the dispatcher match it against the *active* deployment. So a tick while
no deployment is active, or whose trigger was removed, starts nothing, and a
tick delivered twice starts one session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

from ..errors import ServerError

if TYPE_CHECKING:
    # Typing only: the sessions package imports this one to register it.
    from ..sessions._serverlink import ServerLink

__all__ = [
    "SCHEDULE_EVENT_TYPE",
    "TICKS_PATH",
    "TICK_ACTIVITY",
    "TICK_WORKFLOW",
    "ScheduleTick",
    "ScheduleTickActivities",
    "TickRequest",
    "format_time",
    "schedule_tick_workflow",
]

log = logging.getLogger(__name__)

SCHEDULE_EVENT_TYPE = "schedule"  # the type of the events ticks become
TICK_WORKFLOW = "pawflow.schedule_tick"
TICK_ACTIVITY = "pawflow.schedule_tick.post"
TICKS_PATH = "/api/v1/schedules/ticks"

# Set by Temporal on every workflow a schedule starts.
_SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")

# Keep trying while the server is away (a restart, an upgrade); the schedule
# buffers the next tick meanwhile (overlap policy BUFFER_ONE).
_POST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
)
_POST_START_TO_CLOSE = timedelta(seconds=30)
_POST_SCHEDULE_TO_CLOSE = timedelta(hours=1)

# Replies that will not change by asking again (no such project, bad request).
_RETRYABLE_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class ScheduleTick:
    """The schedule's workflow argument: which trigger of which project ticks."""

    project: str
    trigger: str


@dataclass(frozen=True)
class TickRequest:
    """What the activity posts to the server."""

    project: str
    trigger: str
    scheduled_time: str  # ISO 8601, UTC


def format_time(moment: datetime) -> str:
    """``2024-05-01T03:00:00Z``: UTC, with a fraction only when there is one."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@workflow.defn(name=TICK_WORKFLOW, sandboxed=False)
class ScheduleTickWorkflow:
    """Posts one tick to the server. Unsandboxed: it only reads its input and info."""

    @workflow.run
    async def run(self, tick: ScheduleTick) -> str:
        info = workflow.info()
        # The scheduled time (not when the workflow happened to start) names the
        # tick, so every retry and every redelivery of it is the same event.
        scheduled = info.typed_search_attributes.get(_SCHEDULED_START) or info.start_time
        request = TickRequest(tick.project, tick.trigger, format_time(scheduled))
        event_id: str = await workflow.execute_activity(
            TICK_ACTIVITY,
            request,
            result_type=str,
            start_to_close_timeout=_POST_START_TO_CLOSE,
            schedule_to_close_timeout=_POST_SCHEDULE_TO_CLOSE,
            retry_policy=_POST_RETRY,
        )
        return event_id


# The public name of the workflow class, as the worker registers it.
schedule_tick_workflow = ScheduleTickWorkflow


class ScheduleTickActivities:
    """The activity of :data:`schedule_tick_workflow`, posting ticks through ``server``
    (a :class:`~pawflow.sessions._serverlink.ServerLink`)."""

    def __init__(self, server: ServerLink) -> None:
        self._server = server

    @activity.defn(name=TICK_ACTIVITY)
    def post_tick(self, request: TickRequest) -> str:
        """Store the tick as an event on the server; returns the event id."""
        payload = {
            "project": request.project,
            "trigger": request.trigger,
            "scheduled_time": request.scheduled_time,
        }
        try:
            reply = self._server.post_json(TICKS_PATH, payload)
        except ServerError as err:
            status = err.status or 0
            if 400 <= status < 500 and status not in _RETRYABLE_STATUSES:
                raise ApplicationError(str(err), non_retryable=True) from None
            raise
        event_id = str(reply["event_id"])
        log.debug("tick %s/%s at %s -> event %s", *payload.values(), event_id)
        return event_id
