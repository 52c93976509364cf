"""A session's inbox: bounded, one notice per overflow, carried whole into a new run."""

from __future__ import annotations

from pawflow.sessions._inbox import MAX_WAITING, Inbox
from pawflow.sessions._protocol import Request


def test_a_full_inbox_turns_arrivals_away_with_one_notice() -> None:
    inbox = Inbox()
    for i in range(MAX_WAITING):
        inbox.add_event("sub", {"id": f"e{i}"})
    inbox.add_event("sub", {"id": "late-1"})
    inbox.add_signal("go", 1, "ses_x")
    assert inbox.waiting() == MAX_WAITING
    assert len(inbox.notices) == 1 and "event late-1 of subscription sub" in inbox.notices[0]
    found, event = inbox.take(Request("next_event", key="sub"))
    assert found and event["id"] == "e0"
    inbox.add_signal("go", 2, None)  # room again: delivered
    assert inbox.take(Request("next_signal", key=["go"])) == (
        True,
        {"name": "go", "payload": 2, "sender": None},
    )
    inbox.add_event("sub", {"id": "e1"})  # a redelivery counts once
    assert inbox.waiting() == MAX_WAITING - 1


def test_a_snapshot_restores_before_what_arrived_meanwhile() -> None:
    old = Inbox()
    old.add_event("sub", {"id": "a"})
    old.add_signal("s", 1, None)
    old.children["ses_c"] = {"state": "completed", "result": 3, "error": None}
    new = Inbox()
    new.add_event("sub", {"id": "b"})
    new.add_event("sub", {"id": "a"})  # a redelivery, arrived before the new run started
    new.restore(old.snapshot())
    key = Request("next_event", key="sub")
    assert [new.take(key)[1]["id"] for _ in range(2)] == ["a", "b"]
    assert not new.ready(key)
    assert new.take(Request("next_signal", key=[]))[1]["payload"] == 1
    assert new.ready(Request("result", key="ses_c"))


def test_a_wait_on_several_subscriptions_takes_the_oldest_and_names_its_subscription() -> None:
    inbox = Inbox()
    inbox.add_event("other", {"id": "o1"})
    inbox.add_event("cancel", {"id": "c1"})
    inbox.add_event("approve", {"id": "a1"})
    both = Request("next_event", key=["approve", "cancel"])
    assert inbox.take(both) == (True, {"id": "c1", "subscription": "cancel"})
    assert inbox.take(both) == (True, {"id": "a1", "subscription": "approve"})
    assert not inbox.ready(both)
    # What the wait did not ask for stays queued for a later one.
    assert inbox.take(Request("next_event", key="other")) == (
        True,
        {"id": "o1", "subscription": "other"},
    )


def test_arrival_order_across_subscriptions_survives_continue_as_new() -> None:
    old = Inbox()
    old.add_event("b", {"id": "1"})
    old.add_event("a", {"id": "2"})
    new = Inbox()
    new.add_event("a", {"id": "3"})  # arrived before the new run took over
    new.add_event("b", {"id": "1"})  # a redelivery of a carried event
    new.restore(old.snapshot())
    both = Request("next_event", key=["a", "b"])
    assert [new.take(both)[1]["id"] for _ in range(3)] == ["1", "2", "3"]
    assert new.waiting() == 0


def test_a_snapshot_from_before_arrival_order_was_kept_still_restores() -> None:
    new = Inbox()
    new.restore(
        {"events": {"sub": [{"id": "a"}, {"id": "b"}]}, "seen": [["sub", "a"], ["sub", "b"]]}
    )
    key = Request("next_event", key="sub")
    assert [new.take(key)[1]["id"] for _ in range(2)] == ["a", "b"]
