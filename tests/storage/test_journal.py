"""The call journal: a completed call's outcome, kept until its session ends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from pawflow.storage import Store

from ._helpers import deploy, start_one, state


async def test_a_journaled_call_is_read_back_as_written(store: Store) -> None:
    sid = await start_one(store, await deploy(store))
    await store.journal_call(sid, 1, b"\x80\x04first", {"result": "1"})
    assert await store.journaled_call(sid, 1) == (b"\x80\x04first", {"result": "1"})
    # Nothing is invented for a call never journaled, or for another session.
    assert await store.journaled_call(sid, 2) is None
    assert await store.journaled_call("ses_other", 1) is None


async def test_the_first_write_of_a_call_wins(store: Store) -> None:
    # Two workers can both finish the same call (one taking over from the other);
    # the session must go on with one outcome, the one a takeover may already have read.
    sid = await start_one(store, await deploy(store))
    await store.journal_call(sid, 3, b"first", {"result": "'first'"})
    await store.journal_call(sid, 3, b"second", {"error": "RuntimeError: second"})
    assert await store.journaled_call(sid, 3) == (b"first", {"result": "'first'"})


async def test_calls_are_kept_per_session_and_number(store: Store) -> None:
    dep = await deploy(store)
    a, b = await start_one(store, dep), await start_one(store, dep)
    await store.journal_call(a, 1, b"a1", {})
    await store.journal_call(a, 2, b"a2", {})
    await store.journal_call(b, 1, b"b1", {})
    assert [await store.journaled_call(a, n) for n in (1, 2)] == [(b"a1", {}), (b"a2", {})]
    assert await store.journaled_call(b, 1) == (b"b1", {})


@pytest.mark.parametrize("end", ["completed", "error", "stopped"])
async def test_the_journal_of_a_session_is_dropped_when_it_ends(store: Store, end: str) -> None:
    dep = await deploy(store)
    ending, going_on = await start_one(store, dep), await start_one(store, dep)
    await store.append_log([state(ending, 0, "running"), state(going_on, 0, "running")])
    for sid in (ending, going_on):
        await store.journal_call(sid, 1, b"one", {})
        await store.journal_call(sid, 2, b"two", {})

    await store.append_log([state(ending, 1, end, error="boom" if end == "error" else None)])

    assert [await store.journaled_call(ending, n) for n in (1, 2)] == [None, None]
    # Another session's calls are untouched: it may still need them for a takeover.
    assert await store.journaled_call(going_on, 1) == (b"one", {})
    assert await store.journaled_call(going_on, 2) == (b"two", {})


async def test_a_state_that_does_not_end_the_session_keeps_its_journal(
    store: Store,
) -> None:
    sid = await start_one(store, await deploy(store))
    await store.journal_call(sid, 1, b"one", {})
    await store.append_log([state(sid, 0, "running")])
    assert await store.journaled_call(sid, 1) == (b"one", {})


async def test_the_journal_survives_a_reopened_store(
    store: Store, open_again: Callable[[], Awaitable[Store]]
) -> None:
    # A takeover may follow a restart of the server, not only of the worker.
    sid = await start_one(store, await deploy(store))
    await store.journal_call(sid, 1, b"kept", {"result": "'kept'"})
    await store.close()
    reopened = await open_again()
    assert await reopened.journaled_call(sid, 1) == (b"kept", {"result": "'kept'"})
