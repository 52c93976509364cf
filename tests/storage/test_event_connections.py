"""Events remember the connection they came in through."""

from __future__ import annotations

from pawflow.storage import Store

from ._helpers import deploy


async def test_connection_is_stored_and_read_back(store: Store) -> None:
    await deploy(store)
    event, created = await store.add_event(
        project="demo", trigger=None, type="issues", data={"n": 1}, connection="gh"
    )
    assert created and event.connection == "gh"
    assert await store.get_event(event.id) == event
    assert [e.connection for e in await store.pending_events()] == ["gh"]
    assert [e.connection for e in await store.list_events("demo")] == ["gh"]


async def test_connection_defaults_to_none(store: Store) -> None:
    await deploy(store)
    event, _ = await store.add_event(project="demo", trigger="hook", type="post", data={})
    stored = await store.get_event(event.id)
    assert stored is not None and stored.connection is None


async def test_a_duplicate_returns_the_first_event_with_its_connection(
    store: Store,
) -> None:
    await deploy(store)
    first, _ = await store.add_event(
        project="demo", trigger=None, type="t", data={}, connection="gh", idempotency_key="k"
    )
    again, created = await store.add_event(
        project="demo", trigger=None, type="t", data={"n": 2}, connection="gh", idempotency_key="k"
    )
    assert not created and again == first and again.connection == "gh"


async def test_each_connection_has_its_own_keys(store: Store) -> None:
    await deploy(store)
    first, _ = await store.add_event(
        project="demo", trigger=None, type="t", data={}, connection="gh", idempotency_key="k"
    )
    other, created = await store.add_event(
        project="demo", trigger=None, type="t", data={}, connection="other", idempotency_key="k"
    )
    assert created and other.id != first.id and other.connection == "other"
