"""The server's retention passes: which rule each project gets, and what a pass reports."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pawflow.server._metrics import ServerMetrics
from pawflow.server._retention import Retention, RetentionRule
from pawflow.storage import ROLLBACK_TARGETS, Store
from tests.server._helpers import AUTH, deploy
from tests.storage._helpers import MANIFEST, printed, start_one, state

LONG_AGO = 1000.0


async def _project(store: Store, name: str, retention: dict[str, int] | None, ended: int) -> None:
    """An active deployment of ``name`` (with ``retention`` in its manifest) and
    ``ended`` sessions that ended long ago."""
    project: dict[str, Any] = {**MANIFEST["project"], "name": name}
    if retention is not None:
        project["retention"] = retention
    dep = await store.create_deployment(name, {**MANIFEST, "project": project}, b"zip")
    dep = await store.activate_deployment(dep.id)
    for _ in range(ended):
        session_id = await start_one(store, dep)
        await store.append_log(
            [printed(session_id, 0, "hi", LONG_AGO), state(session_id, 1, "completed", LONG_AGO)]
        )


async def test_each_project_gets_its_manifests_rule_or_the_servers(store: Store) -> None:
    await _project(store, "plain", None, ended=3)
    await _project(store, "forever", {"days": 0}, ended=3)
    await _project(store, "newest", {"keep": 1}, ended=3)
    retention = Retention(store, days=30)

    assert await retention.rule("plain") == RetentionRule(days=30)
    assert await retention.rule("forever") == RetentionRule(days=0)
    assert await retention.rule("newest") == RetentionRule(keep=1)
    counts = await retention.run_once()

    assert counts.sessions == 3 + 2
    assert len(await store.list_sessions(project="plain")) == 0
    assert len(await store.list_sessions(project="forever")) == 3
    assert len(await store.list_sessions(project="newest")) == 1


async def test_zero_days_keeps_everything_of_projects_without_a_rule(store: Store) -> None:
    await _project(store, "plain", None, ended=2)
    counts = await Retention(store, days=0).run_once()
    assert counts.total == 0
    assert len(await store.list_sessions(project="plain")) == 2


async def test_a_pass_that_deleted_something_says_so_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await _project(store, "plain", None, ended=5)
    metrics = ServerMetrics()
    retention = Retention(store, days=1, batch=2, metrics=metrics, clock=time.time)
    with caplog.at_level(logging.INFO, logger="pawflow.server._retention"):
        counts = await retention.run_once()
        await retention.run_once()  # nothing left: no line
    lines = [r.getMessage() for r in caplog.records if r.name == "pawflow.server._retention"]
    assert len(lines) == 1
    # The events arrived just now: younger than the day they are kept.
    assert lines[0].startswith("retention deleted 5 sessions, 10 log records, 0 events")
    assert counts.sessions == 5
    assert (
        metrics.registry.get_sample_value("pawflow_retention_deleted_total", {"kind": "sessions"})
        == 5
    )


async def test_code_deleted_by_retention_is_gone_not_unknown(
    client: TestClient[Any, Any], store: Store
) -> None:
    first = await deploy(client)
    for _ in range(ROLLBACK_TARGETS + 1):
        await deploy(client)
    assert (await Retention(store, days=0).rule("hello")).keeps_all()
    counts = await store.purge("hello", cutoff=time.time() + 1)
    assert counts.deployment_code == 1

    resp = await client.get(f"/api/v1/deployments/{first['deployment_id']}/code", headers=AUTH)
    assert resp.status == 410
    assert (await resp.json())["error"] == (
        f"the code of deployment {first['deployment_id']} was deleted by retention"
    )
    resp = await client.get("/api/v1/deployments/dep_unknown/code", headers=AUTH)
    assert resp.status == 404
