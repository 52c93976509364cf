"""``/healthz``, ``/readyz``, ``/metrics`` and workers' heartbeats, on a real app."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

from aiohttp.test_utils import TestClient

from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore

from ._helpers import AUTH, deploy
from .conftest import ClientFactory

WORKER_TOKEN = "worker-test-token"


def sample(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def scrape(client: TestClient[Any, Any]) -> str:
    reply = await client.get("/metrics", headers=AUTH)
    assert reply.status == 200, await reply.text()
    assert reply.headers["Content-Type"].startswith("text/plain")
    return await reply.text()


async def test_healthz_needs_no_token(client: TestClient[Any, Any]) -> None:
    reply = await client.get("/healthz")
    assert (reply.status, await reply.json()) == (200, {"ok": True})


async def test_readyz_is_503_naming_temporal_when_it_is_unreachable(
    client: TestClient[Any, Any], config: ServerConfig
) -> None:
    # The config fixture points at a port nobody listens on.
    reply = await client.get("/readyz")
    assert reply.status == 503
    body = await reply.json()
    assert body["ok"] is False
    assert body["error"].startswith("Temporal ")
    assert "store" not in body["error"]
    # Anyone may ask: no internal address in the answer.
    assert config.temporal_address not in body["error"]


async def test_readyz_is_200_when_store_and_temporal_answer(
    config: ServerConfig,
    store: SQLiteStore,
    temporal_address: str,
    aiohttp_client: ClientFactory,
) -> None:
    live = dataclasses.replace(config, temporal_address=temporal_address)
    app = create_app(live, store, Dispatcher(store, temporal_address))
    client = await aiohttp_client(app)
    reply = await client.get("/readyz")
    assert (reply.status, await reply.json()) == (200, {"ok": True})


async def test_readyz_names_a_store_that_fails(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    await store.close()
    reply = await client.get("/readyz")
    assert reply.status == 503
    assert "the store is unavailable" in (await reply.json())["error"]


async def test_metrics_need_the_admin_token(
    config: ServerConfig, store: SQLiteStore, aiohttp_client: ClientFactory
) -> None:
    with_workers = dataclasses.replace(config, worker_token=WORKER_TOKEN)
    client = await aiohttp_client(create_app(with_workers, store, Dispatcher(store, "x:1")))
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    worker = await client.get("/metrics", headers={"Authorization": f"Bearer {WORKER_TOKEN}"})
    assert worker.status == 403
    assert (await client.get("/metrics", headers=AUTH)).status == 200


async def test_webhooks_move_their_counters_and_the_dispatch_lag(
    client: TestClient[Any, Any],
) -> None:
    deployed = await deploy(client)
    path = "/webhooks/" + deployed["webhooks"]["greet"].rsplit("/", 1)[1]
    before = await scrape(client)
    assert sample(before, "pawflow_dispatch_lag_seconds") == 0.0
    for _ in range(3):
        assert (await client.post(path, json={"n": 1})).status == 202
    assert (await client.post("/webhooks/no-such-hook", json={})).status == 404
    after = await scrape(client)
    accepted = 'kind="webhook",status="202"'
    assert sample(after, "pawflow_webhooks_total", accepted) == 3.0
    assert sample(after, "pawflow_webhooks_total", 'kind="webhook",status="404"') == 1.0
    assert sample(after, "pawflow_webhook_ack_seconds_count", 'kind="webhook"') == 4.0
    # Nothing dispatches here (no Temporal): the oldest event waits, and it shows.
    assert sample(after, "pawflow_dispatch_lag_seconds") > 0.0


async def test_log_records_count_sessions_and_calls(client: TestClient[Any, Any]) -> None:
    now = time.time()
    records = [
        {"session_id": "ses_m1", "n": 0, "time": now, "type": "state", "state": "running"},
        {"session_id": "ses_m1", "n": 1, "time": now, "type": "call_start", "seq": 1},
        {"session_id": "ses_m1", "n": 2, "time": now, "type": "call_end", "seq": 1,
         "duration_ms": 250.0, "result": "1"},
        {"session_id": "ses_m1", "n": 3, "time": now, "type": "call_end", "seq": 2,
         "duration_ms": 5.0, "error": "ValueError: no"},
        {"session_id": "ses_m1", "n": 4, "time": now, "type": "state", "state": "error"},
    ]  # fmt: skip
    for _ in range(2):  # the second post is a duplicate delivery: counted once
        reply = await client.post("/api/v1/sessions/log", json={"records": records}, headers=AUTH)
        assert reply.status == 200, await reply.text()
    text = await scrape(client)
    assert sample(text, "pawflow_session_states_total", 'state="running"') == 1.0
    assert sample(text, "pawflow_session_states_total", 'state="error"') == 1.0
    assert sample(text, "pawflow_calls_started_total") == 1.0
    assert sample(text, "pawflow_calls_ended_total", 'outcome="ok"') == 1.0
    assert sample(text, "pawflow_calls_ended_total", 'outcome="error"') == 1.0
    assert sample(text, "pawflow_call_duration_seconds_sum") == 0.255
    assert sample(text, "pawflow_log_shipping_delay_seconds_count") == 5.0


async def test_heartbeats_list_workers_and_feed_the_metrics(
    config: ServerConfig, store: SQLiteStore, aiohttp_client: ClientFactory
) -> None:
    with_workers = dataclasses.replace(config, worker_token=WORKER_TOKEN)
    client = await aiohttp_client(create_app(with_workers, store, Dispatcher(store, "x:1")))
    worker = {"Authorization": f"Bearer {WORKER_TOKEN}"}
    beat = {
        "id": "box-1:4242",
        "host": "box-1",
        "pid": 4242,
        "task_queue": "q",
        "started_at": time.time() - 5,
        "sessions_running": 3,
        "log_backlog": 17,
    }
    assert (await client.post("/api/v1/workers/heartbeat", json=beat, headers=worker)).status == 200
    # A worker cannot read the list; the admin can.
    assert (await client.get("/api/v1/workers", headers=worker)).status == 403
    listed = await (await client.get("/api/v1/workers", headers=AUTH)).json()
    (only,) = listed["workers"]
    assert (only["id"], only["sessions_running"], only["alive"]) == ("box-1:4242", 3, True)
    text = await scrape(client)
    assert sample(text, "pawflow_workers") == 1.0
    assert sample(text, "pawflow_worker_log_backlog_records", 'worker="box-1:4242"') == 17.0
    bad = await client.post("/api/v1/workers/heartbeat", json={**beat, "pid": -1}, headers=worker)
    assert bad.status == 400
    assert (await bad.json())["error"] == "pid must be a non-negative integer"


async def test_the_metrics_port_app_serves_without_a_token(
    app: Any, aiohttp_client: ClientFactory
) -> None:
    from pawflow.server._app import create_metrics_app

    side = await aiohttp_client(create_metrics_app(app))
    reply = await side.get("/metrics")
    assert reply.status == 200
    assert "pawflow_webhooks" in await reply.text()
    assert (await side.get("/api/v1/projects")).status == 404  # nothing else is there
