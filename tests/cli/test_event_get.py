"""``paw event get ID``: payload, headers (credentials masked), matches, sessions."""

from __future__ import annotations

import json

from pawflow.storage import Store
from tests.storage._helpers import deploy, new_session

from ._inproc import Paw, paw, server

__all__ = ["paw", "server"]  # the fixtures these tests use

SECRET = "Bearer s3cr3t-value"


async def test_event_get_shows_everything_but_credentials(store: Store, paw: Paw) -> None:
    dep = await deploy(store)
    data = {
        "method": "POST",
        "path": "/webhooks/x",
        "query": {},
        "headers": {
            "content-type": "application/json",
            "authorization": SECRET,
            "cookie": "sid=s3cr3t-value",
            "x-hub-signature-256": "sha256=s3cr3t-value",
        },
        "body": {"name": "Ada"},
    }
    event, _ = await store.add_event(project=dep.project, trigger="hook", type="post", data=data)
    matches = [
        {"trigger": "hook", "matched": True, "reason": None},
        {"trigger": "other", "matched": False, "reason": "filter is false"},
    ]
    (session,) = await store.match_event(event.id, [new_session(dep)], matches)

    code, out, err = await paw("event", "get", event.id)
    assert code == 0, err
    assert "s3cr3t" not in out
    lines = out.splitlines()
    assert lines[0] == f"Event {event.id}  (post)"
    assert "  authorization: ***" in lines and "  cookie: ***" in lines
    assert "  x-hub-signature-256: ***" in lines and "  content-type: application/json" in lines
    assert '      "name": "Ada"' in lines
    assert any(line.split() == ["trigger", "hook", "yes", "-"] for line in lines)
    assert any(
        line.split() == ["trigger", "other", "no", "filter", "is", "false"] for line in lines
    )
    assert any(line.split() == [session.id, "created", "hook"] for line in lines)
    assert not any(line.strip().startswith("replay of") for line in lines)

    code, out, err = await paw("event", "get", event.id, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["id"] == event.id and shown["matches"] == matches
    # Credentials are masked in JSON too; everything else is as stored.
    assert SECRET not in out
    assert shown["data"]["headers"]["authorization"] == "***"
    assert shown["data"]["headers"]["content-type"] == "application/json"
    assert {k: v for k, v in shown["data"].items() if k != "headers"} == {
        k: v for k, v in data.items() if k != "headers"
    }
    assert shown["sessions"] == [{"id": session.id, "state": "created", "trigger": "hook"}]


async def test_event_get_of_a_pending_event_and_an_unknown_one(store: Store, paw: Paw) -> None:
    dep = await deploy(store)
    event, _ = await store.add_event(project=dep.project, trigger=None, type="tick", data=[1, 2])
    code, out, _ = await paw("event", "get", event.id)
    assert code == 0
    assert "  (not matched yet: the event waits to be dispatched)" in out.splitlines()
    assert "  (none started)" in out.splitlines()

    code, out, err = await paw("event", "get", "evt_nope")
    assert code == 1 and out == "" and err == "error: no event 'evt_nope'\n"
