"""``serve()``: a real listener with the dispatcher running, and a clean stop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pawflow.errors import ConfigError
from pawflow.server import ServerConfig, serve
from tests.helpers import free_port, wait_for

from ._helpers import AUTH, TOKEN, project_zip

DEADLINE = 10.0


def _config(tmp_path: Path, port: int = 0) -> ServerConfig:
    return ServerConfig(
        data_dir=tmp_path / "data",
        token=TOKEN,
        temporal_address=f"127.0.0.1:{free_port()}",  # nothing listens there
        port=port,
    )


async def test_serve_accepts_webhooks_while_temporal_is_down(tmp_path: Path) -> None:
    async with serve(_config(tmp_path)) as server, aiohttp.ClientSession(server.url) as http:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert (await http.get("/healthz")).status == 200

        resp = await http.post(
            "/api/v1/deployments",
            data=project_zip(),
            headers={**AUTH, "Content-Type": "application/zip"},
        )
        assert resp.status == 201
        url = (await resp.json())["webhooks"]["greet"]
        assert url.startswith(f"{server.url}/webhooks/")

        resp = await http.post(url, json={"hello": "world"})
        assert resp.status == 202
        event_id = (await resp.json())["event_id"]

        # The dispatcher matches the event to a session even though it cannot
        # start the workflow; the session waits in the store.
        async def session_created() -> list[dict[str, Any]]:
            r = await http.get("/api/v1/sessions", params={"event": event_id}, headers=AUTH)
            sessions: list[dict[str, Any]] = (await r.json())["sessions"]
            return sessions

        (session,) = await wait_for(session_created, message="the session created")
        assert session["state"] == "created"
        assert session["trigger"] == "greet"
        events = await (await http.get("/api/v1/events", headers=AUTH)).json()
        assert events["events"][0]["state"] == "dispatched"
    assert (tmp_path / "data" / "pawflow.db").exists()

    # A restart finds everything where it was left.
    async with serve(_config(tmp_path)) as server, aiohttp.ClientSession(server.url) as http:
        resp = await http.get(f"/api/v1/sessions/{session['id']}", headers=AUTH)
        assert (await resp.json())["state"] == "created"


async def test_port_in_use_is_a_config_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is already in use"):
            async with serve(_config(tmp_path, port)):
                pass


async def test_stop_ends_open_log_streams(tmp_path: Path) -> None:
    async with serve(_config(tmp_path)) as server:
        http = aiohttp.ClientSession(server.url)
        resp = await http.post(
            "/api/v1/deployments",
            data=project_zip(),
            headers={**AUTH, "Content-Type": "application/zip"},
        )
        url = (await resp.json())["webhooks"]["greet"]
        event_id = (await (await http.post(url, json={})).json())["event_id"]

        async def session_id() -> str | None:
            r = await http.get("/api/v1/sessions", params={"event": event_id}, headers=AUTH)
            sessions = (await r.json())["sessions"]
            return sessions[0]["id"] if sessions else None

        ses = await wait_for(session_id, message="the session created")
        stream = await http.get(f"/api/v1/sessions/{ses}/log/stream", headers=AUTH)
        assert stream.status == 200
    try:
        # The server is gone: the stream has ended rather than hanging.
        rest = await asyncio.wait_for(stream.content.read(), DEADLINE)
        assert b"event: record" not in rest
    except aiohttp.ClientPayloadError:
        pass
    finally:
        await http.close()
