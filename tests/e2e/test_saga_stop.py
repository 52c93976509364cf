"""A stop that comes while a saga is undoing does not cut the undoing short.

The workflow sees a stop at the start of a workflow task; a long undo outlasts
one (the task is renewed while a local activity runs), so the stop is seen
while the first undo runs and is answered in place of the second: the runner
asks for that undo again, and it runs. Too slow for a golden case (and the
golden worker caches no session, which restarts a local activity that
outlasts a task).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Platform, make_project
from tests.helpers import wait_for

PROGRAM = """
import time

import pawflow


@pawflow.activity
def slow_step(name):
    time.sleep(0.3)  # longer than an advance batches calls: the undo starts on its own
    return f"did {name}"


@pawflow.activity
def slow_undo(name):
    time.sleep(10)  # longer than a workflow task: the stop is seen meanwhile
    return f"undid {name}"


@pawflow.activity
def undo(name):
    return f"undid {name}"


def handler(event):
    with pawflow.saga():
        slow_step("a")
        pawflow.compensate(undo, "a")
        pawflow.compensate(slow_undo, "b")
        raise ValueError("boom")
"""


@pytest.mark.timeout(120)
def test_a_stop_while_undoing_lets_every_undo_run(platform: Platform, tmp_path: Path) -> None:
    url = platform.deploy(make_project(tmp_path / "p", "undoing", PROGRAM))["webhooks"]["run"]
    platform.start_worker()
    session = platform.session_for(platform.post(url, {})[1]["event_id"])["id"]
    wait_for(
        lambda: any(r["type"] == "compensate_start" for r in platform.log(session)),
        60, 0.1, "the first undo to start",
    )  # fmt: skip
    stopped = platform.paw("session", "stop", session)
    assert stopped.returncode == 0, stopped.stderr
    assert platform.wait_ended(session, timeout=60)["state"] == "stopped"
    log = platform.log(session)
    assert [r["n"] for r in log] == list(range(len(log)))
    shown = [
        (r["type"], r.get("function") or r.get("result") or r.get("state"))
        for r in log
        if r["type"] != "state" or r["state"] != "running"
    ]
    assert shown == [
        ("call_start", "program.slow_step"),
        ("call_end", "did a"),
        ("compensate_start", "program.slow_undo"),
        ("compensate_end", "undid b"),
        ("stop_request", None),
        ("compensate_start", "program.undo"),
        ("compensate_end", "undid a"),
        ("state", "stopped"),
    ], shown
    # Its record (the stop answering an undo, then the undo asked again) replays.
    replayed = platform.paw("session", "replay", session)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "no divergence" in replayed.stdout, replayed.stdout
