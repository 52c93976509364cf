"""Starting, restarting and stopping sessions through the API, and child-ended signals.

The tests that need workflows run a real dispatcher against the run's Temporal
server on a task queue of their own with no worker: the workflows exist (and
can be signalled, cancelled, terminated) but never run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from pawflow.dispatch import Dispatcher
from pawflow.ids import new_id
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore, open_store
from tests.helpers import wait_for

from ._helpers import AUTH, TOKEN, deploy, make_zip, project_zip
from .conftest import ClientFactory

PROGRAM = """\
def on_greet(event):
    print("hello", event)


def on_items(event):
    print("items", event)


def helper(a, b):
    return a + b


async def later(event):
    yield event
"""


async def post(
    client: TestClient[Any, Any], url: str, body: Any = None, raw: str | None = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"headers": AUTH}
    if raw is not None:
        kwargs["data"] = raw
    elif body is not None:
        kwargs["json"] = body
    resp = await client.post(url, **kwargs)
    return resp.status, await resp.json()


async def get(client: TestClient[Any, Any], url: str) -> Any:
    resp = await client.get(url, headers=AUTH)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def start(client: TestClient[Any, Any], **fields: Any) -> str:
    body = {"project": "hello", "call": "program.py:on_items", **fields}
    status, reply = await post(client, "/api/v1/sessions", body)
    assert status == 201, reply
    session_id: str = reply["session_id"]
    return session_id


# -- without Temporal -------------------------------------------------------------------
async def test_start_stores_a_manual_event_and_session(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    deployed = await deploy(client, project_zip(program=PROGRAM))
    status, reply = await post(
        client,
        "/api/v1/sessions",
        {"project": "hello", "call": "program.py:on_items", "data": {"n": [1, 2]}},
    )
    assert status == 201
    session = await get(client, f"/api/v1/sessions/{reply['session_id']}")
    assert session["event_id"] == reply["event_id"]
    assert session["call"] == "program.py:on_items"
    assert session["deployment_id"] == deployed["deployment_id"]
    assert session["trigger"] == "" and session["state"] == "created"
    assert session["parent_session_id"] is None
    event = await get(client, f"/api/v1/events/{reply['event_id']}")
    assert event["type"] == "manual" and event["trigger"] is None
    assert event["data"] == {"n": [1, 2]} and event["state"] == "dispatched"
    # The dispatcher starts it like any session.
    assert [s.id for s in await store.sessions_to_start()] == [reply["session_id"]]


async def test_start_without_data_gets_an_empty_object(client: TestClient[Any, Any]) -> None:
    await deploy(client)
    session_id = await start(client)
    session = await get(client, f"/api/v1/sessions/{session_id}")
    event = await get(client, f"/api/v1/events/{session['event_id']}")
    assert event["data"] == {}


async def test_start_idempotency(client: TestClient[Any, Any]) -> None:
    await deploy(client)
    body = {"project": "hello", "call": "program.py:on_items", "idempotency_key": "once"}
    status, first = await post(client, "/api/v1/sessions", body)
    assert status == 201
    resp = await client.post("/api/v1/sessions", json=body, headers=AUTH)
    assert resp.status == 200 and resp.headers["Pawflow-Duplicate"] == "true"
    assert await resp.json() == first
    assert len((await get(client, "/api/v1/sessions"))["sessions"]) == 1


async def test_start_key_used_by_a_webhook_claims_nothing(client: TestClient[Any, Any]) -> None:
    deployed = await deploy(client)
    url = deployed["webhooks"]["greet"]
    resp = await client.post(
        url[url.index("/webhooks/") :], json={}, headers={"Idempotency-Key": "k"}
    )
    assert resp.status == 202
    status, reply = await post(
        client,
        "/api/v1/sessions",
        {"project": "hello", "call": "program.py:on_items", "idempotency_key": "k"},
    )
    # Manual starts have keys of their own: a webhook caller cannot pre-claim them.
    assert status == 201, reply
    assert reply["event_id"] != resp.headers["Pawflow-Event-Id"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"call": "program.py:on_items"}, 400, "'project' must be a non-empty string"),
        ({"project": "hello"}, 400, "'call' must be a non-empty string"),
        ({"project": "hello", "call": "program.py"}, 400, "call must be FILE.py:FUNCTION"),
        ({"project": "hello", "call": "program.txt:f"}, 400, "call must be FILE.py:FUNCTION"),
        ({"project": "hello", "call": "../x.py:f"}, 400, "outside the project directory"),
        ({"project": "hello", "call": "missing.py:f"}, 400, "'missing.py' is not in deployment"),
        ({"project": "hello", "call": "program.py:nope"}, 400, "no function 'nope' in program.py"),
        ({"project": "hello", "call": "program.py:helper"}, 400, "requires 2 arguments"),
        ({"project": "hello", "call": "program.py:later"}, 400, "is an async generator"),
        ({"project": "ghost", "call": "program.py:on_items"}, 404, "no project 'ghost'"),
        (
            {"project": "hello", "call": "program.py:on_items", "parent_session_id": "ses_x"},
            404,
            "no session 'ses_x'",
        ),
        ({"project": "hello", "call": "program.py:on_items", "colour": 1}, 400, "unknown field"),
        ({"project": "hello", "call": "program.py:on_items", "idempotency_key": "k" * 256}, 400,
         "longer than 255"),
    ],
)  # fmt: skip
async def test_start_rejects_bad_requests(
    client: TestClient[Any, Any], body: dict[str, Any], status: int, message: str
) -> None:
    await deploy(client, project_zip(program=PROGRAM))
    got_status, reply = await post(client, "/api/v1/sessions", body)
    assert got_status == status, reply
    assert message in reply["error"]
    assert (await get(client, "/api/v1/sessions"))["sessions"] == []
    assert (await get(client, "/api/v1/events"))["events"] == []


async def test_start_bad_json_and_no_active_deployment(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    status, reply = await post(client, "/api/v1/sessions", raw="{oops")
    assert status == 400 and "not valid JSON" in reply["error"]
    await store.create_deployment("idle", {"version": 1}, make_zip({"a.py": ""}))
    status, reply = await post(client, "/api/v1/sessions", {"project": "idle", "call": "a.py:f"})
    assert status == 404 and reply["error"] == "project 'idle' has no active deployment"


async def test_child_runs_its_parents_deployment(client: TestClient[Any, Any]) -> None:
    first = await deploy(client, project_zip(program=PROGRAM))
    parent = await start(client)
    second = await deploy(client)
    assert second["deployment_id"] != first["deployment_id"]
    child = await start(client, parent_session_id=parent)
    detail = await get(client, f"/api/v1/sessions/{child}")
    assert detail["parent_session_id"] == parent
    assert detail["deployment_id"] == first["deployment_id"]
    status, reply = await post(
        client,
        "/api/v1/sessions",
        {"project": "other", "call": "program.py:on_items", "parent_session_id": parent},
    )
    assert status == 400 and "belongs to project 'hello'" in reply["error"]


async def test_restart(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    await deploy(client)
    old = await start(client, data={"x": 1})
    status, reply = await post(client, f"/api/v1/sessions/{old}/restart")
    assert status == 201 and reply["session_id"] != old
    before = await get(client, f"/api/v1/sessions/{old}")
    after = await get(client, f"/api/v1/sessions/{reply['session_id']}")
    for field in ("event_id", "deployment_id", "call", "trigger", "project"):
        assert after[field] == before[field], field
    assert reply["event_id"] == before["event_id"]
    assert {s.id for s in await store.sessions_to_start()} == {old, reply["session_id"]}
    status, reply = await post(client, "/api/v1/sessions/ses_nope/restart")
    assert status == 404 and "ses_nope" in reply["error"]


async def test_stop_before_the_workflow_started(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    await deploy(client)
    session_id = await start(client)
    status, reply = await post(
        client, f"/api/v1/sessions/{session_id}/stop", {"reason": "not today"}
    )
    assert (status, reply) == (
        200,
        {"session_id": session_id, "state": "stopped", "stopping": False},
    )
    assert await store.sessions_to_start() == []
    (record,) = (await get(client, f"/api/v1/sessions/{session_id}/log"))["records"]
    assert record["type"] == "state" and record["state"] == "stopped"
    assert record["error"] == "not today" and record["n"] == 0
    detail = await get(client, f"/api/v1/sessions/{session_id}")
    assert detail["state"] == "stopped" and detail["error"] == "not today"
    status, reply = await post(client, f"/api/v1/sessions/{session_id}/stop")
    assert status == 409
    assert reply["error"] == f"session {session_id} has already ended (stopped); nothing to stop"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"force": "yes"}, "'force' must be true or false"),
        ({"reason": 5}, "'reason' must be a string"),
        ({"why": "x"}, "unknown field 'why'"),
    ],
)
async def test_stop_bad_requests(
    client: TestClient[Any, Any], body: dict[str, Any], message: str
) -> None:
    await deploy(client)
    session_id = await start(client)
    status, reply = await post(client, f"/api/v1/sessions/{session_id}/stop", body)
    assert status == 400 and message in reply["error"]
    assert (await get(client, f"/api/v1/sessions/{session_id}"))["state"] == "created"
    status, reply = await post(client, "/api/v1/sessions/ses_nope/stop")
    assert status == 404


async def test_stop_needs_temporal_once_started(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    await deploy(client)
    session_id = await start(client)
    await store.mark_started(session_id)
    status, reply = await post(client, f"/api/v1/sessions/{session_id}/stop", {"force": True})
    assert status == 503 and "Temporal" in reply["error"]
    assert (await get(client, f"/api/v1/sessions/{session_id}"))["state"] == "created"


# -- with Temporal ----------------------------------------------------------------------
@dataclass
class Live:
    client: TestClient[Any, Any]
    store: SQLiteStore
    temporal: Client

    def handle(self, session_id: str) -> WorkflowHandle[Any, Any]:
        return self.temporal.get_workflow_handle(session_id)

    async def started(self, session_id: str) -> None:
        async def done() -> bool:
            session = await self.store.get_session(session_id)
            return session is not None and not session.start_pending

        await wait_for(done, 20, 0.05, f"the workflow of {session_id} to start")

    async def signals(self, session_id: str) -> list[tuple[str, list[Any]]]:
        out = []
        async for event in self.handle(session_id).fetch_history_events():
            if event.HasField("workflow_execution_signaled_event_attributes"):
                attrs = event.workflow_execution_signaled_event_attributes
                # Temporal encodes None as an empty "binary/null" payload.
                args = [json.loads(p.data) if p.data else None for p in attrs.input.payloads]
                out.append((attrs.signal_name, args))
        return out

    async def cancel_requested(self, session_id: str) -> bool:
        async for event in self.handle(session_id).fetch_history_events():
            if event.HasField("workflow_execution_cancel_requested_event_attributes"):
                return True
        return False


@pytest.fixture
async def live(
    tmp_path: Path, temporal_address: str, aiohttp_client: ClientFactory
) -> AsyncIterator[Live]:
    config = ServerConfig(
        data_dir=tmp_path / "live",
        token=TOKEN,
        temporal_address=temporal_address,
        task_queue=new_id("q"),  # no worker polls it: workflows exist but never run
    )
    store = await open_store(config.data_dir / "pawflow.db")
    dispatcher = Dispatcher(store, temporal_address, config.namespace, config.task_queue)
    await dispatcher.start()
    try:
        app: web.Application = create_app(config, store, dispatcher)
        client = await aiohttp_client(app)
        yield Live(client, store, await Client.connect(temporal_address))
    finally:
        await dispatcher.stop()
        await store.close()


async def test_manual_session_workflow_calls_the_sessions_call(live: Live) -> None:
    await deploy(live.client)
    session_id = await start(live.client, data={"who": "Ada"})
    await live.started(session_id)
    description = await live.handle(session_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    async for event in live.handle(session_id).fetch_history_events():
        (payload,) = event.workflow_execution_started_event_attributes.input.payloads
        given = json.loads(payload.data)
        break
    assert given["call"] == "program.py:on_items" and given["trigger"] == ""
    assert given["event"]["data"] == {"who": "Ada"}
    await live.handle(session_id).terminate()


async def test_force_stop_terminates_and_records(live: Live) -> None:
    await deploy(live.client)
    session_id = await start(live.client)
    await live.started(session_id)
    status, reply = await post(
        live.client, f"/api/v1/sessions/{session_id}/stop", {"reason": "runaway", "force": True}
    )
    assert (status, reply) == (
        200,
        {"session_id": session_id, "state": "stopped", "stopping": False},
    )
    description = await live.handle(session_id).describe()
    assert description.status == WorkflowExecutionStatus.TERMINATED
    records = (await get(live.client, f"/api/v1/sessions/{session_id}/log"))["records"]
    assert [(r["type"], r["state"], r["error"]) for r in records] == [
        ("state", "stopped", "runaway")
    ]
    status, reply = await post(live.client, f"/api/v1/sessions/{session_id}/stop")
    assert status == 409


async def test_graceful_stop_only_signals(live: Live) -> None:
    await deploy(live.client)
    session_id = await start(live.client)
    await live.started(session_id)
    status, reply = await post(
        live.client, f"/api/v1/sessions/{session_id}/stop", {"reason": "bye"}
    )
    assert status == 202
    assert reply == {"session_id": session_id, "state": "created", "stopping": True}
    assert await live.signals(session_id) == [("pawflow.stop", ["bye"])]
    # No Temporal cancel: the session's code gets to clean up first.
    assert not await live.cancel_requested(session_id)
    # The workflow records its own end; nothing is written for it here.
    assert (await get(live.client, f"/api/v1/sessions/{session_id}/log"))["records"] == []
    await live.handle(session_id).terminate()


async def test_stop_when_the_workflow_was_terminated_elsewhere(live: Live) -> None:
    await deploy(live.client)
    session_id = await start(live.client)
    await live.started(session_id)
    await live.handle(session_id).terminate(reason="by hand")
    # Nobody will ever report this session's end: the stop records it.
    status, reply = await post(live.client, f"/api/v1/sessions/{session_id}/stop")
    assert (status, reply["state"]) == (200, "stopped")


async def test_parent_is_told_when_its_child_ends(live: Live) -> None:
    await deploy(live.client)
    parent = await start(live.client)
    await live.started(parent)
    child = await start(live.client, parent_session_id=parent)
    stopped_child = await start(live.client, parent_session_id=parent)
    records = [
        {"session_id": child, "n": 0, "time": 1.0, "type": "state", "state": "running"},
        {"session_id": child, "n": 1, "time": 2.0, "type": "state", "state": "completed",
         "result": {"sum": 3}},
    ]  # fmt: skip
    status, _ = await post(live.client, "/api/v1/sessions/log", {"records": records})
    assert status == 200

    async def told(count: int) -> list[tuple[str, list[Any]]] | None:
        signals = await live.signals(parent)
        return signals if len(signals) >= count else None

    signals = await wait_for(lambda: told(1), 20, 0.05, "the child_done signal")
    assert signals == [("pawflow.child_done", [child, "completed", {"sum": 3}, None])]
    # A force-stopped child (the server records its end) is reported too.
    status, _ = await post(
        live.client, f"/api/v1/sessions/{stopped_child}/stop", {"reason": "no", "force": True}
    )
    assert status == 200
    signals = await wait_for(lambda: told(2), 20, 0.05, "the second child_done signal")
    assert signals[1] == ("pawflow.child_done", [stopped_child, "stopped", None, "no"])

    async def all_told() -> bool:
        # The relay marks a child told just after its signal was accepted.
        return await live.store.untold_children() == []

    await wait_for(all_told, 20, 0.05, "both children marked as told")
    await live.handle(parent).terminate()


async def test_a_parent_that_ended_is_skipped(live: Live) -> None:
    await deploy(live.client)
    parent = await start(live.client)
    await live.started(parent)
    child = await start(live.client, parent_session_id=parent)
    await live.handle(parent).terminate()
    record = {"session_id": child, "n": 0, "time": 1.0, "type": "state", "state": "error",
              "error": "boom"}  # fmt: skip
    assert (await post(live.client, "/api/v1/sessions/log", {"records": [record]}))[0] == 200
    await wait_for(
        lambda: _none_untold(live.store), 20, 0.05, "the ended parent's child to be done"
    )


async def _none_untold(store: SQLiteStore) -> bool:
    return await store.untold_children() == []
