"""Schedules through the whole platform: `paw up`, a worker, Temporal Schedules."""

from __future__ import annotations

import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode

from pawflow.schedules import format_time, schedule_id
from tests.e2e.conftest import Platform
from tests.helpers import run_coroutine, wait_for

PROGRAM = """\
def tick(event):
    print("tick", event.type, event.trigger, event.data.scheduled_time)


def hook(event):
    print("hook")
"""


def _project(root: Path, name: str, *, with_schedule: bool) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    schedule = (
        "    - name: nightly\n"
        "      schedule: '0 3 * * *'\n"
        "      timezone: Europe/Berlin\n"
        "      call: program.py:tick\n"
    )
    (root / "pawflow.yaml").write_text(
        f"version: 1\nproject:\n  name: {name}\n  triggers:\n"
        "    - name: hook\n      webhook: {}\n      call: program.py:hook\n"
        + (schedule if with_schedule else "")
    )
    (root / "program.py").write_text(textwrap.dedent(PROGRAM))
    return root


def _describe(address: str, sid: str) -> ScheduleDescription | None:
    async def describe() -> ScheduleDescription | None:
        client = await Client.connect(address)
        try:
            return await client.get_schedule_handle(sid).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    return run_coroutine(describe())


def _trigger_now(address: str, sid: str) -> None:
    async def trigger() -> None:
        client = await Client.connect(address)
        await client.get_schedule_handle(sid).trigger()

    run_coroutine(trigger())


def _completed_ticks(platform: Platform, project: str, count: int) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        sessions = [s for s in platform.sessions("--project", project) if s["trigger"] == "nightly"]
        finished = [s for s in sessions if s["state"] == "completed"]
        return finished if len(finished) >= count else None

    result: list[dict[str, Any]] = wait_for(done, 60.0, 0.1, f"{count} completed tick session(s)")
    return result


def test_a_schedule_starts_sessions_and_goes_away_with_its_trigger(
    platform: Platform, tmp_path: Path
) -> None:
    name = f"sched-{uuid.uuid4().hex[:8]}"
    sid = schedule_id(name, "nightly")
    platform.start_worker()
    platform.deploy(_project(tmp_path / "v1", name, with_schedule=True))

    created = _describe(platform.temporal_address, sid)
    assert created is not None
    assert created.schedule.spec.time_zone_name == "Europe/Berlin"

    _trigger_now(platform.temporal_address, sid)
    (first,) = _completed_ticks(platform, name, 1)
    described = _describe(platform.temporal_address, sid)
    assert described is not None
    (action,) = described.info.recent_actions
    # Temporal names a tick by its scheduled time to the second.
    scheduled = action.scheduled_at.replace(microsecond=0)
    texts = [r["text"] for r in platform.log(first["id"]) if r["type"] == "print"]
    assert "".join(texts).strip() == f"tick schedule nightly {format_time(scheduled)}"

    # Another tick is another session. Ticks in the same second would be one tick
    # to Temporal, so wait for the next second first.
    wait_for(lambda: datetime.now(UTC) >= scheduled + timedelta(seconds=1), 5.0)
    _trigger_now(platform.temporal_address, sid)
    sessions = _completed_ticks(platform, name, 2)
    assert len({s["event_id"] for s in sessions}) == 2
    events = platform.paw_json("event", "list", "--project", name)
    assert {e["type"] for e in events} == {"schedule"}
    assert {e["trigger"] for e in events} == {"nightly"}

    # Redeploying without the trigger deletes its schedule.
    platform.deploy(_project(tmp_path / "v2", name, with_schedule=False))
    assert _describe(platform.temporal_address, sid) is None
