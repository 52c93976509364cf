"""A takeover is served from the call journal: a call that completed and was
journaled, but never reached the workflow's history, does not run again."""

from __future__ import annotations

import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from tests.e2e._relay import Relay
from tests.e2e.conftest import Platform, make_project
from tests.fakes.bank import FakeBank
from tests.helpers import wait_for

NOTE = "completed before the worker stopped; not run again"

# Two calls back to back: they run in one advance, and the second waits for
# the first one's journal write, so a worker killed while that write is being
# answered has run the first call, journaled it, and told the workflow nothing.
TRANSFER = """
import json
import urllib.request

import pawflow


def handler(event):
    bank("withdraw")
    bank("deposit")
    print("done")


@pawflow.activity
def bank(operation):
    request = urllib.request.Request(
        pawflow.vars["BANK_URL"] + "/" + operation,
        data=json.dumps({"transaction_id": "t-1"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
"""


def journaled(data_dir: Path, session_id: str) -> list[int]:
    """The numbers of the session's calls the server's store holds in its journal."""
    with closing(sqlite3.connect(data_dir / "pawflow.db", timeout=10)) as db:
        rows = db.execute(
            "SELECT number FROM call_journal WHERE session_id = ? ORDER BY number", (session_id,)
        ).fetchall()
    return [number for (number,) in rows]


def test_a_call_journaled_before_the_worker_died_is_taken_from_the_journal(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "t", "journal", TRANSFER, vars={"BANK_URL": bank.url})
    url = platform.deploy(project)["webhooks"]["run"]
    workers: list[subprocess.Popen[bytes]] = []
    # The relay stores the journal write upstream, then kills the worker
    # before the worker hears that it was stored.
    relay = Relay(platform.url, b'"outcome": "', lambda: workers[0].kill())
    with relay.running():
        workers.append(platform.start_worker("--server", relay.url))
        session = platform.session_for(platform.post(url, {})[1]["event_id"])
        wait_for(
            lambda: workers[0].poll() is not None, 60, 0.05,
            "the worker to be killed at its first journal write",
        )  # fmt: skip

    sid = session["id"]
    # What the kill left: the first call ran and is journaled, the second never
    # started, and the workflow recorded no call's end.
    assert (bank.count("withdraw"), bank.count("deposit")) == (1, 0)
    (first_call,) = journaled(platform.up.data_dir, sid)
    assert [r for r in platform.log(sid) if r["type"] == "call_end"] == []

    platform.start_worker()
    assert platform.wait_ended(sid, timeout=90)["state"] == "completed"

    assert (bank.count("withdraw"), bank.count("deposit")) == (1, 1)
    log = platform.log(sid)
    assert [r["n"] for r in log] == list(range(len(log)))
    ends = {r["seq"]: r for r in log if r["type"] == "call_end"}
    assert len(ends) == 2 and first_call in ends, ends
    assert ends[first_call].get("note") == NOTE
    assert ends[first_call]["result"] == {"ok": True, "operation": "withdraw"}
    (second_call,) = set(ends) - {first_call}
    assert "note" not in ends[second_call]  # it ran for real, on the second worker
    assert [r["text"] for r in log if r["type"] == "print"] == ["done"]
    # The session ended: its journal is gone from the store.
    wait_for(lambda: journaled(platform.up.data_dir, sid) == [], 10, 0.1, "the journal dropped")
