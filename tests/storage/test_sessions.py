"""Sessions: starting, listing, forward-only states, and their logs."""

from __future__ import annotations

import pytest

from pawflow.errors import NotFoundError
from pawflow.storage import Store

from ._helpers import deploy, new_session, printed, start_one, state


async def test_sessions_to_start_and_mark_started(store: Store) -> None:
    dep = await deploy(store)
    ids = [await start_one(store, dep) for _ in range(4)]
    assert [s.id for s in await store.sessions_to_start()] == ids
    assert [s.id for s in await store.sessions_to_start(limit=2)] == ids[:2]
    await store.mark_started(ids[0])
    await store.mark_started(ids[0])  # acknowledging twice is harmless
    assert [s.id for s in await store.sessions_to_start()] == ids[1:]
    started = await store.get_session(ids[0])
    assert started is not None and not started.start_pending and started.state == "created"


async def test_mark_started_unknown(store: Store) -> None:
    with pytest.raises(NotFoundError, match="ses_nope"):
        await store.mark_started("ses_nope")


async def test_a_state_report_ends_start_pending(store: Store) -> None:
    dep = await deploy(store)
    ran = await start_one(store, dep)
    stopped_early = await start_one(store, dep)
    waiting = await start_one(store, dep)
    await store.append_log([state(ran, 0, "running"), state(stopped_early, 0, "stopped")])
    assert [s.id for s in await store.sessions_to_start()] == [waiting]


async def test_get_session_unknown(store: Store) -> None:
    assert await store.get_session("ses_nope") is None


async def test_list_sessions_filters_combine(store: Store) -> None:
    a = await deploy(store, "a")
    b = await deploy(store, "b")
    event, _ = await store.add_event(project="a", trigger="hook", type="webhook", data={})
    from_event = await store.match_event(event.id, [new_session(a), new_session(a)])
    a_other = await start_one(store, a)
    b_one = await start_one(store, b)
    await store.append_log([state(from_event[0].id, 0, "running"), state(a_other, 0, "running")])

    async def ids(**filters: object) -> list[str]:
        return [s.id for s in await store.list_sessions(**filters)]  # type: ignore[arg-type]

    all_ids = await ids()
    assert len(all_ids) == 4
    # Newest first: the last session created comes first.
    assert all_ids[0] == b_one
    assert all_ids[1] == a_other
    assert set(all_ids[2:]) == {s.id for s in from_event}
    assert await ids(project="b") == [b_one]
    assert set(await ids(project="a")) == {a_other, *(s.id for s in from_event)}
    assert set(await ids(event_id=event.id)) == {s.id for s in from_event}
    assert await ids(project="a", state="running", event_id=event.id) == [from_event[0].id]
    assert await ids(project="a", state="running") == [a_other, from_event[0].id]
    assert await ids(project="b", state="running") == []
    assert await ids(state="created", project="a") == [from_event[1].id]
    assert await ids(limit=2) == all_ids[:2]
    assert await ids(project="a", limit=1) == [a_other]


async def test_states_move_forward_only(store: Store) -> None:
    dep = await deploy(store)
    sid = await start_one(store, dep)

    async def current() -> tuple[str, float | None, str | None]:
        s = await store.get_session(sid)
        assert s is not None
        return s.state, s.ended_at, s.error

    await store.append_log([state(sid, 0, "running", at=10.0)])
    assert await current() == ("running", None, None)
    await store.append_log([state(sid, 1, "created", at=11.0)])  # backwards: ignored
    assert await current() == ("running", None, None)
    await store.append_log([state(sid, 2, "error", at=12.5, error="ZeroDivisionError: boom")])
    assert await current() == ("error", 12.5, "ZeroDivisionError: boom")
    # A terminal state is final: neither another terminal state nor running moves it.
    await store.append_log([state(sid, 3, "completed", at=13.0), state(sid, 4, "running")])
    await store.append_log([state(sid, 5, "stopped", at=14.0)])
    assert await current() == ("error", 12.5, "ZeroDivisionError: boom")
    # Every record is still in the log, state change or not.
    assert [r["n"] for r in await store.get_log(sid)] == [0, 1, 2, 3, 4, 5]


