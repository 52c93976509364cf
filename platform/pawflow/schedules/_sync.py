"""Keep a project's Temporal Schedules in line with its manifest.

One schedule per schedule trigger, id ``pawflow:{project}:{trigger}``. Its
action starts :data:`~pawflow.schedules._tick.schedule_tick_workflow`, which
hands the tick to the server; whether the tick starts a session is decided
there, against the deployment active at that moment.

Two deploys of one project may land on two servers at once, and their syncs
interleave: whichever writes a schedule last wins, not the deployment that is
active. :func:`converge_schedules` settles it: it syncs the deployment active
now, then reads the active deployment again, and syncs again if it changed.
A sync's writes all come before its second read; so a sync of a deployment
that is no longer active is always followed by one of the deployment that
replaced it, by the server that activated it or by the one that went stale.
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
from ..storage import DeploymentRecord, Store
from ._tick import TICK_WORKFLOW, ScheduleTick

__all__ = ["ScheduleChanges", "converge_schedules", "schedule_id", "sync_schedules"]

log = logging.getLogger(__name__)

_RPC_TIMEOUT = timedelta(seconds=10)
# Syncs in a row that each saw another deployment activated meanwhile. Each
# activation is a deploy whose own server converges too: past this, the last
# of them finishes the job.
_MAX_ROUNDS = 10


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
    previous: Manifest | Iterable[Manifest] | None = None,
) -> ScheduleChanges:
    """Create or update one Temporal Schedule per schedule trigger of ``manifest``
    and delete the project's schedules of triggers it no longer has (all of them
    when ``manifest`` is None).

    Schedules to delete are found by listing the namespace's schedules (ids
    ``pawflow:{project}:...``) and, because that listing may lag behind a schedule
    created moments ago, also from ``previous`` (the manifest being replaced, or
    every manifest whose schedules may have been written lately).
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
    for earlier in [previous] if isinstance(previous, Manifest) else previous or ():
        known.update(t.name for t in earlier.project.triggers if t.schedule)
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


async def converge_schedules(
    client: Client,
    store: Store,
    project: str,
    task_queue: str,
    *,
    previous: Iterable[Manifest] = (),
) -> DeploymentRecord | None:
    """Sync the schedules of the project's active deployment (none when it has
    none), again while another deployment became active during the sync;
    returns the deployment synced last.

    ``previous``: manifests whose schedules may have been written lately (by
    this server or another), so that schedules the namespace's listing does
    not show yet are deleted too. Raises like :func:`sync_schedules`.
    """
    written = list(previous)
    active = await store.active_deployment(project)
    for _ in range(_MAX_ROUNDS):
        manifest = None if active is None else Manifest.from_dict(active.manifest)
        await sync_schedules(client, project, manifest, task_queue, previous=written)
        now = await store.active_deployment(project)
        if _same(now, active):
            return active
        log.info(
            "deployment %s of %s became active while its schedules were synced; syncing again",
            None if now is None else now.id,
            project,
        )
        if manifest is not None:
            written.append(manifest)
        active = now
    log.warning(
        "schedules of %s: the active deployment kept changing; the last deploy syncs them",
        project,
    )
    return active


def _same(a: DeploymentRecord | None, b: DeploymentRecord | None) -> bool:
    return (None if a is None else a.id) == (None if b is None else b.id)


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
