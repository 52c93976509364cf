"""Schedule triggers on Temporal Schedules.

:func:`sync_schedules` creates, updates and deletes a project's schedules on
deploy; :func:`converge_schedules` makes them those of the deployment active
in the end, whatever deploys raced. Each schedule starts
:data:`schedule_tick_workflow`, whose one activity
(:class:`ScheduleTickActivities`, registered in the worker) posts the tick to
the server as an event, so ticks go through the same matching as every other
event.
"""

from ._sync import ScheduleChanges, converge_schedules, schedule_id, sync_schedules
from ._tick import (
    SCHEDULE_EVENT_TYPE,
    TICK_ACTIVITY,
    TICK_WORKFLOW,
    TICKS_PATH,
    ScheduleTick,
    ScheduleTickActivities,
    TickRequest,
    format_time,
    schedule_tick_workflow,
)

__all__ = [
    "SCHEDULE_EVENT_TYPE",
    "TICKS_PATH",
    "TICK_ACTIVITY",
    "TICK_WORKFLOW",
    "ScheduleChanges",
    "ScheduleTick",
    "ScheduleTickActivities",
    "TickRequest",
    "converge_schedules",
    "format_time",
    "schedule_id",
    "schedule_tick_workflow",
    "sync_schedules",
]
