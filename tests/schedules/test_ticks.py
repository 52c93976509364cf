"""The server side of schedules: ticks become events, deploy syncs the schedules."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from pawflow.schedules import schedule_id
from pawflow.storage import SQLiteStore
from tests.helpers import free_port, matching_only

from .conftest import AUTH, ServerFactory

PROGRAM = "def tick(event):\n    print(event)\n"


def _manifest(project: str, *triggers: str) -> str:
    lines = [f"version: 1\nproject:\n  name: {project}\n  triggers:\n"]
    lines.append("    - name: hook\n      webhook: {}\n      call: program.py:tick\n")
    for name in triggers:
        lines.append(f"    - name: {name}\n      schedule: '@daily'\n      call: program.py:tick\n")
    return "".join(lines)


def _zip(manifest: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pawflow.yaml", manifest)
        zf.writestr("program.py", PROGRAM)
    return buf.getvalue()


async def _deploy(client: TestClient[Any, Any], manifest: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post(
        "/api/v1/deployments",
        data=_zip(manifest),
        headers={**AUTH, "Content-Type": "application/zip"},
    )
    return resp.status, await resp.json()


async def _tick(
    client: TestClient[Any, Any], body: Any, headers: dict[str, str] = AUTH
) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/api/v1/schedules/ticks", json=body, headers=headers)
    return resp.status, await resp.json()


def _nowhere() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def project() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


# -- ticks ------------------------------------------------------------------------


async def test_a_tick_becomes_one_schedule_event(
    server: ServerFactory, store: SQLiteStore, project: str, temporal_address: str
) -> None:
    client = await server(temporal_address)
    assert (await _deploy(client, _manifest(project, "nightly")))[0] == 201
    tick = {"project": project, "trigger": "nightly", "scheduled_time": "2024-05-01T03:00:00Z"}
    status, body = await _tick(client, tick)
    assert status == 202 and body["duplicate"] is False
    event = await store.get_event(body["event_id"])
    assert event is not None
    assert (event.project, event.trigger, event.type, event.connection) == (
        project,
        "nightly",
        "schedule",
        None,
    )
    assert event.data == {"scheduled_time": "2024-05-01T03:00:00Z"}
    assert event.idempotency_key == f"schedule:{project}:nightly:2024-05-01T03:00:00Z"

    # The same tick again (an activity retry), even spelt differently, is the same event.
    again = {**tick, "scheduled_time": "2024-05-01T05:00:00+02:00"}
    status, body2 = await _tick(client, again)
    assert status == 202 and body2 == {"event_id": body["event_id"], "duplicate": True}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "body must be a JSON object"),
        ({"trigger": "t", "scheduled_time": "2024-05-01T03:00:00Z"}, "'project' must be"),
        ({"project": "p", "trigger": "", "scheduled_time": "x"}, "'trigger' must be"),
        ({"project": "p", "trigger": "t", "scheduled_time": 5}, "'scheduled_time' must be"),
        ({"project": "p", "trigger": "t", "scheduled_time": "soon"}, "not an ISO 8601 time"),
    ],
)
async def test_bad_ticks_are_rejected(server: ServerFactory, body: Any, message: str) -> None:
    client = await server(_nowhere())
    status, reply = await _tick(client, body)
    assert status == 400 and message in reply["error"]


async def test_ticks_need_the_token_and_a_known_project(server: ServerFactory) -> None:
    client = await server(_nowhere())
    tick = {"project": "ghost", "trigger": "t", "scheduled_time": "2024-05-01T03:00:00Z"}
    assert (await _tick(client, tick, headers={}))[0] == 401
    status, reply = await _tick(client, tick)
    assert status == 404 and "ghost" in reply["error"]


async def test_ticks_start_sessions_only_for_active_schedule_triggers(
    server: ServerFactory, store: SQLiteStore, project: str, temporal_address: str
) -> None:
    client = await server(temporal_address)
    assert (await _deploy(client, _manifest(project, "nightly")))[0] == 201

    async def tick(trigger: str, at: str) -> str:
        body = {"project": project, "trigger": trigger, "scheduled_time": at}
        status, reply = await _tick(client, body)
        assert status == 202
        return str(reply["event_id"])

    live = await tick("nightly", "2024-05-01T03:00:00Z")
    not_a_schedule = await tick("hook", "2024-05-01T03:00:00Z")
    unknown = await tick("gone", "2024-05-01T03:00:00Z")

    # Sessions are created but not started, which is all this test looks at.
    async with matching_only(store) as match_pending:
        await match_pending("events matched")
        (session,) = await store.list_sessions(event_id=live)
        assert (session.trigger, session.call) == ("nightly", "program.py:tick")
        assert await store.list_sessions(event_id=not_a_schedule) == []
        assert await store.list_sessions(event_id=unknown) == []

        # Without the trigger in the active deployment, a tick starts nothing.
        assert (await _deploy(client, _manifest(project)))[0] == 201
        late = await tick("nightly", "2024-05-02T03:00:00Z")
        await match_pending("the late tick matched")
        assert await store.list_sessions(event_id=late) == []


# -- deploy -----------------------------------------------------------------------


async def _schedule_exists(temporal: Client, sid: str) -> bool:
    try:
        await temporal.get_schedule_handle(sid).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_deploy_creates_and_deletes_schedules(
    server: ServerFactory, temporal: Client, temporal_address: str, project: str
) -> None:
    client = await server(temporal_address)
    assert (await _deploy(client, _manifest(project, "a", "b")))[0] == 201
    assert await _schedule_exists(temporal, schedule_id(project, "a"))
    assert await _schedule_exists(temporal, schedule_id(project, "b"))
    assert (await _deploy(client, _manifest(project, "b")))[0] == 201
    assert not await _schedule_exists(temporal, schedule_id(project, "a"))
    assert await _schedule_exists(temporal, schedule_id(project, "b"))
    assert (await _deploy(client, _manifest(project)))[0] == 201
    assert not await _schedule_exists(temporal, schedule_id(project, "b"))


async def test_deploy_with_schedules_fails_cleanly_without_temporal(
    server: ServerFactory, store: SQLiteStore, project: str
) -> None:
    client = await server(_nowhere())
    status, body = await _deploy(client, _manifest(project, "nightly"))
    assert status == 503
    assert "the deployment was not changed" in body["error"]
    assert await store.list_deployments() == []
    # A deploy that involves no schedule does not need Temporal.
    status, _ = await _deploy(client, _manifest(project))
    assert status == 201
