"""Manual starts, restarts, stops from outside and the child-ended outbox."""

from __future__ import annotations

import pytest

from pawflow.errors import NotFoundError
from pawflow.storage import MANUAL_EVENT_TYPE, Store

from ._helpers import deploy, printed, start_one, state


async def test_manual_session_is_created_ready_to_start(store: Store) -> None:
    dep = await deploy(store)
    session, event, created = await store.start_manual_session(
        project="demo", deployment_id=dep.id, call="jobs.py:run", data={"x": 1}
    )
    assert created and session is not None
    assert event.type == MANUAL_EVENT_TYPE and event.trigger is None
    assert event.data == {"x": 1} and event.state == "dispatched"
    assert session.event_id == event.id and session.call == "jobs.py:run"
    assert session.trigger == "" and session.deployment_id == dep.id
    assert session.state == "created" and session.start_pending
    assert session.parent_session_id is None
    assert [s.id for s in await store.sessions_to_start()] == [session.id]
    # Already dispatched: nothing for the dispatcher to match.
    assert await store.pending_events() == []


async def test_manual_session_idempotency(store: Store) -> None:
    dep = await deploy(store)
    first, event, created = await store.start_manual_session(
        project="demo", deployment_id=dep.id, call="a.py:f", data={}, idempotency_key="k1"
    )
    again, same_event, created_again = await store.start_manual_session(
        project="demo", deployment_id=dep.id, call="a.py:f", data={"other": 1}, idempotency_key="k1"
    )
    assert created and not created_again
    assert first is not None and again is not None and again.id == first.id
    assert same_event.id == event.id and same_event.data == {}
    assert len(await store.list_sessions()) == 1


async def test_manual_and_child_starts_have_keys_of_their_own(store: Store) -> None:
    dep = await deploy(store)
    # A key a webhook caller sent first claims nothing for manual starts.
    hook_event, _ = await store.add_event(
        project="demo", trigger="hook", type="post", data={}, idempotency_key="k"
    )
    manual, manual_event, created = await store.start_manual_session(
        project="demo", deployment_id=dep.id, call="a.py:f", data={}, idempotency_key="k"
    )
    assert created and manual is not None and manual_event.id != hook_event.id
    assert manual_event.idempotency_key == "k"
    # Each parent's children are a namespace of their own.
    children = []
    for parent in (manual.id, await start_one(store, dep)):
        for _ in range(2):
            child, _, created = await store.start_manual_session(
                project="demo",
                deployment_id=dep.id,
                call="a.py:f",
                data={},
                parent_session_id=parent,
                idempotency_key="k",
            )
            assert child is not None and child.parent_session_id == parent
            children.append((child.id, created))
    assert [created for _, created in children] == [True, False, True, False]
    assert children[0][0] == children[1][0] != children[2][0] == children[3][0]
    assert manual.id not in {child_id for child_id, _ in children}


async def test_manual_session_checks(store: Store) -> None:
    dep = await deploy(store)
    other = await deploy(store, "other")
    with pytest.raises(NotFoundError, match="no project 'ghost'"):
        await store.start_manual_session(
            project="ghost", deployment_id=dep.id, call="a.py:f", data={}
        )
    with pytest.raises(NotFoundError, match="no deployment 'dep_nope'"):
        await store.start_manual_session(
            project="demo", deployment_id="dep_nope", call="a.py:f", data={}
        )
    with pytest.raises(ValueError, match="belongs to 'other'"):
        await store.start_manual_session(
            project="demo", deployment_id=other.id, call="a.py:f", data={}
        )
    with pytest.raises(NotFoundError, match="no session 'ses_nope'"):
        await store.start_manual_session(
            project="demo",
            deployment_id=dep.id,
            call="a.py:f",
            data={},
            parent_session_id="ses_nope",
        )
    assert await store.list_sessions() == []
    assert await store.list_events() == []


async def test_restart_copies_event_deployment_and_call(store: Store) -> None:
    dep = await deploy(store)
    old_id = await start_one(store, dep)
    await store.append_log([state(old_id, 0, "running"), state(old_id, 1, "error", error="x")])
    old = await store.get_session(old_id)
    new = await store.restart_session(old_id)
    assert old is not None and new.id != old.id
    assert (new.event_id, new.deployment_id, new.call, new.trigger) == (
        old.event_id,
        old.deployment_id,
        old.call,
        old.trigger,
    )
    assert new.state == "created" and new.start_pending
    with pytest.raises(NotFoundError):
        await store.restart_session("ses_nope")


async def test_record_stop(store: Store) -> None:
    dep = await deploy(store)
    sid = await start_one(store, dep)
    await store.append_log([state(sid, 0, "running"), printed(sid, 1, "hi")])
    record = await store.record_stop(sid, "enough")
    assert record is not None and record["n"] == 2 and record["error"] == "enough"
    session = await store.get_session(sid)
    assert session is not None and session.state == "stopped" and session.error == "enough"
    assert session.ended_at is not None
    assert [r["type"] for r in await store.get_log(sid)] == ["state", "print", "state"]
    # Ended sessions stay as they ended.
    assert await store.record_stop(sid, "again") is None
    with pytest.raises(NotFoundError):
        await store.record_stop("ses_nope", "x")


async def test_record_stop_before_start_cancels_the_start(store: Store) -> None:
    dep = await deploy(store)
    sid = await start_one(store, dep)
    record = await store.record_stop(sid, "never mind")
    assert record is not None and record["n"] == 0
    assert await store.sessions_to_start() == []


async def test_untold_children(store: Store) -> None:
    dep = await deploy(store)
    parent = await start_one(store, dep)
    done, _, _ = await store.start_manual_session(
        project="demo", deployment_id=dep.id, call="a.py:f", data={}, parent_session_id=parent
    )
    failed, _, _ = await store.start_manual_session(
        project="demo", deployment_id=dep.id, call="a.py:f", data={}, parent_session_id=parent
    )
    running, _, _ = await store.start_manual_session(
        project="demo", deployment_id=dep.id, call="a.py:f", data={}, parent_session_id=parent
    )
    orphan = await start_one(store, dep)
    assert done and failed and running
    assert done.parent_session_id == parent
    assert await store.untold_children() == []
    await store.append_log(
        [
            # A parent whose workflow has not started is told later (see below).
            state(parent, 0, "running"),
            state(done.id, 0, "running"),
            state(done.id, 1, "completed", at=1001.0, result={"total": 3}),
            state(failed.id, 0, "error", at=1002.0, error="boom"),
            state(running.id, 0, "running"),
            state(orphan, 0, "completed"),
        ]
    )
    notices = await store.untold_children()
    assert [(c.session_id, c.parent_session_id, c.state, c.result, c.error) for c in notices] == [
        (done.id, parent, "completed", {"total": 3}, None),
        (failed.id, parent, "error", None, "boom"),
    ]
    await store.mark_parent_told(done.id)
    assert [c.session_id for c in await store.untold_children()] == [failed.id]
    # A force stop counts as an end too.
    await store.record_stop(running.id, "halt")
    notices = await store.untold_children()
    assert [(c.session_id, c.state, c.error) for c in notices] == [
        (failed.id, "error", "boom"),
        (running.id, "stopped", "halt"),
    ]
    # A restarted child is nobody's child.
    restarted = await store.restart_session(done.id)
    assert restarted.parent_session_id is None
