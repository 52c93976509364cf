"""The cache of deployments, active deployments and webhooks (``Deployments``):
changes through this store are seen by the next lookup, changes through another
store object on the same database (another server) within ``active_seconds``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pawflow.dispatch._manifests import ACTIVE_SECONDS, Deployments
from pawflow.storage import Store
from tests.storage._helpers import MANIFEST, deploy

pytestmark = pytest.mark.timeout(60)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _Counting:
    """The store, counting the reads the cache makes of it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.reads: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name in {"get_deployment", "active_deployment", "resolve_webhook"}:

            async def counted(*args: Any) -> Any:
                self.reads[name] = self.reads.get(name, 0) + 1
                return await attr(*args)

            return counted
        return attr


def _manifest(trigger: str) -> dict[str, Any]:
    return {
        **MANIFEST,
        "project": {
            **MANIFEST["project"],
            "triggers": [{"name": trigger, "call": "program.py:on_hook", "webhook": {}}],
        },
    }


async def test_a_deployment_and_its_manifest_are_read_once(store: Store) -> None:
    dep = await deploy(store)
    counting = _Counting(store)
    cache = Deployments(counting)  # type: ignore[arg-type]
    first = await cache.active("demo")
    again = await cache.active("demo")
    by_id = await cache.get(dep.id)
    assert first is not None and first.manifest is not None
    assert first.id == dep.id
    assert again is first and by_id is first  # the same parsed manifest
    assert first.manifest.project.trigger("hook") is not None
    assert counting.reads == {"active_deployment": 1}
    assert await cache.get("dep_unknown") is None


async def test_activating_through_this_store_is_seen_by_the_next_lookup(store: Store) -> None:
    old = await deploy(store)
    clock = _Clock()  # time stands still: only the change itself can tell
    cache = Deployments(store, clock=clock)
    assert (await cache.active("demo")).id == old.id  # type: ignore[union-attr]

    new = await store.create_deployment("demo", _manifest("other"), b"zip")
    await store.activate_deployment(new.id)
    now = await cache.active("demo")
    assert now is not None and now.id == new.id and now.manifest is not None
    assert now.manifest.project.trigger("other") is not None

    await store.activate_deployment(old.id)  # a rollback
    assert (await cache.active("demo")).id == old.id  # type: ignore[union-attr]

    await store.deactivate_deployment(old.id)
    assert await cache.active("demo") is None


async def test_a_change_during_a_read_is_not_kept(store: Store) -> None:
    old = await deploy(store)
    new = await store.create_deployment("demo", _manifest("other"), b"zip")
    cache = Deployments(store, clock=_Clock())
    # The read and the activation race: whichever the read saw, the entry it
    # makes must not outlive the activation.
    seen, _ = await asyncio.gather(cache.active("demo"), store.activate_deployment(new.id))
    assert seen is not None and seen.id in {old.id, new.id}
    assert (await cache.active("demo")).id == new.id  # type: ignore[union-attr]


async def test_another_servers_activation_is_seen_within_the_bound(
    store: Store, open_again: Callable[[], Awaitable[Store]]
) -> None:
    old = await deploy(store)
    other = await open_again()
    clock = _Clock()
    cache = Deployments(store, clock=clock)
    assert (await cache.active("demo")).id == old.id  # type: ignore[union-attr]

    new = await other.create_deployment("demo", _manifest("other"), b"zip")
    await other.activate_deployment(new.id)
    clock.now += ACTIVE_SECONDS / 2
    # Within the bound, this server may still use what it read.
    assert (await cache.active("demo")).id == old.id  # type: ignore[union-attr]
    clock.now += ACTIVE_SECONDS / 2
    assert (await cache.active("demo")).id == new.id  # type: ignore[union-attr]


async def test_a_webhook_of_a_deleted_project_is_gone(
    store: Store, open_again: Callable[[], Awaitable[Store]]
) -> None:
    await deploy(store)
    hook = await store.ensure_webhook("demo", "hook")
    clock = _Clock()
    cache = Deployments(store, clock=clock)
    assert await cache.webhook(hook.slug) == hook
    assert await cache.webhook("nosuchslug") is None

    assert await store.delete_project("demo")
    assert await cache.webhook(hook.slug) is None  # at once, through this store

    # Made again (a new slug), deleted through another server: gone within the bound.
    await deploy(store)
    again = await store.ensure_webhook("demo", "hook")
    assert again.slug != hook.slug
    assert await cache.webhook(again.slug) == again
    other = await open_again()
    assert await other.delete_project("demo")
    clock.now += ACTIVE_SECONDS
    assert await cache.webhook(again.slug) is None
    assert await cache.active("demo") is None


async def test_a_store_that_counts_no_changes_is_read_every_time(store: Store) -> None:
    await deploy(store)

    class Plain:
        """Only what the cache reads (no ``deployment_changes``)."""

        def __init__(self) -> None:
            self.reads = 0

        async def active_deployment(self, project: str) -> Any:
            self.reads += 1
            return await store.active_deployment(project)

        async def get_deployment(self, deployment_id: str) -> Any:
            return await store.get_deployment(deployment_id)

    plain = Plain()
    cache = Deployments(plain, clock=_Clock())  # type: ignore[arg-type]
    first = await cache.active("demo")
    second = await cache.active("demo")
    assert plain.reads == 2
    assert first is second  # the parsed manifest is kept all the same (ids never change)
