"""A session that prints text which cannot be stored as is — a lone surrogate, a
terminal escape, 200 KiB in one line — loses nothing, and costs the sessions
running beside it nothing: every one completes with every record it printed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Platform, make_project

PROGRAM = """
def handler(event):
    body = event.data.body.json
    if body["odd"]:
        print("before")
        print("broken \\ud83d emoji")  # a lone surrogate, as a bad decode leaves one
        print(b"caf\\xe9".decode("utf-8", "surrogateescape"))
        print("\\x1b[2J\\x1b]0;owned\\x07 screen cleared")
        print("<" + "x" * (200 * 1024) + ">")
        print("after")
    else:
        for i in range(body["count"]):
            print(f"session {body['n']} line {i}")
"""

ODD_PRINTS = 6
NORMAL = 6
MARKER = "characters left out"


def test_odd_prints_cost_no_record_and_no_session(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    url = platform.deploy(make_project(tmp_path / "poison", "poison", PROGRAM))["webhooks"]["run"]
    # All at once, so the odd session's records share batches with the others'.
    bodies = [{"odd": True}] + [{"odd": False, "n": n, "count": 5 + n} for n in range(NORMAL)]
    events = []
    for body in bodies:
        status, answer = platform.post(url, body)
        assert status == 202, answer
        events.append(answer["event_id"])
    sessions = [platform.session_for(event_id)["id"] for event_id in events]

    for session_id in sessions:
        ended = platform.wait_ended(session_id, timeout=60)
        assert ended["state"] == "completed", ended

    for body, session_id in zip(bodies, sessions, strict=True):
        log = platform.log(session_id)
        assert [r["n"] for r in log] == list(range(len(log))), log
        assert [r["state"] for r in log if r["type"] == "state"] == ["running", "completed"]
        prints = [r["text"] for r in log if r["type"] == "print"]
        if not body["odd"]:
            assert prints == [f"session {body['n']} line {i}" for i in range(body["count"])]
            continue
        assert len(prints) == ODD_PRINTS, prints[:3]
        assert prints[0] == "before" and prints[-1] == "after"
        assert prints[1] == "broken \ufffd emoji"
        assert prints[2] == "caf\ufffd"
        # Stored as printed; only shown escaped.
        assert prints[3] == "\x1b[2J\x1b]0;owned\x07 screen cleared"
        long_text = prints[4]
        assert MARKER in long_text
        assert long_text.startswith("<xxx") and long_text.endswith("xxx>")
        (long_record,) = [r for r in log if r.get("text") == long_text]
        assert len(json.dumps(long_record, ensure_ascii=False).encode()) <= 64 * 1024 + 64

        shown = platform.paw("session", "log", session_id)
        assert shown.returncode == 0, shown.stderr
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
        assert "\\x1b[2J\\x1b]0;owned\\x07 screen cleared" in shown.stdout
        assert "broken \ufffd emoji" in shown.stdout
