"""``GET /api/v1/sessions/{id}/log/stream``: live server-sent events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from pawflow.ids import new_id
from pawflow.server._stream import STREAM_SETTINGS, StreamSettings
from pawflow.storage import NewSession, SQLiteStore

from ._helpers import AUTH, deploy, webhook_path

WAIT = 10.0  # generous deadline for a frame that should come at once


class SSEReader:
    def __init__(self, resp: ClientResponse) -> None:
        self.resp = resp

    async def frame(self) -> dict[str, str]:
        """The next frame's fields (a comment-only frame gives {"comment": ...})."""
        fields: dict[str, str] = {}
        while True:
            line = await asyncio.wait_for(self.resp.content.readline(), WAIT)
            if not line:
                raise EOFError("stream ended")
            text = line.decode().rstrip("\n")
            if text == "":
                if fields:
                    return fields
                continue
            name, _, value = text.partition(":")
            fields["comment" if name == "" else name] = value.removeprefix(" ")

    async def record(self) -> dict[str, Any]:
        frame = await self.frame()
        assert frame["event"] == "record", frame
        record: dict[str, Any] = json.loads(frame["data"])
        assert frame["id"] == str(record["n"])
        return record


async def _new_session(client: TestClient[Any, Any], store: SQLiteStore) -> str:
    dep = await deploy(client)
    resp = await client.post(webhook_path(dep["webhooks"]["greet"]), json={})
    event_id = (await resp.json())["event_id"]
    (session,) = await store.match_event(
        event_id,
        [NewSession(new_id("ses"), "hello", dep["deployment_id"], "greet", "program.py:on_greet")],
    )
    return session.id


def _rec(session_id: str, n: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"session_id": session_id, "n": n, "time": 100.0 + n, "type": kind, **fields}


def _stored(session_id: str, n: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"session_id": session_id, "n": n, "time": 100.0 + n, "type": kind, **fields}


async def _post(client: TestClient[Any, Any], *records: dict[str, Any]) -> None:
    resp = await client.post("/api/v1/sessions/log", json={"records": list(records)}, headers=AUTH)
    assert resp.status == 200, await resp.text()


async def test_posted_records_arrive_live_then_end(
    app: web.Application, aiohttp_client: Any, store: SQLiteStore
) -> None:
    # No periodic re-check within the test: only the in-process notification
    # can deliver the records in time.
    app[STREAM_SETTINGS] = StreamSettings(recheck_seconds=3600, keepalive_seconds=3600)
    client = await aiohttp_client(app)
    ses = await _new_session(client, store)
    await _post(client, _rec(ses, 0, "state", state="running"))

    resp = await client.get(f"/api/v1/sessions/{ses}/log/stream", headers=AUTH)
    assert resp.status == 200
    assert resp.content_type == "text/event-stream"
    sse = SSEReader(resp)
    first = await sse.record()
    assert first["state"] == "running"
    assert first["time"] == "1970-01-01T00:01:40.000000Z"

    await _post(client, _rec(ses, 1, "print", text="hello"))
    assert (await sse.record())["text"] == "hello"
    await _post(
        client,
        _rec(ses, 2, "call_start", call=1, function="f", args=[]),
        _rec(ses, 3, "call_end", call=1, result=7),
    )
    assert [(await sse.record())["n"] for _ in range(2)] == [2, 3]

    await _post(client, _rec(ses, 4, "state", state="completed"))
    assert (await sse.record())["state"] == "completed"
    end = await sse.frame()
    assert end["event"] == "end"
    assert json.loads(end["data"]) == {"state": "completed", "error": None}
    assert await asyncio.wait_for(resp.content.read(), WAIT) == b""


async def test_finished_session_replays_from_after_and_ends(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    ses = await _new_session(client, store)
    await _post(
        client,
        _rec(ses, 0, "state", state="running"),
        _rec(ses, 1, "print", text="a"),
        _rec(ses, 2, "state", state="error", error="boom"),
    )
    resp = await client.get(
        f"/api/v1/sessions/{ses}/log/stream", params={"after": "0"}, headers=AUTH
    )
    sse = SSEReader(resp)
    assert (await sse.record())["n"] == 1
    assert (await sse.record())["n"] == 2
    end = await sse.frame()
    assert end["event"] == "end"
    assert json.loads(end["data"]) == {"state": "error", "error": "boom"}


async def test_records_stored_elsewhere_arrive_by_recheck(
    app: web.Application, aiohttp_client: Any, store: SQLiteStore
) -> None:
    # Records written straight to the store stand in for another server
    # instance: no in-process notification, only the periodic re-check.
    app[STREAM_SETTINGS] = StreamSettings(recheck_seconds=0.05, keepalive_seconds=0.2)
    client = await aiohttp_client(app)
    ses = await _new_session(client, store)
    resp = await client.get(f"/api/v1/sessions/{ses}/log/stream", headers=AUTH)
    sse = SSEReader(resp)
    assert (await sse.frame()) == {"comment": "keepalive"}
    # Straight into the store, so in the store's shape ("n" numbers records).
    await store.append_log([_stored(ses, 0, "print", text="from elsewhere")])
    frame = await sse.frame()
    while "comment" in frame:
        frame = await sse.frame()
    assert json.loads(frame["data"])["text"] == "from elsewhere"
    await store.append_log([_stored(ses, 1, "state", state="stopped")])
    frame = await sse.frame()
    while frame.get("event") != "end":
        frame = await sse.frame()
    assert json.loads(frame["data"])["state"] == "stopped"


async def test_unknown_session_is_404_before_the_stream(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/sessions/ses_nope/log/stream", headers=AUTH)
    assert resp.status == 404
    assert resp.content_type == "application/json"
    assert "error" in await resp.json()
    resp = await client.get("/api/v1/sessions/ses_nope/log/stream")
    assert resp.status == 401
