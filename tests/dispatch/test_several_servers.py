"""Two dispatchers (two servers) on one database: each event gets its sessions once."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from pawflow.dispatch import Dispatcher
from pawflow.storage import Store
from tests.helpers import free_port, wait_for
from tests.storage._helpers import deploy


async def test_two_dispatchers_make_each_events_session_once(
    store: Store, open_again: Callable[[], Awaitable[Store]]
) -> None:
    await deploy(store)
    other = await open_again()
    # A server that claimed two events and died: they wait for its lease.
    early = [
        (await store.add_event(project="demo", trigger="hook", type="post", data={"n": n}))[0].id
        for n in range(2)
    ]
    lease = 1.0
    dead_until = time.time() + lease
    await store.claim_events("dead", lease_seconds=lease)
    ids = [
        (await s.add_event(project="demo", trigger="hook", type="post", data={"n": n}))[0].id
        for n in range(40)
        for s in (store, other)
    ]
    nowhere = f"127.0.0.1:{free_port()}"  # sessions are made, never started
    dispatchers = [Dispatcher(s, nowhere, "default", "q") for s in (store, other)]
    for dispatcher in dispatchers:
        await dispatcher.start()
    try:

        async def drained() -> bool:
            for dispatcher in dispatchers:
                dispatcher.wake()
            return not await store.pending_events()

        await wait_for(drained, timeout=30, message="every event matched")
    finally:
        for dispatcher in dispatchers:
            await dispatcher.stop()
    for event_id in [*early, *ids]:
        assert len(await other.list_sessions(event_id=event_id)) == 1, event_id
    for event_id in early:
        (session,) = await store.list_sessions(event_id=event_id)
        assert session.created_at >= dead_until  # taken over only once the lease ran out
