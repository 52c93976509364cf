"""Workers' heartbeats are shared state: a beat posted to one server is listed,
and counted in the metrics, by every server on the database."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import time
from typing import Any

from aiohttp.test_utils import TestClient

from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.server._workers import WORKERS, WorkerRegistry
from pawflow.sessions._heartbeat import Heartbeats
from pawflow.sessions._serverlink import ServerLink
from pawflow.storage import Store, WorkerRecord, connect_store

from ._helpers import AUTH
from .conftest import ClientFactory
from .test_health_metrics import WORKER_TOKEN, sample, scrape

WORKER = {"Authorization": f"Bearer {WORKER_TOKEN}"}


def beat(worker_id: str = "box-1:4242", **changes: object) -> dict[str, object]:
    return {
        "id": worker_id,
        "host": "box-1",
        "pid": 4242,
        "task_queue": "q",
        "version": "9.9.9",
        "started_at": time.time() - 5,
        "sessions_running": 3,
        "log_backlog": 17,
        **changes,
    }


async def _client(
    config: ServerConfig, store: Store, aiohttp_client: ClientFactory, **registry: Any
) -> TestClient[Any, Any]:
    app = create_app(
        dataclasses.replace(config, worker_token=WORKER_TOKEN), store, Dispatcher(store, "x:1")
    )
    if registry:
        app[WORKERS] = WorkerRegistry(**registry)
    return await aiohttp_client(app)


async def _listed(client: TestClient[Any, Any]) -> list[dict[str, Any]]:
    reply = await client.get("/api/v1/workers", headers=AUTH)
    assert reply.status == 200, await reply.text()
    workers: list[dict[str, Any]] = (await reply.json())["workers"]
    return workers


async def test_a_beat_posted_to_one_server_is_listed_by_another_on_the_database(
    config: ServerConfig, postgres_url: str, aiohttp_client: ClientFactory
) -> None:
    first_store = await connect_store(postgres_url, config.data_dir)
    second_store = await connect_store(postgres_url, config.data_dir)
    try:
        first = await _client(config, first_store, aiohttp_client)
        second = await _client(config, second_store, aiohttp_client)
        sent = beat()
        before = time.time()
        reply = await first.post("/api/v1/workers/heartbeat", json=sent, headers=WORKER)
        assert reply.status == 200, await reply.text()
        (listed,) = await _listed(second)
        assert listed == {**sent, "last_seen": listed["last_seen"], "alive": True}
        assert before <= listed["last_seen"] <= time.time()
        assert await _listed(first) == [listed]
        text = await scrape(second)
        assert sample(text, "pawflow_workers") == 1.0
        assert sample(text, "pawflow_worker_sessions_running", 'worker="box-1:4242"') == 3.0
        assert sample(text, "pawflow_worker_log_backlog_records", 'worker="box-1:4242"') == 17.0

        # The next beat goes through the other server and replaces the first.
        again = beat(sessions_running=0, log_backlog=1)
        assert (await second.post("/api/v1/workers/heartbeat", json=again, headers=WORKER)).ok
        (listed,) = await _listed(first)
        assert (listed["sessions_running"], listed["log_backlog"]) == (0, 1)
        text = await scrape(first)
        assert sample(text, "pawflow_worker_log_backlog_records", 'worker="box-1:4242"') == 1.0
    finally:
        await first_store.close()
        await second_store.close()


async def test_liveness_comes_from_last_seen_and_day_old_workers_are_forgotten(
    config: ServerConfig, store: Store, aiohttp_client: ClientFactory
) -> None:
    client = await _client(config, store, aiohttp_client)
    assert (await client.post("/api/v1/workers/heartbeat", json=beat(), headers=WORKER)).ok
    now = time.time()
    quiet = WorkerRecord("quiet:1", "box-2", 1, "q", "9.9.9", now - 600, now - 45, 2, 5)
    gone = dataclasses.replace(quiet, id="gone:1", last_seen=now - 25 * 3600)
    await store.record_worker(quiet)
    await store.record_worker(gone)
    listed = {w["id"]: w["alive"] for w in await _listed(client)}
    assert listed == {"box-1:4242": True, "quiet:1": False}
    assert [w.id for w in await store.list_workers()] == ["box-1:4242", "quiet:1"]  # deleted
    text = await scrape(client)
    assert sample(text, "pawflow_workers") == 1.0
    assert 'worker="quiet:1"' not in text


async def test_made_up_worker_ids_cannot_grow_the_table_past_its_bound(
    config: ServerConfig, store: Store, aiohttp_client: ClientFactory
) -> None:
    client = await _client(config, store, aiohttp_client, max_workers=3)
    for n in range(8):
        reply = await client.post("/api/v1/workers/heartbeat", json=beat(f"w:{n}"), headers=WORKER)
        assert reply.status == 200
        assert len(await store.list_workers()) <= 3
    # The most recently seen are kept.
    assert [w["id"] for w in await _listed(client)] == ["w:5", "w:6", "w:7"]


async def test_a_heartbeat_out_of_bounds_is_refused_in_one_line(
    config: ServerConfig, store: Store, aiohttp_client: ClientFactory
) -> None:
    client = await _client(config, store, aiohttp_client)
    cases = {
        "host": ("x" * 256, "host must be printable text of at most 255 characters"),
        "version": ("1.0\x00", "version must be printable text of at most 255 characters"),
        "task_queue": (7, "task_queue must be printable text of at most 255 characters"),
        "log_backlog": (2**53, "log_backlog must be a non-negative integer"),
        "sessions_running": (True, "sessions_running must be a non-negative integer"),
        "started_at": (1e12, "started_at must be Unix seconds"),
        "id": ("a" * 201, "id must be 1 to 200 letters, digits or _.:@-"),
    }
    for field, (value, message) in cases.items():
        sent = {**beat(), field: value}
        reply = await client.post("/api/v1/workers/heartbeat", json=sent, headers=WORKER)
        assert (reply.status, await reply.json()) == (400, {"error": message}), field
    reply = await client.post("/api/v1/workers/heartbeat", json=beat(rows=5), headers=WORKER)
    assert reply.status == 400
    assert "rows" in (await reply.json())["error"]
    assert await store.list_workers() == []  # nothing refused was stored
    # A worker of an earlier version sends no version: still taken.
    older = beat()
    del older["version"]
    assert (await client.post("/api/v1/workers/heartbeat", json=older, headers=WORKER)).ok
    assert [w.version for w in await store.list_workers()] == [""]


async def test_what_a_worker_sends_is_taken_and_stored(
    config: ServerConfig, store: Store, aiohttp_client: ClientFactory
) -> None:
    client = await _client(config, store, aiohttp_client)
    link = ServerLink(str(client.make_url("")), WORKER_TOKEN)  # never used: no beat loop here
    beats = Heartbeats(link, "sessions-q", lambda: 2, lambda: 40)
    reply = await client.post("/api/v1/workers/heartbeat", json=beats.payload(), headers=WORKER)
    assert reply.status == 200, await reply.text()
    (worker,) = await store.list_workers()
    assert (worker.id, worker.pid, worker.task_queue) == (beats.id, os.getpid(), "sessions-q")
    assert (worker.sessions_running, worker.log_backlog) == (2, 40)
    assert worker.version == importlib.metadata.version("pawflow")
