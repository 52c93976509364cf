"""The day-2 and replay routes are the admin's: a worker's token and a session's
own credential are refused on them, and nothing changes."""

from __future__ import annotations

import dataclasses

from pawflow.credentials import mint_session_credential
from pawflow.dispatch import Dispatcher
from pawflow.server import ServerConfig, create_app
from pawflow.storage import SQLiteStore

from ._helpers import AUTH, deploy
from .conftest import ClientFactory

WORKER_TOKEN = "worker-test-token"


async def test_operations_refuse_a_worker_and_a_session(
    config: ServerConfig, store: SQLiteStore, aiohttp_client: ClientFactory
) -> None:
    with_workers = dataclasses.replace(config, worker_token=WORKER_TOKEN)
    client = await aiohttp_client(create_app(with_workers, store, Dispatcher(store, "x:1")))
    await deploy(client)
    (deployment,) = await store.list_deployments()
    event, _ = await store.add_event(project=deployment.project, trigger=None, type="t", data={})
    session, _, _ = await store.start_manual_session(
        project=deployment.project, deployment_id=deployment.id, call="a.py:f", data={}
    )
    assert session is not None
    own = mint_session_credential(WORKER_TOKEN, session.id)
    routes = [
        ("POST", f"/api/v1/deployments/{deployment.id}/deactivate"),
        ("POST", f"/api/v1/deployments/{deployment.id}/activate"),
        ("POST", f"/api/v1/events/{event.id}/redispatch"),
        ("POST", f"/api/v1/sessions/{session.id}/restart"),
        ("GET", f"/api/v1/sessions/{session.id}/record"),
        ("DELETE", f"/api/v1/projects/{deployment.project}?force=true"),
        ("POST", "/api/v1/ui/login-codes"),
    ]
    for credential in (WORKER_TOKEN, own, "not-a-token"):
        headers = {"Authorization": f"Bearer {credential}"}
        for method, path in routes:
            resp = await client.request(method, path, headers=headers, json={})
            assert resp.status in (401, 403), (credential[:8], method, path, resp.status)
    # Nothing of it happened.
    active = await store.active_deployment(deployment.project)
    assert active is not None and active.id == deployment.id
    events = await store.list_events(deployment.project)
    assert len(events) == 2 and all(e.replay_of is None for e in events)  # no redispatch
    assert len(await store.list_sessions(project=deployment.project)) == 1
    projects = await (await client.get("/api/v1/projects", headers=AUTH)).json()
    assert [p["name"] for p in projects["projects"]] == [deployment.project]
