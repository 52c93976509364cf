"""Auth, info, errors and the read-only management routes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.ids import new_id
from pawflow.storage import NewSession, SQLiteStore

from ._helpers import AUTH, deploy, webhook_path

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def test_healthz_needs_no_token(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"ok": True}


async def test_api_requires_the_token(client: TestClient[Any, Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        resp = await client.get("/api/v1/info", headers=headers)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert "token" in (await resp.json())["error"]
    # Unknown API paths do not reveal themselves without a token either.
    assert (await client.get("/api/v1/nothing-here")).status == 401


async def test_info(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/info", headers=AUTH)
    assert resp.status == 200
    info = await resp.json()
    assert info["version"] == "0.1.0"
    assert info["namespace"] == "default"
    assert info["task_queue"] == "pawflow-sessions"
    assert info["temporal_address"].startswith("127.0.0.1:")
    assert info["url"] == f"http://127.0.0.1:{client.port}"


async def test_unknown_route_and_wrong_method_are_json_errors(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/api/v1/nothing-here", headers=AUTH)
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert "error" in await resp.json()
    resp = await client.delete("/api/v1/info", headers=AUTH)
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert "error" in await resp.json()


async def test_projects_and_deployments(client: TestClient[Any, Any]) -> None:
    empty = {"projects": [], "more": False, "next_before": None}
    assert await (await client.get("/api/v1/projects", headers=AUTH)).json() == empty
    first = await deploy(client)
    second = await deploy(client)

    projects = (await (await client.get("/api/v1/projects", headers=AUTH)).json())["projects"]
    assert len(projects) == 1
    assert projects[0]["name"] == "hello"
    assert projects[0]["active_deployment_id"] == second["deployment_id"]
    assert ISO.match(projects[0]["created_at"])

    resp = await client.get("/api/v1/deployments", params={"project": "hello"}, headers=AUTH)
    deployments = (await resp.json())["deployments"]
    assert [d["id"] for d in deployments] == [second["deployment_id"], first["deployment_id"]]
    assert deployments[0]["state"] == "active"
    assert deployments[1]["state"] in ("draining", "inactive")
    assert deployments[0]["project"] == "hello"
    assert ISO.match(deployments[0]["created_at"])
    resp = await client.get("/api/v1/deployments", params={"project": "other"}, headers=AUTH)
    assert (await resp.json())["deployments"] == []


async def test_deployment_code_round_trips(client: TestClient[Any, Any]) -> None:
    from ._helpers import project_zip

    code = project_zip()
    dep = await deploy(client, code)
    resp = await client.get(f"/api/v1/deployments/{dep['deployment_id']}/code", headers=AUTH)
    assert resp.status == 200
    assert resp.content_type == "application/zip"
    assert await resp.read() == code
    resp = await client.get("/api/v1/deployments/dep_nope/code", headers=AUTH)
    assert resp.status == 404


async def _session_for_new_event(
    client: TestClient[Any, Any], store: SQLiteStore, dep: dict[str, Any]
) -> tuple[str, str]:
    resp = await client.post(webhook_path(dep["webhooks"]["greet"]), json={"n": 1})
    event_id = (await resp.json())["event_id"]
    (session,) = await store.match_event(
        event_id,
        [NewSession(new_id("ses"), "hello", dep["deployment_id"], "greet", "program.py:on_greet")],
    )
    return event_id, session.id


async def test_events_list(client: TestClient[Any, Any]) -> None:
    dep = await deploy(client)
    hook = webhook_path(dep["webhooks"]["greet"])
    ids = []
    for n in range(3):
        resp = await client.post(hook, json={"n": n}, headers={"Idempotency-Key": f"k{n}"})
        ids.append((await resp.json())["event_id"])
    resp = await client.get("/api/v1/events", params={"project": "hello"}, headers=AUTH)
    events = (await resp.json())["events"]
    assert [e["id"] for e in events] == ids[::-1]
    assert events[0] == {
        "id": ids[2],
        "project": "hello",
        "trigger": "greet",
        "connection": None,
        "type": "post",
        "idempotency_key": "k2",
        "state": "pending",
        "created_at": events[0]["created_at"],
        "matches": None,  # not matched yet
        "replay_of": None,  # not a redispatch
    }
    assert ISO.match(events[0]["created_at"])
    resp = await client.get("/api/v1/events", params={"limit": "2"}, headers=AUTH)
    assert len((await resp.json())["events"]) == 2
    for bad in ("0", "1001", "x"):
        resp = await client.get("/api/v1/events", params={"limit": bad}, headers=AUTH)
        assert resp.status == 400


async def test_sessions_list_and_detail(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    dep = await deploy(client)
    event_a, ses_a = await _session_for_new_event(client, store, dep)
    event_b, ses_b = await _session_for_new_event(client, store, dep)
    await store.append_log(
        [{"session_id": ses_a, "n": 0, "time": 1.5, "type": "state", "state": "completed"}]
    )

    resp = await client.get("/api/v1/sessions", headers=AUTH)
    sessions = (await resp.json())["sessions"]
    assert [s["id"] for s in sessions] == [ses_b, ses_a]
    assert sessions[1] == {
        "id": ses_a,
        "project": "hello",
        "deployment_id": dep["deployment_id"],
        "trigger": "greet",
        "event_id": event_a,
        "state": "completed",
        "created_at": sessions[1]["created_at"],
        "ended_at": "1970-01-01T00:00:01.500000Z",
    }
    assert sessions[0]["ended_at"] is None

    async def ids(**params: str) -> list[str]:
        resp = await client.get("/api/v1/sessions", params=params, headers=AUTH)
        assert resp.status == 200
        return [s["id"] for s in (await resp.json())["sessions"]]

    assert await ids(event=event_b) == [ses_b]
    assert await ids(state="completed") == [ses_a]
    assert await ids(project="other") == []
    assert await ids(limit="1") == [ses_b]
    resp = await client.get("/api/v1/sessions", params={"state": "bogus"}, headers=AUTH)
    assert resp.status == 400

    resp = await client.get(f"/api/v1/sessions/{ses_a}", headers=AUTH)
    detail = await resp.json()
    assert detail["call"] == "program.py:on_greet"
    assert detail["error"] is None
    assert detail["state"] == "completed"
    assert (await client.get("/api/v1/sessions/ses_nope", headers=AUTH)).status == 404


async def test_session_log_post_and_get(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    dep = await deploy(client)
    _, ses = await _session_for_new_event(client, store, dep)
    records = [
        {"session_id": ses, "n": 0, "time": 10.0, "type": "state", "state": "running"},
        {"session_id": ses, "n": 1, "time": 10.25, "type": "print", "text": "hi"},
        {
            "session_id": ses,
            "n": 2,
            "time": 11,
            "type": "state",
            "state": "error",
            "error": "boom",
        },
    ]
    resp = await client.post("/api/v1/sessions/log", json={"records": records}, headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == {"stored": 3, "refused": []}
    # Workers retry: the same records again insert nothing.
    resp = await client.post("/api/v1/sessions/log", json={"records": records}, headers=AUTH)
    assert await resp.json() == {"stored": 0, "refused": []}

    resp = await client.get(f"/api/v1/sessions/{ses}/log", headers=AUTH)
    got = (await resp.json())["records"]
    assert [r["n"] for r in got] == [0, 1, 2]
    assert got[1] == {
        "session_id": ses,
        "n": 1,
        "time": "1970-01-01T00:00:10.250000Z",
        "type": "print",
        "text": "hi",
    }
    resp = await client.get(f"/api/v1/sessions/{ses}/log", params={"after": "1"}, headers=AUTH)
    assert [r["n"] for r in (await resp.json())["records"]] == [2]

    detail = await (await client.get(f"/api/v1/sessions/{ses}", headers=AUTH)).json()
    assert detail["state"] == "error"
    assert detail["error"] == "boom"
    assert (await client.get("/api/v1/sessions/ses_nope/log", headers=AUTH)).status == 404


async def test_session_log_post_rejects_bad_input(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy(client)
    _, ses = await _session_for_new_event(client, store, dep)
    good = {"session_id": ses, "n": 0, "time": 1.0, "type": "print", "text": "x"}
    for body in ([good], {"records": "x"}):
        resp = await client.post("/api/v1/sessions/log", json=body, headers=AUTH)
        assert resp.status == 400, body
        assert "error" in await resp.json()
    resp = await client.post("/api/v1/sessions/log", data=b"{nope", headers=AUTH)
    assert resp.status == 400
    # A record of the wrong shape is refused alone, naming what is wrong.
    bad_records: list[Any] = [
        {**good, "n": -1},
        {**good, "n": True},
        {**good, "time": "now"},
        {**good, "type": "bogus"},
        {**good, "type": "state", "state": "bogus"},
    ]
    resp = await client.post("/api/v1/sessions/log", json={"records": bad_records}, headers=AUTH)
    assert resp.status == 200
    refused = (await resp.json())["refused"]
    assert [r["index"] for r in refused] == [0, 1, 2, 3, 4]
    assert all(r["error"] for r in refused)
    assert await store.get_log(ses) == []
    # A record of an unknown session does not sink the rest of the batch.
    resp = await client.post(
        "/api/v1/sessions/log",
        json={"records": [good, {**good, "session_id": "ses_nope"}]},
        headers=AUTH,
    )
    assert resp.status == 200
    assert [r["text"] for r in await store.get_log(ses)] == ["x"]


async def test_call_records_keep_their_call_seq(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    dep = await deploy(client)
    _, ses = await _session_for_new_event(client, store, dep)
    records = [
        {"session_id": ses, "n": 0, "time": 3.0, "type": "call_start", "seq": 1,
         "function": "g", "args": []},
        {"session_id": ses, "n": 1, "time": 4.0, "type": "call_end", "seq": 1, "error": "E: x"},
        {"session_id": ses, "n": 2, "time": 5.0, "type": "print", "text": "done"},
    ]  # fmt: skip
    resp = await client.post("/api/v1/sessions/log", json={"records": records}, headers=AUTH)
    assert await resp.json() == {"stored": 3, "refused": []}
    resp = await client.get(f"/api/v1/sessions/{ses}/log", headers=AUTH)
    got = (await resp.json())["records"]
    assert [(r["n"], r["type"], r.get("seq")) for r in got] == [
        (0, "call_start", 1),
        (1, "call_end", 1),
        (2, "print", None),
    ]
    assert got[0] == {
        "session_id": ses,
        "n": 0,
        "time": "1970-01-01T00:00:03.000000Z",
        "type": "call_start",
        "seq": 1,
        "function": "g",
        "args": [],
    }


async def test_internal_errors_are_500_without_details(
    client: TestClient[Any, Any], store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.close()  # every store call now fails
    resp = await client.get("/api/v1/projects", headers=AUTH)
    assert resp.status == 500
    body = await resp.json()
    assert set(body) == {"error"}
    assert "Traceback" not in body["error"]
    assert "closed" not in body["error"]
    assert any(r.levelname == "ERROR" and r.exc_info for r in caplog.records)
