"""A webhook answers by the deployment active when it arrives, though the server
keeps what it read of deployments in memory: a deploy, a rollback or a
deactivation takes effect for the very next webhook."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.storage import SQLiteStore

from ._helpers import AUTH, deploy, project_zip, webhook_path

pytestmark = pytest.mark.timeout(60)

# The same project without ``greet``, and ``items`` taking POST only.
SECOND = """\
version: 1
project:
  name: hello
  triggers:
    - name: items
      webhook:
        methods: [POST]
      call: program.py:on_items
"""


async def test_the_next_webhook_uses_the_deployment_just_activated(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    first = await deploy(client)
    hooks = {name: webhook_path(url) for name, url in first["webhooks"].items()}
    assert (await client.post(hooks["greet"], json={})).status == 202
    assert (await client.put(hooks["items"], json={})).status == 202

    second = await deploy(client, project_zip(SECOND))
    assert second["deployment_id"] != first["deployment_id"]
    assert (await client.post(hooks["greet"], json={})).status == 404
    resp = await client.put(hooks["items"], json={})
    assert resp.status == 405
    assert resp.headers["Allow"] == "POST"
    resp = await client.post(hooks["items"], json={})
    assert resp.status == 202
    event = await store.get_event((await resp.json())["event_id"])
    assert event is not None and event.trigger == "items"

    # A rollback, by hand: the first deployment's triggers are back at once.
    resp = await client.post(f"/api/v1/deployments/{first['deployment_id']}/activate", headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await client.post(hooks["greet"], json={})).status == 202
    assert (await client.put(hooks["items"], json={})).status == 202

    resp = await client.post(
        f"/api/v1/deployments/{first['deployment_id']}/deactivate", headers=AUTH
    )
    assert resp.status == 200, await resp.text()
    assert (await client.post(hooks["greet"], json={})).status == 404
    assert (await client.post(hooks["items"], json={})).status == 404


async def test_a_webhook_of_a_deleted_project_is_gone_at_once(
    client: TestClient[Any, Any], store: SQLiteStore
) -> None:
    hooks = {name: webhook_path(url) for name, url in (await deploy(client))["webhooks"].items()}
    assert (await client.post(hooks["greet"], json={})).status == 202
    resp = await client.delete("/api/v1/projects/hello", headers=AUTH)
    assert resp.status in (200, 204), await resp.text()
    # Made again: its webhooks have new slugs, and the old ones stay unknown.
    again = await deploy(client)
    assert webhook_path(again["webhooks"]["greet"]) != hooks["greet"]
    assert (await client.post(hooks["greet"], json={})).status == 404
    assert (await client.post(webhook_path(again["webhooks"]["greet"]), json={})).status == 202
