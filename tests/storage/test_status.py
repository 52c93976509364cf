"""``Store.store_status``: what ``paw status`` shows of the store."""

from __future__ import annotations

from pawflow.storage import Store

from ._helpers import deploy, start_one, state


async def test_counts_oldest_running_and_size(store: Store, database_url: str | None) -> None:
    empty = await store.store_status()
    assert empty.kind == ("sqlite" if database_url is None else "postgresql")
    assert empty.sessions == {} and empty.pending_events == 0 and empty.oldest_running is None
    assert empty.size_bytes is not None and empty.size_bytes > 0

    dep = await deploy(store)
    ids = [await start_one(store, dep) for _ in range(4)]
    await store.append_log([state(ids[1], 0, "running"), state(ids[2], 0, "running")])
    await store.append_log([state(ids[2], 1, "completed")])
    await store.add_event(project=dep.project, trigger="hook", type="webhook", data={})

    status = await store.store_status()
    assert status.sessions == {"created": 2, "running": 1, "completed": 1}
    assert status.pending_events == 1
    running = await store.get_session(ids[1])
    assert running is not None and status.oldest_running == (ids[1], running.created_at)
