"""Several servers on one database: two store objects stand for two servers.

Each event is claimed by one of them; a claim of a server that died runs out
and is taken over; keys deduplicate across them; matching makes one set of
sessions whoever does it; PostgreSQL wakes the log streams of the other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from pawflow.ids import new_id
from pawflow.storage import EventRecord, PostgresStore, Store
from tests.helpers import wait_for

from ._helpers import deploy, new_session, printed, start_one

OpenAgain = Callable[[], Awaitable[Store]]


async def _events(store: Store, count: int) -> list[str]:
    ids = []
    for n in range(count):
        event, _ = await store.add_event(project="demo", trigger="hook", type="post", data={"n": n})
        ids.append(event.id)
    return ids


async def test_two_servers_claiming_at_once_never_share_an_event(
    store: Store, open_again: OpenAgain
) -> None:
    await deploy(store)
    other = await open_again()
    ids = await _events(store, 120)

    async def claim_all(s: Store, owner: str) -> list[str]:
        got: list[str] = []
        # Its own claims it would get again: left out, as a dispatcher's pass does.
        while batch := await s.claim_events(owner, lease_seconds=60, limit=7, exclude=got):
            got.extend(e.id for e in batch)
        return got

    claimed = await asyncio.gather(
        claim_all(store, "one"), claim_all(other, "two"), claim_all(store, "three")
    )
    assert sorted(i for got in claimed for i in got) == sorted(ids)  # each exactly once
    # A live claim keeps the event from everyone else, not from its owner.
    assert await other.claim_events("four", lease_seconds=60) == []
    renewed = await store.claim_events("one", lease_seconds=60)
    assert {e.id for e in renewed} == set(claimed[0])


async def test_a_claim_of_a_server_that_died_is_taken_over_after_its_lease(
    store: Store, open_again: OpenAgain
) -> None:
    await deploy(store)
    other = await open_again()
    ids = await _events(store, 3)
    lease = 1.0
    expires = time.time() + lease  # the claim's own end is no earlier
    taken = await store.claim_events("dead", lease_seconds=lease)
    assert [e.id for e in taken] == ids
    assert await other.claim_events("alive", lease_seconds=60) == []

    async def take_over() -> list[EventRecord]:
        return await other.claim_events("alive", lease_seconds=60)

    again = await wait_for(take_over, timeout=10, interval=0.05, message="claims taken over")
    assert time.time() >= expires  # not a moment before the lease ran out
    assert [e.id for e in again] == ids
    # Matched events are nobody's to claim any more; the rest stay "alive"'s.
    for event in again[:2]:
        await other.match_event(event.id, [])
    assert await store.claim_events("late", lease_seconds=60) == []
    assert [e.id for e in await other.claim_events("alive", lease_seconds=60)] == [ids[2]]


async def test_claiming_one_event_and_leaving_some_out(store: Store) -> None:
    await deploy(store)
    a, b, c = await _events(store, 3)
    assert await store.claim_event("x", lease_seconds=60, event_id=b)
    assert not await store.claim_event("y", lease_seconds=60, event_id=b)
    got = await store.claim_events("y", lease_seconds=60, exclude=[a])
    assert [e.id for e in got] == [c]


async def test_matching_one_event_from_two_servers_makes_one_set_of_sessions(
    store: Store, open_again: OpenAgain
) -> None:
    dep = await deploy(store)
    other = await open_again()
    ids = await _events(store, 20)
    results = await asyncio.gather(
        *(
            s.match_event(i, [new_session(dep), new_session(dep)])
            for i in ids
            for s in (store, other)
        )
    )
    for n, event_id in enumerate(ids):
        first, second = results[2 * n], results[2 * n + 1]
        assert sorted(s.id for s in first) == sorted(s.id for s in second)  # the winner's
        stored = await other.list_sessions(event_id=event_id)
        assert sorted(s.id for s in stored) == sorted(s.id for s in first)
        assert len(stored) == 2


async def test_an_idempotency_key_holds_across_servers(store: Store, open_again: OpenAgain) -> None:
    await deploy(store)
    other = await open_again()
    results = await asyncio.gather(
        *(
            s.add_event(
                project="demo", trigger="hook", type="post", data={"n": n}, idempotency_key="d-1"
            )
            for n in range(10)
            for s in (store, other)
        )
    )
    assert sum(created for _, created in results) == 1
    assert len({event.id for event, _ in results}) == 1
    assert len(await other.list_events("demo")) == 1


async def test_log_appended_through_one_server_wakes_a_stream_on_the_other(
    store: Store, open_again: OpenAgain
) -> None:
    if not isinstance(store, PostgresStore):
        pytest.skip("SQLite has no notifications: streams re-read the store")
    session_id = await start_one(store, await deploy(store))
    other = await open_again()
    woken = asyncio.Event()
    unrelated = asyncio.Event()
    with other.watch_log(session_id, woken.set), other.watch_log(new_id("ses"), unrelated.set):
        await asyncio.sleep(0.2)  # let the listener connect: only what comes later counts
        woken.clear()
        started = time.monotonic()
        await store.append_log([printed(session_id, 0, "hello")])
        await asyncio.wait_for(woken.wait(), timeout=5)
        assert time.monotonic() - started < 1.0  # promptly, not at a re-read
        woken.clear()
        await store.record_stop(session_id, "stopped by a person")
        await asyncio.wait_for(woken.wait(), timeout=5)
    assert not unrelated.is_set()
