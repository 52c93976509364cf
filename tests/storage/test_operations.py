"""Deactivation, redispatch, restart from a failure and project deletion, on both back ends."""

from __future__ import annotations

import pytest

from pawflow.errors import NotFoundError
from pawflow.storage import Store

from ._helpers import deploy, start_one, state


async def test_deactivate_drains_or_goes_inactive(store: Store) -> None:
    dep = await deploy(store)
    running = await start_one(store, dep)
    await store.append_log([state(running, 0, "running")])
    assert (await store.deactivate_deployment(dep.id)).state == "draining"
    assert await store.active_deployment("demo") is None
    # Not active any more: nothing changes.
    assert (await store.deactivate_deployment(dep.id)).state == "draining"
    await store.append_log([state(running, 1, "completed")])
    found = await store.get_deployment(dep.id)
    assert found is not None and found.state == "inactive"
    idle = await deploy(store)
    assert (await store.deactivate_deployment(idle.id)).state == "inactive"
    with pytest.raises(NotFoundError):
        await store.deactivate_deployment("dep_00000000000000000000000000")


async def test_redispatch_makes_a_pending_copy(store: Store) -> None:
    dep = await deploy(store)
    session_id = await start_one(store, dep)
    old = (await store.get_session(session_id)).event_id  # type: ignore[union-attr]
    assert old is not None
    new = await store.redispatch_event(old, None)
    original = await store.get_event(old)
    assert original is not None and original.replay_of is None
    assert new.id != old and new.replay_of == old and new.state == "pending"
    assert (new.project, new.trigger, new.type, new.data) == (
        original.project, original.trigger, original.type, original.data,
    )  # fmt: skip
    assert new.idempotency_key is None
    assert [e.id for e in await store.pending_events()] == [new.id]
    with pytest.raises(NotFoundError):
        await store.redispatch_event("evt_00000000000000000000000000", None)


async def test_redispatch_of_a_manual_start_starts_the_same_call(store: Store) -> None:
    dep = await deploy(store)
    session, event, _ = await store.start_manual_session(
        project="demo", deployment_id=dep.id, call="jobs.py:run", data={"x": 1}
    )
    assert session is not None
    newer = await deploy(store)
    copy = await store.redispatch_event(event.id, newer.id)
    assert copy.state == "dispatched" and copy.replay_of == event.id
    (again,) = await store.list_sessions(event_id=copy.id)
    assert (again.call, again.deployment_id, again.start_pending) == ("jobs.py:run", newer.id, True)


async def test_failed_session_keeps_its_transcript_for_a_restart(store: Store) -> None:
    dep = await deploy(store)
    done, failed = await start_one(store, dep), await start_one(store, dep)
    for session_id in (done, failed):
        await store.save_transcript(session_id, 0, ['{"a": 1}', '{"b": 2}'])
    await store.append_log([state(done, 0, "completed"), state(failed, 0, "error", reusable=1)])
    assert await store.load_transcript(done) == []
    assert await store.load_transcript(failed) == ['{"a": 1}', '{"b": 2}']
    newer = await deploy(store)
    again = await store.restart_from_failure(failed, newer.id, "program.py:on_hook", 1)
    old = await store.get_session(failed)
    assert old is not None
    assert (again.reuse_from, again.reuse_count) == (failed, 1)
    assert (again.deployment_id, again.event_id, again.call) == (newer.id, old.event_id, old.call)
    assert again.state == "created" and again.start_pending


async def test_delete_project_removes_everything_of_it(store: Store) -> None:
    dep = await deploy(store)
    other = await deploy(store, project="other")
    kept = await start_one(store, other)
    ended = await start_one(store, dep)
    await store.append_log([state(ended, 0, "completed")])
    await store.kv_set("demo", "k", 1)
    await store.set_var("demo", None, "V", "x", secret=False)
    await store.ensure_webhook("demo", "hook")
    running = await start_one(store, dep)
    with pytest.raises(ValueError, match="have not ended"):
        await store.delete_project("demo")
    await store.append_log([state(running, 0, "stopped")])
    assert await store.delete_project("demo")
    assert [p.name for p in await store.list_projects()] == ["other"]
    assert await store.list_sessions(project="demo") == []
    assert await store.list_events("demo") == []
    assert await store.list_deployments("demo") == []
    assert await store.get_log(ended) == []
    assert await store.get_session(kept) is not None
    assert not await store.delete_project("demo")
    # The name is free again, and nothing of the old project comes back with it.
    again = await deploy(store)
    assert again.project == "demo"
    assert await store.kv_get("demo", "k") is None
    assert await store.list_vars("demo") == []


async def test_restart_from_failure_takes_over_the_children(store: Store) -> None:
    dep = await deploy(store)
    failed = await start_one(store, dep)
    child, _, _ = await store.start_manual_session(
        project="demo", deployment_id=dep.id, call="a.py:f", data={}, parent_session_id=failed
    )
    assert child is not None
    await store.append_log([state(failed, 0, "running"), state(child.id, 0, "completed")])
    await store.mark_parent_told(child.id)
    await store.append_log([state(failed, 1, "error")])
    again = await store.restart_from_failure(failed, dep.id, "program.py:on_hook", 0)
    taken = await store.get_session(child.id)
    assert taken is not None and taken.parent_session_id == again.id
    # Told again, once the new parent's workflow has started.
    assert await store.untold_children() == []
    await store.mark_started(again.id)
    assert [(c.session_id, c.parent_session_id) for c in await store.untold_children()] == [
        (child.id, again.id)
    ]
