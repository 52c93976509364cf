"""sync_schedules against the real Temporal dev server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from pawflow.manifest import CallTarget, Manifest, Project, ScheduleSpec, Trigger, WebhookSpec
from pawflow.schedules import (
    TICK_WORKFLOW,
    ScheduleChanges,
    ScheduleTick,
    schedule_id,
    sync_schedules,
)
from tests.helpers import wait_for

CALL = CallTarget("program.py", "tick")


def _manifest(project: str, *triggers: Trigger) -> Manifest:
    return Manifest(1, Project(project, triggers=triggers))


def _scheduled(name: str, cron: str, timezone: str | None = None) -> Trigger:
    return Trigger(name, CALL, schedule=ScheduleSpec(cron, timezone))


@pytest.fixture
def project() -> str:
    # The Temporal server is shared by the whole run: one project name per test.
    return f"p{uuid.uuid4().hex[:10]}"


async def _exists(client: Client, sid: str) -> bool:
    try:
        await client.get_schedule_handle(sid).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_creates_one_schedule_per_schedule_trigger(temporal: Client, project: str) -> None:
    manifest = _manifest(
        project,
        _scheduled("nightly", "0 3 * * *", "Europe/Berlin"),
        _scheduled("often", "@every 90s"),
        Trigger("hook", CALL, webhook=WebhookSpec()),
    )
    changes = await sync_schedules(temporal, project, manifest, "the-queue")
    assert changes == ScheduleChanges(created=("nightly", "often"))
    assert not await _exists(temporal, schedule_id(project, "hook"))

    desc = await temporal.get_schedule_handle(f"pawflow:{project}:nightly").describe()
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == TICK_WORKFLOW
    assert action.task_queue == "the-queue"
    assert action.id == f"pawflow:{project}:nightly"
    (arg,) = action.args
    assert await temporal.data_converter.decode([arg], [ScheduleTick]) == [
        ScheduleTick(project, "nightly")
    ]
    assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.BUFFER_ONE
    assert desc.schedule.spec.time_zone_name == "Europe/Berlin"
    # 03:00 in Berlin is 01:00 or 02:00 UTC, depending on the season.
    assert {t.hour for t in desc.info.next_action_times} <= {1, 2}

    often = await temporal.get_schedule_handle(schedule_id(project, "often")).describe()
    assert often.schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(seconds=90))]


async def test_is_idempotent_and_updates_changed_schedules(temporal: Client, project: str) -> None:
    await sync_schedules(temporal, project, _manifest(project, _scheduled("t", "0 3 * * *")), "q")
    changes = await sync_schedules(
        temporal, project, _manifest(project, _scheduled("t", "30 4 * * *")), "q2"
    )
    assert changes == ScheduleChanges(updated=("t",))
    desc = await temporal.get_schedule_handle(schedule_id(project, "t")).describe()
    assert {(t.hour, t.minute) for t in desc.info.next_action_times} == {(4, 30)}
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == "q2"


async def test_deletes_schedules_of_removed_triggers(temporal: Client, project: str) -> None:
    first = _manifest(project, _scheduled("keep", "@daily"), _scheduled("drop", "@hourly"))
    await sync_schedules(temporal, project, first, "q")
    second = _manifest(project, _scheduled("keep", "@daily"))
    changes = await sync_schedules(temporal, project, second, "q", previous=first)
    assert changes == ScheduleChanges(updated=("keep",), deleted=("drop",))
    assert await _exists(temporal, schedule_id(project, "keep"))
    assert not await _exists(temporal, schedule_id(project, "drop"))


async def test_finds_stale_schedules_without_the_previous_manifest(
    temporal: Client, project: str
) -> None:
    # E.g. left behind by a deploy that failed half-way: the listing finds it.
    await sync_schedules(temporal, project, _manifest(project, _scheduled("old", "@daily")), "q")
    other = f"{project}x"  # a project whose name extends this one's is not touched
    await sync_schedules(temporal, other, _manifest(other, _scheduled("old", "@daily")), "q")

    async def listed() -> bool:
        ids = {s.id async for s in await temporal.list_schedules()}
        return schedule_id(project, "old") in ids

    await wait_for(listed, message="the schedule to be listed")
    changes = await sync_schedules(temporal, project, _manifest(project), "q")
    assert changes == ScheduleChanges(deleted=("old",))
    assert await _exists(temporal, schedule_id(other, "old"))


async def test_no_manifest_deletes_all_of_the_project(temporal: Client, project: str) -> None:
    manifest = _manifest(project, _scheduled("a", "@daily"), _scheduled("b", "@weekly"))
    await sync_schedules(temporal, project, manifest, "q")
    changes = await sync_schedules(temporal, project, None, "q", previous=manifest)
    assert changes == ScheduleChanges(deleted=("a", "b"))
    # Deleting what is already gone is fine.
    again = await sync_schedules(temporal, project, None, "q", previous=manifest)
    assert again == ScheduleChanges()
