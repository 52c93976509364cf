"""``GET /api/v1/sessions/{id}/webhooks/{trigger}``: the URL ``pawflow.webhook_url``
returns, built as ``paw deploy`` prints it."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp.test_utils import TestClient

from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import Store
from tests.server._events import deploy_manifest, new_session
from tests.server._helpers import AUTH, deploy
from tests.server.conftest import ClientFactory


async def test_the_url_is_the_one_deploy_printed_under_the_public_url(
    aiohttp_client: ClientFactory, config: ServerConfig, store: Store
) -> None:
    public = dataclasses.replace(config, public_url="https://hooks.example.com/pawflow/")
    dispatcher = Dispatcher(store, public.temporal_address, public.namespace, public.task_queue)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(public, store, dispatcher))
    deployed = await deploy(client)
    deployment = await store.get_deployment(deployed["deployment_id"])
    assert deployment is not None
    session = await new_session(store, deployment)
    reply = await client.get(f"/api/v1/sessions/{session}/webhooks/greet", headers=AUTH)
    assert reply.status == 200
    assert await reply.json() == {"trigger": "greet", "url": deployed["webhooks"]["greet"]}
    assert deployed["webhooks"]["greet"].startswith("https://hooks.example.com/pawflow/webhooks/")


async def test_unknown_and_non_webhook_triggers_are_named(
    client: TestClient[Any, Any], store: Store
) -> None:
    session = await new_session(store, await deploy_manifest(store))
    base = f"/api/v1/sessions/{session}/webhooks/"
    missing = await client.get(base + "nope", headers=AUTH)
    assert missing.status == 404
    assert (await missing.json())["error"] == "project 'demo' has no trigger 'nope'"
    connection = await client.get(base + "issues", headers=AUTH)
    assert connection.status == 400
    assert (await connection.json())["error"] == (
        "trigger 'issues' of project 'demo' is not a webhook trigger"
    )
