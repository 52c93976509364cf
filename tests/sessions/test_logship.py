"""The worker's log shipper against a real Pawflow server: nothing is dropped.

Between the two sits a gate standing in for the network: it can answer 503 (the
server away) or refuse a whole batch holding a marker with a 400 (as a server
that judged batches whole did), and otherwise forwards to the real server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.sessions._logship import LogShipper
from pawflow.sessions._serverlink import ServerLink
from pawflow.storage import SQLiteStore
from tests.helpers import free_port
from tests.server._events import deploy_manifest, new_session

TOKEN = "test-token"
WAIT = 20.0

ServerFactory = Callable[..., Awaitable[TestServer]]


class Gate:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.open = True
        self.poison: bytes | None = None
        self.turned_away = 0
        self.app = web.Application()
        self.app.router.add_post("/{path:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.open:
            self.turned_away += 1
            return web.json_response({"error": "server unavailable"}, status=503)
        if self.poison is not None and self.poison in body:
            return web.json_response({"error": "records[0]: refused"}, status=400)
        headers = {k: v for k, v in request.headers.items() if k in ("Authorization",)}
        headers["Content-Type"] = "application/json"
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.upstream + request.path, data=body, headers=headers) as reply,
        ):
            return web.Response(
                status=reply.status, body=await reply.read(), content_type="application/json"
            )


@dataclass
class Setup:
    store: SQLiteStore
    gate: Gate
    url: str

    def shipper(self, **options: Any) -> LogShipper:
        shipper = LogShipper(ServerLink(self.url, TOKEN, timeout=5.0), **options)
        shipper.start()
        return shipper


def pawflow_app(tmp_path: Path, store: SQLiteStore) -> web.Application:
    """The real server (its dispatcher not started: nothing here needs Temporal)."""
    config = ServerConfig(
        data_dir=tmp_path / "data", token=TOKEN, temporal_address=f"127.0.0.1:{free_port()}"
    )
    dispatcher = Dispatcher(store, config.temporal_address, config.namespace, config.task_queue)
    return create_app(config, store, dispatcher)


@pytest.fixture
async def setup(
    tmp_path: Path, store: SQLiteStore, aiohttp_server: ServerFactory
) -> AsyncIterator[Setup]:
    server = await aiohttp_server(pawflow_app(tmp_path, store))
    gate = Gate(str(server.make_url("")).rstrip("/"))
    front = await aiohttp_server(gate.app)
    yield Setup(store, gate, str(front.make_url("")).rstrip("/"))


def rec(session_id: str, n: int, kind: str = "print", **fields: Any) -> dict[str, Any]:
    return {"session_id": session_id, "n": n, "time": 100.0 + n, "type": kind, **fields}


async def delivered(shipper: LogShipper) -> bool:
    return await asyncio.to_thread(shipper.wait_delivered, shipper.ticket(), WAIT)


async def until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)  # poll: the shipper's thread does the work


async def session_with_log(setup: Setup) -> str:
    dep = await deploy_manifest(setup.store)
    return await new_session(setup.store, dep)


async def test_records_wait_out_a_server_that_is_away(setup: Setup) -> None:
    ses = await session_with_log(setup)
    setup.gate.open = False
    shipper = setup.shipper()
    try:
        for n in range(5):
            shipper.emit(rec(ses, n, text=f"line {n}"))
        await until(lambda: setup.gate.turned_away >= 3, "retries")
        assert await setup.store.get_log(ses) == []
        setup.gate.open = True
        assert await delivered(shipper)
    finally:
        shipper.close()
    assert [r["text"] for r in await setup.store.get_log(ses)] == [f"line {n}" for n in range(5)]


async def test_records_wait_for_a_server_not_started_yet(
    tmp_path: Path, store: SQLiteStore, aiohttp_server: ServerFactory
) -> None:
    port = free_port()
    shipper = LogShipper(ServerLink(f"http://127.0.0.1:{port}", TOKEN, timeout=5.0))
    shipper.start()
    try:
        dep = await deploy_manifest(store)
        ses = await new_session(store, dep)
        shipper.emit(rec(ses, 0, "state", state="running"))
        shipper.emit(rec(ses, 1, "state", state="completed"))
        assert not await asyncio.to_thread(shipper.wait_delivered, shipper.ticket(), 0.3)
        await aiohttp_server(pawflow_app(tmp_path, store), port=port)
        assert await delivered(shipper)
    finally:
        shipper.close()
    session = await store.get_session(ses)
    assert session is not None and session.state == "completed"


async def test_a_batch_refused_whole_loses_only_the_record_at_fault(setup: Setup) -> None:
    ses = await session_with_log(setup)
    setup.gate.poison = b"POISON"
    setup.gate.open = False  # so that all of them go in one batch
    shipper = setup.shipper()
    try:
        for n in range(9):
            shipper.emit(rec(ses, n, text="POISON" if n == 4 else f"line {n}"))
        shipper.emit(rec(ses, 9, "state", state="completed", result="POISON"))
        await until(lambda: setup.gate.turned_away >= 1, "a first try")
        setup.gate.open = True
        assert await delivered(shipper)
    finally:
        shipper.close()
    stored = await setup.store.get_log(ses)
    assert [r["n"] for r in stored] == list(range(10))
    assert [r["text"] for r in stored[:4]] == [f"line {n}" for n in range(4)]
    assert stored[4]["type"] == "print"
    assert stored[4]["text"].startswith("log record refused by the server: ")
    assert "POISON" not in stored[4]["text"]
    # The final state is replaced by a state record: the session still ends.
    assert stored[9]["type"] == "state" and stored[9]["state"] == "completed"
    session = await setup.store.get_session(ses)
    assert session is not None and session.state == "completed"


async def test_a_record_the_server_refuses_is_replaced_with_its_number(setup: Setup) -> None:
    ses = await session_with_log(setup)
    shipper = setup.shipper()
    try:
        shipper.emit(rec(ses, 0, text="before"))
        # Ten thousand keys: too big for the server even with its text cut.
        shipper.emit(rec(ses, 1, "call_end", seq=1, result={f"key {i}": i for i in range(10_000)}))
        shipper.emit(rec(ses, 2, "call_end", seq=2, result=float("nan")))
        shipper.emit(rec(ses, 3, text="broken \ud83d emoji"))
        assert await delivered(shipper)
    finally:
        shipper.close()
    stored = await setup.store.get_log(ses)
    assert [r["n"] for r in stored] == [0, 1, 2, 3]
    assert stored[1]["text"].startswith("log record refused by the server: the record is ")
    assert stored[2]["text"].startswith("log record cannot be encoded as JSON")
    assert stored[3]["text"] == "broken \ufffd emoji"


async def test_emitters_wait_when_too_much_is_queued(setup: Setup) -> None:
    ses = await session_with_log(setup)
    setup.gate.open = False
    shipper = setup.shipper(queue_bytes=4096)
    done = threading.Event()

    def emit_many() -> None:
        for n in range(100):
            shipper.emit(rec(ses, n, text=f"{n:03d} " + "x" * 200))
        done.set()

    emitter = threading.Thread(target=emit_many)
    emitter.start()
    try:
        await until(lambda: setup.gate.turned_away >= 3, "retries")
        # The queue cannot drain while the gate is shut, so the emitter is held.
        assert not done.is_set()
        setup.gate.open = True
        assert await asyncio.to_thread(done.wait, WAIT)
        assert await delivered(shipper)
    finally:
        setup.gate.open = True
        emitter.join(WAIT)
        shipper.close()
    stored = await setup.store.get_log(ses)
    assert [r["n"] for r in stored] == list(range(100))
