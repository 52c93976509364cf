"""Idempotency keys are namespaced by the source that chose them.

A stranger holding a webhook URL must not be able to cancel a scheduled run (or
swallow another source's event) by sending its predictable key first.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.dispatch import Dispatcher
from pawflow.integrations import IntegrationRegistry
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore
from tests.helpers import matching_only
from tests.integrations.conftest import github_signature

TOKEN = "security-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "gh-webhook-secret-for-sources"
SCHEDULED = "2024-05-01T03:00:00Z"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def _manifest(project: str, *, schedule: bool = True) -> str:
    text = f"""\
version: 1
project:
  name: {project}
  connections:
    - name: gh
      integration: github
      vars: {{base_url: "http://127.0.0.1:9"}}
  triggers:
    - name: hook
      webhook: {{}}
      call: program.py:run
    - name: other
      webhook: {{}}
      call: program.py:run
"""
    if schedule:
        text += "    - name: nightly\n      schedule: '@daily'\n      call: program.py:run\n"
    return text


def _zip(manifest: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pawflow.yaml", manifest)
        zf.writestr("program.py", "def run(event):\n    print(event)\n")
    return buf.getvalue()


@pytest.fixture
def project() -> str:
    return f"sec{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def client(
    tmp_path: Path,
    store: SQLiteStore,
    aiohttp_client: ClientFactory,
    temporal_address: str,
    monkeypatch: pytest.MonkeyPatch,
) -> TestClient[Any, Any]:
    monkeypatch.delenv("PAWFLOW_SECRET_KEY", raising=False)
    # Deploys sync the schedule with the real Temporal; the app's dispatcher is
    # never started: the tests match events themselves.
    config = ServerConfig(
        data_dir=tmp_path / "data",
        token=TOKEN,
        temporal_address=temporal_address,
        task_queue=f"security-{uuid.uuid4().hex[:8]}",
    )
    dispatcher = Dispatcher(store, temporal_address, config.namespace, config.task_queue)
    return await aiohttp_client(
        create_app(config, store, dispatcher, IntegrationRegistry.discover())
    )


@pytest.fixture
async def deployed(client: TestClient[Any, Any], project: str) -> AsyncIterator[dict[str, Any]]:
    """The project deployed (its schedule made in Temporal), with the GitHub
    connection's webhook secret set; the schedule is removed afterwards."""
    body = await _deploy(client, _manifest(project))
    resp = await client.put(
        f"/api/v1/projects/{project}/vars/webhook_secret",
        json={"value": SECRET, "secret": True},
        params={"connection": "gh"},
        headers=AUTH,
    )
    assert resp.status == 200, await resp.text()
    yield body
    await _deploy(client, _manifest(project, schedule=False))


async def _deploy(client: TestClient[Any, Any], manifest: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/deployments",
        data=_zip(manifest),
        headers={**AUTH, "Content-Type": "application/zip"},
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def _path(url: str) -> str:
    return url[url.index("/webhooks/") :]


async def _webhook(client: TestClient[Any, Any], url: str, key: str) -> tuple[str, bool]:
    """(event id, duplicate) of a webhook POSTed with ``key``."""
    resp = await client.post(_path(url), json={}, headers={"Idempotency-Key": key})
    assert resp.status == 202, await resp.text()
    return resp.headers["Pawflow-Event-Id"], resp.headers.get("Pawflow-Duplicate") == "true"


async def _tick(client: TestClient[Any, Any], project: str) -> dict[str, Any]:
    """A tick of the schedule ``nightly``, POSTed as the schedule's activity does."""
    tick = {"project": project, "trigger": "nightly", "scheduled_time": SCHEDULED}
    resp = await client.post("/api/v1/schedules/ticks", json=tick, headers=AUTH)
    assert resp.status == 202, await resp.text()
    reply: dict[str, Any] = await resp.json()
    return reply


async def test_a_pre_claimed_schedule_key_does_not_cancel_the_scheduled_run(
    client: TestClient[Any, Any], store: SQLiteStore, project: str, deployed: dict[str, Any]
) -> None:
    # The tick's key is predictable; a stranger with the webhook URL sends it first.
    tick_key = f"schedule:{project}:nightly:{SCHEDULED}"
    claimed, duplicate = await _webhook(client, deployed["webhooks"]["hook"], tick_key)
    assert not duplicate

    tick = await _tick(client, project)
    assert tick["duplicate"] is False and tick["event_id"] != claimed
    # A retried tick is still the same event.
    assert await _tick(client, project) == {"event_id": tick["event_id"], "duplicate": True}

    # Sessions are created (not started), which is what decides that the run happens.
    async with matching_only(store) as match_pending:
        await match_pending("events matched")
    (scheduled,) = await store.list_sessions(event_id=tick["event_id"])
    assert (scheduled.trigger, scheduled.call) == ("nightly", "program.py:run")
    (hooked,) = await store.list_sessions(event_id=claimed)
    assert hooked.trigger == "hook"
    event = await store.get_event(tick["event_id"])
    assert event is not None and event.idempotency_key == tick_key


async def test_the_same_key_on_two_webhooks_is_two_events_and_a_repeat_is_one(
    client: TestClient[Any, Any], store: SQLiteStore, project: str, deployed: dict[str, Any]
) -> None:
    hooks = deployed["webhooks"]
    first, first_dup = await _webhook(client, hooks["hook"], "order-17")
    other, other_dup = await _webhook(client, hooks["other"], "order-17")
    assert not first_dup and not other_dup and first != other
    again, again_dup = await _webhook(client, hooks["hook"], "order-17")
    assert again_dup and again == first
    events = {e.id: e for e in await store.list_events(project)}
    assert set(events) == {first, other}
    # The API shows the key as the caller sent it.
    resp = await client.get(f"/api/v1/events/{other}", headers=AUTH)
    assert resp.status == 200
    shown = await resp.json()
    assert (shown["trigger"], shown["idempotency_key"]) == ("other", "order-17")


async def test_a_connection_redelivery_is_deduplicated_and_cannot_be_pre_claimed(
    client: TestClient[Any, Any], store: SQLiteStore, project: str, deployed: dict[str, Any]
) -> None:
    # A webhook caller sends the provider's next delivery id first.
    claimed, _ = await _webhook(client, deployed["webhooks"]["hook"], "delivery-42")

    body = json.dumps({"action": "opened", "issue": {"number": 1}}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "delivery-42",
        "X-Hub-Signature-256": github_signature(SECRET, body),
    }
    gh_path = _path(deployed["connections"]["gh"]["webhook_url"])
    first = await client.post(gh_path, data=body, headers=headers)
    assert first.status == 202, await first.text()
    delivered = first.headers["Pawflow-Event-Id"]
    assert delivered != claimed and "Pawflow-Duplicate" not in first.headers

    again = await client.post(gh_path, data=body, headers=headers)
    assert again.status == 202
    assert again.headers["Pawflow-Event-Id"] == delivered
    assert again.headers["Pawflow-Duplicate"] == "true"
    event = await store.get_event(delivered)
    assert event is not None
    assert (event.connection, event.idempotency_key) == ("gh", "delivery-42")
    assert len(await store.list_events(project)) == 2
