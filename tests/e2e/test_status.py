"""``paw status`` against a running platform: counts, Temporal, and a killed worker."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Platform, make_project
from tests.helpers import wait_for

PROGRAM = """\
import time


def handler(event):
    body = event.data.body.json or {}
    if body.get("wait"):
        time.sleep(3600)  # a durable timer: the session stays running, holding no process
    print("done")
"""


def test_status_counts_and_a_killed_worker_shows_gone(platform: Platform, tmp_path: Path) -> None:
    worker = platform.start_worker()

    def status() -> dict[str, Any]:
        result: dict[str, Any] = platform.paw_json("status")
        return result

    def worker_row(s: dict[str, Any]) -> dict[str, Any] | None:
        rows = [w for w in s["workers"] if w["pid"] == worker.pid]
        return rows[0] if rows else None

    first = wait_for(lambda: worker_row(status()), 30, 0.2, "the worker's first heartbeat")
    assert first["alive"] is True

    url = platform.deploy(make_project(tmp_path / "st", "status-e2e", PROGRAM))["webhooks"]["run"]
    done = platform.session_for(platform.post(url, {"wait": False})[1]["event_id"])
    platform.wait_ended(done["id"])
    waiting = platform.session_for(platform.post(url, {"wait": True})[1]["event_id"])
    wait_for(
        lambda: status()["sessions"].get("running") == 1,
        30,
        0.2,
        "the waiting session to run",
    )

    now = status()
    assert now["server"]["url"] == platform.url and now["server"]["version"]
    assert now["store"]["kind"] == "sqlite" and now["store"]["size_bytes"] > 0
    assert now["temporal"]["address"] == platform.temporal_address
    assert now["temporal"]["reachable"] is True
    assert now["sessions"] == {"completed": 1, "running": 1}
    assert now["events_pending"] == 0
    assert now["oldest_running_session"]["id"] == waiting["id"]

    text = platform.paw("status")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"Server    {platform.url}  (pawflow ")
    assert lines[1].startswith("Store     sqlite, ")
    assert "reachable" in lines[2] and "NOT" not in lines[2]
    assert "Workers   1 alive" in lines
    assert "Sessions  running 1, completed 1" in lines
    assert "Events    0 waiting to be dispatched" in lines
    assert any(line.startswith(f"Oldest running session  {waiting['id']}, ") for line in lines)

    # A SIGKILLed worker says nothing: it is gone once its heartbeat lapses.
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    gone = wait_for(
        lambda: (row := worker_row(status())) is not None and not row["alive"] and row,
        60,
        0.5,
        "the killed worker to show as gone",
    )
    assert gone["seconds_since_heartbeat"] > 0
    text = platform.paw("status")
    assert "Workers   0 alive, 1 gone" in text.stdout.splitlines()