async def test_created_straight_to_completed(store: Store) -> None:
    dep = await deploy(store)
    sid = await start_one(store, dep)
    await store.append_log([state(sid, 0, "completed", at=42.0)])
    s = await store.get_session(sid)
    assert s is not None
    assert (s.state, s.ended_at, s.error) == ("completed", 42.0, None)


async def test_unknown_state_value_is_logged_but_ignored(store: Store) -> None:
    dep = await deploy(store)
    sid = await start_one(store, dep)
    inserted = await store.append_log([state(sid, 0, "exploded")])
    assert len(inserted) == 1
    s = await store.get_session(sid)
    assert s is not None and s.state == "created"


async def test_append_log_returns_only_new_records(store: Store) -> None:
    dep = await deploy(store)
    sid = await start_one(store, dep)
    first = [printed(sid, 0, "a"), printed(sid, 1, "b")]
    assert await store.append_log(first) == first
    batch = [
        printed(sid, 1, "b again"),
        printed(sid, 3, "d"),
        printed(sid, 2, "c"),
        printed(sid, 0, "a again"),
        printed(sid, 3, "d twice in one batch"),
    ]
    assert await store.append_log(batch) == [batch[1], batch[2]]
    assert await store.append_log(batch) == []
    assert [r["text"] for r in await store.get_log(sid)] == ["a", "b", "c", "d"]


async def test_a_redelivered_terminal_record_changes_nothing(store: Store) -> None:
    old = await deploy(store)
    sid = await start_one(store, old)
    await store.append_log([state(sid, 0, "completed", at=5.0)])
    assert await store.append_log([state(sid, 0, "error", at=6.0, error="x")]) == []
    s = await store.get_session(sid)
    assert s is not None and (s.state, s.ended_at, s.error) == ("completed", 5.0, None)


async def test_records_for_unknown_sessions_are_kept(store: Store) -> None:
    dep = await deploy(store)
    sid = await start_one(store, dep)
    batch = [state("ses_ghost", 0, "completed"), state(sid, 0, "running")]
    assert await store.append_log(batch) == batch
    assert await store.get_log("ses_ghost") == [batch[0]]
    s = await store.get_session(sid)
    assert s is not None and s.state == "running"


async def test_invalid_records_write_nothing(store: Store) -> None:
    good = printed("ses_x", 0, "ok")
    for bad in (
        {"n": 1, "time": 1.0, "type": "print"},
        {"session_id": "ses_x", "n": "1", "time": 1.0, "type": "print"},
        {"session_id": "ses_x", "n": True, "time": 1.0, "type": "print"},
        {"session_id": "ses_x", "n": -1, "time": 1.0, "type": "print"},
        {"session_id": "ses_x", "n": 2**63, "time": 1.0, "type": "print"},
        {"session_id": "ses_x", "n": 1, "time": "now", "type": "print"},
        {"session_id": "ses_x", "n": 1, "time": float("nan"), "type": "print"},
        {"session_id": "ses_x", "n": 1, "time": 1.0},
    ):
        with pytest.raises(ValueError, match="log record"):
            await store.append_log([good, bad])
    assert await store.get_log("ses_x") == []


async def test_get_log_order_and_after(store: Store) -> None:
    records = [printed("ses_a", seq, f"line {seq}", at=100.0 + seq) for seq in (4, 0, 2, 10, 1, 3)]
    await store.append_log(records)
    await store.append_log([printed("ses_b", 0, "other session")])
    assert [r["n"] for r in await store.get_log("ses_a")] == [0, 1, 2, 3, 4, 10]
    assert [r["n"] for r in await store.get_log("ses_a", after=2)] == [3, 4, 10]
    assert await store.get_log("ses_a", after=10) == []
    assert await store.get_log("ses_nope") == []
    # The whole record comes back, extra fields and all.
    first = (await store.get_log("ses_a"))[0]
    assert first == {
        "session_id": "ses_a",
        "n": 0,
        "time": 100.0,
        "type": "print",
        "text": "line 0",
    }


async def test_log_keeps_arbitrary_json_fields(store: Store) -> None:
    record = {
        "session_id": "ses_j",
        "n": 0,
        "time": 1.25,
        "type": "call_end",
        "result": {"nested": [1, 2.5, None, True, "ü"]},
    }
    await store.append_log([record])
    assert await store.get_log("ses_j") == [record]
