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
