"""Sessions started, stopped and restarted by hand; child sessions; the key-value store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Platform, make_project
from tests.helpers import wait_for

PROGRAM = """
import time

import pawflow


def handler(event):
    pass


def work(event):
    print("got", event.data["n"])
    try:
        time.sleep(600)
    except pawflow.SessionStopped as stop:
        print("cleaning up after:", stop)
        raise


def quick(event):
    return event.data["n"] * 2


def parent(event):
    child = pawflow.start("program.py:child", data={"x": event.data["x"]})
    return {"child": child, "result": pawflow.result(child, timeout=60)}


def child(event):
    return event.data["x"] * 10


def counter(event):
    total = pawflow.store.add("count", event.data["n"])
    pawflow.store.set("last", {"n": event.data["n"], "total": total})
    pawflow.store.mutate("seen", "append", event.data["n"])
    first = pawflow.store.check_and_set("owner", None, event.data["who"])
    return {
        "total": total,
        "first": first,
        "owner": pawflow.store.get("owner"),
        "missing": pawflow.store.get("nothing", "default"),
        "keys": pawflow.store.keys(),
    }


def bad_value(event):
    pawflow.store.set("k", object())
"""


def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "control", "control", PROGRAM)


def start(platform: Platform, call: str, data: dict[str, Any]) -> str:
    result = platform.paw(
        "session", "start", "--project", "control", "--call", call, "--data", json.dumps(data)
    )
    assert result.returncode == 0, result.stderr
    session_id = result.stdout.strip()
    assert session_id.startswith("ses_")
    return session_id


def printed(platform: Platform, session_id: str, text: str) -> bool:
    return any(r["type"] == "print" and text in r["text"] for r in platform.log(session_id))


def test_start_force_stop_restart(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    platform.deploy(project(tmp_path))

    quick = start(platform, "program.py:quick", {"n": 21})
    assert platform.wait_ended(quick)["state"] == "completed"
    assert platform.log(quick)[-1]["result"] == 42

    session_id = start(platform, "program.py:work", {"n": 1})
    wait_for(lambda: printed(platform, session_id, "got 1"), 60, 0.1, "the first print")
    stop = platform.paw("session", "stop", session_id, "--force", "--reason", "runaway")
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.strip() == f"Session {session_id} stopped."
    ended = platform.wait_ended(session_id)
    assert ended["state"] == "stopped"
    last = platform.log(session_id)[-1]
    assert (last["type"], last["state"], last["error"]) == ("state", "stopped", "runaway")

    restart = platform.paw("session", "restart", session_id)
    assert restart.returncode == 0, restart.stderr
    again = restart.stdout.strip()
    assert again.startswith("ses_") and again != session_id
    # Same event, same call: it prints what the first one printed.
    wait_for(lambda: printed(platform, again, "got 1"), 60, 0.1, "the restarted session's print")
    assert platform.paw("session", "stop", again, "--force").returncode == 0
    assert platform.wait_ended(again)["state"] == "stopped"


def test_graceful_stop(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    platform.deploy(project(tmp_path))
    session_id = start(platform, "program.py:work", {"n": 2})
    wait_for(lambda: printed(platform, session_id, "got 2"), 60, 0.1, "the first print")
    stop = platform.paw("session", "stop", session_id, "--reason", "enough")
    assert stop.returncode == 0, stop.stderr
    assert "stops at its next durable point" in stop.stdout
    ended = platform.wait_ended(session_id, timeout=60)
    assert ended["state"] == "stopped"
    log = platform.log(session_id)
    assert any(r["type"] == "stop_request" and r["reason"] == "enough" for r in log), log
    # The session's code saw the stop at its durable point and could clean up.
    assert any(r.get("text") == "cleaning up after: enough" for r in log), log
    assert log[-1]["type"] == "state" and log[-1]["state"] == "stopped"


def test_child_session_result_reaches_the_parent(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    platform.deploy(project(tmp_path))
    parent = start(platform, "program.py:parent", {"x": 4})
    ended = platform.wait_ended(parent, timeout=90)
    log = platform.log(parent)
    assert ended["state"] == "completed", log
    result = log[-1]["result"]
    assert result["result"] == 40
    detail = platform.paw_json("session", "list", "--project", "control")
    (child,) = [s for s in detail if s["id"] == result["child"]]
    assert child["state"] == "completed"


def test_store_from_sessions(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    platform.deploy(project(tmp_path))
    first = start(platform, "program.py:counter", {"n": 5, "who": "ada"})
    assert platform.wait_ended(first)["state"] == "completed", platform.log(first)
    second = start(platform, "program.py:counter", {"n": 2, "who": "bob"})
    assert platform.wait_ended(second)["state"] == "completed", platform.log(second)

    assert platform.log(first)[-1]["result"] == {
        "total": 5,
        "first": True,
        "owner": "ada",
        "missing": "default",
        "keys": ["count", "last", "owner", "seen"],
    }
    later = platform.log(second)[-1]["result"]
    assert (later["total"], later["first"], later["owner"]) == (7, False, "ada")
    # Each store call is one recorded call in the log.
    calls = [r["function"] for r in platform.log(first) if r["type"] == "call_start"]
    assert calls == [
        "store.add",
        "store.set",
        "store.mutate",
        "store.check_and_set",
        "store.get",
        "store.get",
        "store.keys",
    ]

    entries = platform.paw_json("store", "list", "--project", "control")
    assert {e["key"]: e["value"] for e in entries} == {
        "count": 7,
        "last": {"n": 2, "total": 7},
        "owner": "ada",
        "seen": [5, 2],
    }
    got = platform.paw("store", "get", "--project", "control", "count")
    assert got.returncode == 0 and json.loads(got.stdout) == 7

    bad = start(platform, "program.py:bad_value", {})
    assert platform.wait_ended(bad)["state"] == "error"
    assert "JSON-serialisable" in (platform.log(bad)[-1]["error"] or "")
