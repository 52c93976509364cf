"""Keep a project's Temporal Schedules in line with its manifest.

One schedule per schedule trigger, id ``pawflow:{project}:{trigger}``. Its
action starts :data:`~pawflow.schedules._tick.schedule_tick_workflow`, which
hands the tick to the server; whether the tick starts a session is decided
there, against the deployment active at that moment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.client import ScheduleSpec as TemporalScheduleSpec
from temporalio.service import RPCError, RPCStatusCode

from ..manifest import Manifest, Trigger
from ._tick import TICK_WORKFLOW, ScheduleTick

__all__ = ["ScheduleChanges", "schedule_id", "sync_schedules"]

log = logging.getLogger(__name__)

_RPC_TIMEOUT = timedelta(seconds=10)


def schedule_id(project: str, trigger: str) -> str:
    """The Temporal Schedule id of a schedule trigger."""
    return f"pawflow:{project}:{trigger}"


@dataclass(frozen=True, slots=True)
class ScheduleChanges:
    """What :func:`sync_schedules` did, as trigger names."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


async def sync_schedules(
    client: Client,
    project: str,
    manifest: Manifest | None,
    task_queue: str,
    *,
    previous: Manifest | None = None,
) -> ScheduleChanges:
    """Create or update one Temporal Schedule per schedule trigger of ``manifest``
    and delete the project's schedules of triggers it no longer has (all of them
    when ``manifest`` is None).

    Schedules to delete are found by listing the namespace's schedules (ids
    ``pawflow:{project}:...``) and, because that listing may lag behind a schedule
    created moments ago, also from ``previous`` (the manifest being replaced).
    Idempotent; raises the client's ``RPCError`` when Temporal fails, leaving
    whatever was already done in place (running it again completes the job).
    """
    wanted = {t.name: t for t in (manifest.project.triggers if manifest else ()) if t.schedule}
    created: list[str] = []
    updated: list[str] = []
    for name, trigger in wanted.items():
        sid = schedule_id(project, name)
        schedule = _schedule(project, trigger, task_queue)
        if await _create_or_update(client, sid, schedule):
            created.append(name)
        else:
            updated.append(name)
    known = set(await _listed_triggers(client, project))
    if previous is not None:
        known.update(t.name for t in previous.project.triggers if t.schedule)
    deleted: list[str] = []
    for name in sorted(known - wanted.keys()):
        try:
            await client.get_schedule_handle(schedule_id(project, name)).delete(
                rpc_timeout=_RPC_TIMEOUT
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            continue  # already gone
        deleted.append(name)
    changes = ScheduleChanges(tuple(created), tuple(updated), tuple(deleted))
    if created or updated or deleted:
        log.info(
            "schedules of %s: created %s, updated %s, deleted %s",
            project,
            created or "none",
            updated or "none",
            deleted or "none",
        )
    return changes


async def _create_or_update(client: Client, sid: str, schedule: Schedule) -> bool:
    """Make the schedule ``sid`` this one; whether it was created. Another server
    may sync the same project at the same moment (servers share the work): a
    schedule it created is updated, one it deleted in between is created again."""
    for _ in range(3):
        try:
            await client.create_schedule(sid, schedule, rpc_timeout=_RPC_TIMEOUT)
            return True
        except ScheduleAlreadyRunningError:
            pass
        try:
            await client.get_schedule_handle(sid).update(
                _Replace(schedule), rpc_timeout=_RPC_TIMEOUT
            )
            return False
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    raise RuntimeError(f"schedule {sid} kept appearing and disappearing while being synced")


def _schedule(project: str, trigger: Trigger, task_queue: str) -> Schedule:
    assert trigger.schedule is not None
    return Schedule(
        action=ScheduleActionStartWorkflow(
            TICK_WORKFLOW,
            ScheduleTick(project, trigger.name),
            id=schedule_id(project, trigger.name),
            task_queue=task_queue,
        ),
        spec=TemporalScheduleSpec(
            cron_expressions=[trigger.schedule.cron],
            time_zone_name=trigger.schedule.timezone,
        ),
        # A tick arriving while the previous one is still being handed over waits
        # for it instead of being skipped.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE),
        state=ScheduleState(note=f"pawflow project {project!r}, trigger {trigger.name!r}"),
    )


@dataclass(frozen=True, slots=True)
class _Replace:
    """An updater replacing the whole schedule (spec, action, policy, state)."""

    schedule: Schedule

    def __call__(self, _: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=self.schedule)


async def _listed_triggers(client: Client, project: str) -> Iterable[str]:
    prefix = schedule_id(project, "")
    names: list[str] = []
    async for listed in await client.list_schedules(rpc_timeout=_RPC_TIMEOUT):
        if listed.id.startswith(prefix):
            names.append(listed.id.removeprefix(prefix))
    return names
