"""Builders shared by the subscription, signal and sync webhook tests."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from pawflow.ids import new_id
from pawflow.storage import DeploymentRecord, NewSession, SQLiteStore

from ._helpers import AUTH

MANIFEST: dict[str, Any] = {
    "version": 1,
    "project": {
        "name": "demo",
        "vars": [],
        "triggers": [
            {"name": "hook", "call": "program.py:on_hook", "webhook": {"methods": ["POST"]}},
            {"name": "issues", "connection": "gh"},
        ],
        "connections": [{"name": "gh", "integration": "github"}],
    },
}


async def deploy_manifest(
    store: SQLiteStore, manifest: dict[str, Any] = MANIFEST
) -> DeploymentRecord:
    project = manifest["project"]["name"]
    dep = await store.create_deployment(project, manifest, b"zip")
    return await store.activate_deployment(dep.id)


async def new_session(store: SQLiteStore, dep: DeploymentRecord, *, started: bool = True) -> str:
    """A session of ``dep`` (its workflow counted as started unless told otherwise)."""
    event, _ = await store.add_event(project=dep.project, trigger="hook", type="post", data={})
    new = NewSession(new_id("ses"), dep.project, dep.id, "hook", "program.py:on_hook")
    (session,) = await store.match_event(event.id, [new])
    if started:
        await store.mark_started(session.id)
    return session.id


async def end_session(
    client: TestClient[Any, Any], session_id: str, state: str = "completed", **fields: Any
) -> None:
    """Post the session's final state record the way a worker does."""
    record = {"session_id": session_id, "n": 0, "time": 1000.0, "type": "state", "state": state}
    resp = await client.post(
        "/api/v1/sessions/log", json={"records": [{**record, **fields}]}, headers=AUTH
    )
    assert resp.status == 200, await resp.text()
