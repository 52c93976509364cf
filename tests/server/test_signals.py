"""Signals to sessions through the API, delivered to a real Temporal workflow."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore
from tests.dispatch._recorder import recording_sessions
from tests.helpers import wait_for

from ._events import deploy_manifest, end_session, new_session
from ._helpers import AUTH, TOKEN

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def _path(session_id: str) -> str:
    return f"/api/v1/sessions/{session_id}/signals"


async def _client_on(
    temporal_address: str, tmp_path: Path, store: SQLiteStore, aiohttp_client: ClientFactory
) -> TestClient[Any, Any]:
    config = ServerConfig(
        data_dir=tmp_path / "data", token=TOKEN, temporal_address=temporal_address
    )
    dispatcher = Dispatcher(store, temporal_address, config.namespace, config.task_queue)
    app: web.Application = create_app(config, store, dispatcher)
    return await aiohttp_client(app)


async def test_a_signal_reaches_the_session_workflow(
    store: SQLiteStore, temporal_address: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    client = await _client_on(temporal_address, tmp_path, store, aiohttp_client)
    dep = await deploy_manifest(store)
    async with recording_sessions(temporal_address) as sessions:
        target = await new_session(store, dep)
        sender = await new_session(store, dep)
        await sessions.start(target)
        resp = await client.post(
            _path(target),
            json={"name": "approve", "payload": {"by": "ada", "n": [1]}, "sender": sender},
            headers=AUTH,
        )
        assert resp.status == 202, await resp.text()
        assert await resp.json() == {"session_id": target, "name": "approve"}
        resp = await client.post(_path(target), json={"name": "ping"}, headers=AUTH)
        assert resp.status == 202

        async def two() -> list[Any] | None:
            got = await sessions.received(target)
            return got if len(got) == 2 else None

        got = await wait_for(two, timeout=30, message="two signals")
    assert got == [
        ["signal", "approve", {"by": "ada", "n": [1]}, sender],
        ["signal", "ping", None, None],
    ]


async def test_a_session_not_started_yet_is_waited_for(
    store: SQLiteStore,
    temporal_address: str,
    tmp_path: Path,
    aiohttp_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="pawflow.server")
    client = await _client_on(temporal_address, tmp_path, store, aiohttp_client)
    dep = await deploy_manifest(store)
    async with recording_sessions(temporal_address) as sessions:
        target = await new_session(store, dep, started=False)
        reply = asyncio.ensure_future(
            client.post(_path(target), json={"name": "early"}, headers=AUTH)
        )
        await wait_for(
            lambda: any("not started yet" in r.getMessage() for r in caplog.records),
            message="the server waiting for the workflow",
        )
        await sessions.start(target)
        await store.mark_started(target)
        resp = await reply
        assert resp.status == 202, await resp.text()
        got = await wait_for(lambda: sessions.received(target), timeout=30, message="a signal")
    assert got == [["signal", "early", None, None]]


async def test_a_workflow_that_is_gone_means_the_session_ended(
    store: SQLiteStore, temporal_address: str, tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    client = await _client_on(temporal_address, tmp_path, store, aiohttp_client)
    target = await new_session(store, await deploy_manifest(store))  # no workflow at all
    resp = await client.post(_path(target), json={"name": "x"}, headers=AUTH)
    assert resp.status == 409
    assert "has ended" in (await resp.json())["error"]


async def test_bad_signals_are_refused(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    dep = await deploy_manifest(store)
    running = await new_session(store, dep)
    ended = await new_session(store, dep)
    await end_session(client, ended)
    cases: list[tuple[str, Any, int, str]] = [
        ("ses_nope", {"name": "x"}, 404, "no session 'ses_nope'"),
        (ended, {"name": "x"}, 409, "has ended (completed)"),
        (running, {"name": ""}, 400, "name must be"),
        (running, {"payload": 1}, 400, "name must be"),
        (running, {"name": "x", "sender": 5}, 400, "sender must be"),
        (running, {"name": "x", "to": "y"}, 400, "unknown field 'to'"),
    ]
    for session_id, body, status, message in cases:
        resp = await client.post(_path(session_id), json=body, headers=AUTH)
        assert resp.status == status, body
        assert message in (await resp.json())["error"], body


async def test_temporal_down_is_a_503(client: TestClient[Any, Any], store: SQLiteStore) -> None:
    # The client fixture's server points at a Temporal address where nothing listens.
    running = await new_session(store, await deploy_manifest(store))
    resp = await client.post(_path(running), json={"name": "x"}, headers=AUTH)
    assert resp.status == 503
    assert "unavailable" in (await resp.json())["error"]
