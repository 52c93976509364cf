"""Subscriptions, their delivery outbox and synchronous webhook outcomes in the store."""

from __future__ import annotations

import asyncio

import pytest

from pawflow.errors import NotFoundError
from pawflow.storage import (
    MAX_SUBSCRIPTIONS_PER_SESSION,
    HttpOutcome,
    Store,
    TooManySubscriptions,
)

from ._helpers import deploy, printed, start_one, state


async def _event(store: Store, trigger: str = "hook", project: str = "demo") -> str:
    event, _ = await store.add_event(project=project, trigger=trigger, type="post", data={})
    return event.id


async def test_a_subscription_is_kept_listed_and_deleted(store: Store) -> None:
    dep = await deploy(store)
    session_id = await start_one(store, dep)
    sub = await store.add_subscription(session_id, "hook", "data.n > 1")
    assert sub.id.startswith("sub_")
    assert (sub.session_id, sub.project, sub.source, sub.filter) == (
        session_id,
        "demo",
        "hook",
        "data.n > 1",
    )
    assert await store.get_subscription(sub.id) == sub
    other = await store.add_subscription(session_id, "gh", None)
    assert await store.list_subscriptions(session_id) == [sub, other]

    assert await store.delete_subscription(sub.id)
    assert not await store.delete_subscription(sub.id)
    assert await store.get_subscription(sub.id) is None
    assert await store.delete_session_subscriptions(session_id) == 1
    assert await store.list_subscriptions(session_id) == []


async def test_subscribing_an_unknown_session_fails(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.add_subscription("ses_nope", "hook", None)


async def test_a_session_holds_at_most_the_cap_of_live_subscriptions(
    store: Store,
) -> None:
    dep = await deploy(store)
    session_id, other_id = await start_one(store, dep), await start_one(store, dep)
    # Concurrent subscribes cannot overshoot: the count is taken under the write lock.
    results = await asyncio.gather(
        *(
            store.add_subscription(session_id, "hook", None, f"k{i}")
            for i in range(MAX_SUBSCRIPTIONS_PER_SESSION + 5)
        ),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 5 and all(isinstance(r, TooManySubscriptions) for r in refused)
    assert len(await store.list_subscriptions(session_id)) == MAX_SUBSCRIPTIONS_PER_SESSION
    message = str(refused[0])
    assert f"({MAX_SUBSCRIPTIONS_PER_SESSION})" in message and "\n" not in message
    # A retried subscribe still gets its subscription; other sessions are not affected.
    i, made = next((i, r) for i, r in enumerate(results) if not isinstance(r, BaseException))
    assert await store.add_subscription(session_id, "hook", None, f"k{i}") == made
    kept = await store.list_subscriptions(session_id)
    assert (await store.add_subscription(other_id, "hook", None)).session_id == other_id
    # Unsubscribing makes room again.
    assert await store.delete_subscription(kept[0].id)
    await store.add_subscription(session_id, "hook", None)
    with pytest.raises(TooManySubscriptions, match="unsubscribe one first"):
        await store.add_subscription(session_id, "hook", None)


async def test_subscriptions_for_an_event_are_older_ones_of_its_sources(
    store: Store,
) -> None:
    dep = await deploy(store)
    other_dep = await deploy(store, project="other")
    session_id = await start_one(store, dep)
    before = await store.get_event(await _event(store))
    assert before is not None
    hook = await store.add_subscription(session_id, "hook", None)
    gh = await store.add_subscription(session_id, "gh", None)
    await store.add_subscription(session_id, "elsewhere", None)
    await store.add_subscription(await start_one(store, other_dep), "hook", None)
    after = await store.get_event(await _event(store))
    assert after is not None

    found = await store.subscriptions_for("demo", ["hook", "gh"], after.created_at)
    assert [s.id for s in found] == [hook.id, gh.id]
    assert await store.subscriptions_for("demo", ["hook"], before.created_at) == []
    assert await store.subscriptions_for("demo", [], after.created_at) == []


async def test_deliveries_are_an_idempotent_ordered_outbox(store: Store) -> None:
    dep = await deploy(store)
    session_id = await start_one(store, dep)
    first = await store.add_subscription(session_id, "hook", None)
    second = await store.add_subscription(session_id, "hook", None)
    e1 = await _event(store)
    e2 = await _event(store)

    assert await store.add_deliveries(e1, [first.id, second.id]) == 2
    assert await store.add_deliveries(e1, [first.id, second.id]) == 0  # fanned out again
    assert await store.add_deliveries(e2, [first.id]) == 1
    pending = await store.pending_deliveries()
    assert [(d.subscription_id, d.event.id, d.session_id) for d in pending] == [
        (first.id, e1, session_id),
        (second.id, e1, session_id),
        (first.id, e2, session_id),
    ]
    assert pending[0].event == await store.get_event(e1)

    await store.mark_delivered(first.id, e1)
    assert [(d.subscription_id, d.event.id) for d in await store.pending_deliveries()] == [
        (second.id, e1),
        (first.id, e2),
    ]
    # Delivered rows are remembered: the same fan-out writes nothing new.
    assert await store.add_deliveries(e1, [first.id]) == 0
    assert len(await store.pending_deliveries(limit=1)) == 1

    # Deleting a subscription takes its rows along and blocks new ones.
    assert await store.delete_subscription(second.id)
    assert await store.add_deliveries(e2, [second.id]) == 0
    assert [(d.subscription_id, d.event.id) for d in await store.pending_deliveries()] == [
        (first.id, e2)
    ]


async def test_deliveries_of_an_unknown_event_fail(store: Store) -> None:
    dep = await deploy(store)
    sub = await store.add_subscription(await start_one(store, dep), "hook", None)
    with pytest.raises(NotFoundError):
        await store.add_deliveries("evt_nope", [sub.id])
    assert await store.add_deliveries("evt_nope", []) == 0


async def test_the_first_http_outcome_of_a_session_counts(store: Store) -> None:
    dep = await deploy(store)
    session_id = await start_one(store, dep)
    assert await store.get_http_outcome(session_id) is None
    first = HttpOutcome(status=201, headers={"X-Thing": "1"}, json={"ok": [1, 2]})
    assert await store.set_http_outcome(session_id, first)
    assert not await store.set_http_outcome(session_id, HttpOutcome(500, {}, body="late"))
    assert await store.get_http_outcome(session_id) == first

    text = HttpOutcome(status=200, headers={}, body="plain")
    other = await start_one(store, dep)
    assert await store.set_http_outcome(other, text)
    assert await store.get_http_outcome(other) == text
    with pytest.raises(NotFoundError):
        await store.set_http_outcome("ses_nope", text)


async def test_session_result_is_that_of_the_final_state(store: Store) -> None:
    dep = await deploy(store)
    session_id = await start_one(store, dep)
    assert await store.session_result(session_id) is None
    await store.append_log([state(session_id, 0, "running"), printed(session_id, 1, "hi")])
    assert await store.session_result(session_id) is None
    await store.append_log([state(session_id, 2, "completed", result={"answer": 42})])
    # A later terminal record changes nothing.
    await store.append_log([state(session_id, 3, "error", error="late")])
    assert await store.session_result(session_id) == ("completed", {"answer": 42}, None)

    failed = await start_one(store, dep)
    await store.append_log([state(failed, 0, "error", error="boom")])
    assert await store.session_result(failed) == ("error", None, "boom")
    assert await store.session_result("ses_nope") is None
