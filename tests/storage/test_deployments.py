"""Projects, deployments, their activation and draining, and webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from pawflow.errors import NotFoundError
from pawflow.storage import Store

from ._helpers import MANIFEST, deploy, start_one, state


async def test_create_deployment(store: Store) -> None:
    code = b"PK\x03\x04 pretend zip"
    dep = await store.create_deployment("demo", MANIFEST, code)
    assert dep.id.startswith("dep_")
    assert dep.project == "demo"
    assert dep.state == "inactive"
    assert dep.manifest == MANIFEST
    assert dep.code_sha256 == hashlib.sha256(code).hexdigest()
    assert await store.get_deployment(dep.id) == dep
    assert await store.get_deployment_code(dep.id) == code
    assert await store.active_deployment("demo") is None
    (project,) = await store.list_projects()
    assert project.name == "demo"
    assert project.created_at == dep.created_at


async def test_unknown_deployment(store: Store) -> None:
    assert await store.get_deployment("dep_nope") is None
    assert await store.get_deployment_code("dep_nope") is None
    with pytest.raises(NotFoundError, match="dep_nope"):
        await store.activate_deployment("dep_nope")


async def test_projects_and_deployments_are_listed_newest_first(store: Store) -> None:
    a1 = await store.create_deployment("alpha", MANIFEST, b"1")
    b1 = await store.create_deployment("beta", MANIFEST, b"2")
    a2 = await store.create_deployment("alpha", MANIFEST, b"3")
    assert [p.name for p in await store.list_projects()] == ["beta", "alpha"]
    assert [d.id for d in await store.list_deployments()] == [a2.id, b1.id, a1.id]
    assert [d.id for d in await store.list_deployments("alpha")] == [a2.id, a1.id]
    assert await store.list_deployments("gamma") == []
    assert [d.id for d in await store.list_deployments(limit=2)] == [a2.id, b1.id]
    assert [d.id for d in await store.list_deployments("alpha", limit=1)] == [a2.id]


async def test_activate_first_deployment(store: Store) -> None:
    dep = await store.create_deployment("demo", MANIFEST, b"")
    active = await store.activate_deployment(dep.id)
    assert active.state == "active"
    assert active.id == dep.id and active.manifest == dep.manifest
    assert await store.active_deployment("demo") == active
    assert await store.get_deployment(dep.id) == active
    # Activating again changes nothing.
    assert await store.activate_deployment(dep.id) == active


async def test_redeploy_without_sessions_makes_old_inactive(store: Store) -> None:
    old = await deploy(store)
    new = await deploy(store)
    assert new.state == "active"
    assert await store.active_deployment("demo") == new
    old_now = await store.get_deployment(old.id)
    assert old_now is not None and old_now.state == "inactive"


async def test_redeploy_leaves_other_projects_alone(store: Store) -> None:
    other = await deploy(store, "other")
    await deploy(store)
    await deploy(store)
    assert await store.active_deployment("other") == other


async def test_finished_sessions_do_not_hold_a_deployment(store: Store) -> None:
    old = await deploy(store)
    session_id = await start_one(store, old)
    await store.append_log([state(session_id, 0, "completed")])
    await deploy(store)
    old_now = await store.get_deployment(old.id)
    assert old_now is not None and old_now.state == "inactive"


async def test_draining_until_the_last_session_ends(store: Store) -> None:
    old = await deploy(store)
    running = await start_one(store, old)
    created = await start_one(store, old)
    await store.append_log([state(running, 0, "running")])

    new = await deploy(store)

    async def old_state() -> str:
        dep = await store.get_deployment(old.id)
        assert dep is not None
        return dep.state

    assert await old_state() == "draining"
    await store.append_log([state(running, 1, "completed")])
    assert await old_state() == "draining"  # `created` is still unfinished
    # A session of the new deployment ending does not touch the old one.
    fresh = await start_one(store, new)
    await store.append_log([state(fresh, 0, "error", error="boom")])
    assert await old_state() == "draining"
    await store.append_log([state(created, 0, "stopped")])
    assert await old_state() == "inactive"
    assert await store.active_deployment("demo") == new


async def test_draining_deployment_can_be_reactivated(store: Store) -> None:
    old = await deploy(store)
    await start_one(store, old)
    new = await deploy(store)
    again = await store.activate_deployment(old.id)
    assert again.state == "active"
    new_now = await store.get_deployment(new.id)
    assert new_now is not None and new_now.state == "inactive"
    assert await store.active_deployment("demo") == again


async def test_active_deployment_never_drains(store: Store) -> None:
    dep = await deploy(store)
    session_id = await start_one(store, dep)
    await store.append_log([state(session_id, 0, "completed")])
    assert await store.active_deployment("demo") == dep


async def test_ensure_webhook_is_stable(store: Store) -> None:
    await deploy(store)
    hook = await store.ensure_webhook("demo", "hook")
    assert re.fullmatch(r"[a-z0-9]{24}", hook.slug)
    assert (hook.project, hook.trigger) == ("demo", "hook")
    assert await store.ensure_webhook("demo", "hook") == hook
    await deploy(store)  # URLs survive redeploys
    assert await store.ensure_webhook("demo", "hook") == hook
    other = await store.ensure_webhook("demo", "other")
    assert other.slug != hook.slug
    assert await store.resolve_webhook(hook.slug) == hook
    assert await store.resolve_webhook(other.slug) == other
    assert await store.resolve_webhook("nope") is None


async def test_ensure_webhook_concurrently_yields_one_slug(store: Store) -> None:
    await deploy(store)
    hooks = await asyncio.gather(*(store.ensure_webhook("demo", "hook") for _ in range(20)))
    assert len({h.slug for h in hooks}) == 1


async def test_webhook_slugs_differ_across_projects(store: Store) -> None:
    await deploy(store, "a")
    await deploy(store, "b")
    slugs = {(await store.ensure_webhook(p, "hook")).slug for p in ("a", "b")}
    assert len(slugs) == 2


async def test_webhook_for_unknown_project(store: Store) -> None:
    with pytest.raises(NotFoundError, match="'ghost'"):
        await store.ensure_webhook("ghost", "hook")
