"""A long-lived session continues as new, transparently, keeping its transcript."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.e2e.conftest import Platform, make_project
from tests.fakes.bank import FakeBank
from tests.helpers import http_json, wait_for

pytestmark = pytest.mark.timeout(240)

SIGNALS = 60

PROGRAM = """
import json
import urllib.request

import pawflow


@pawflow.activity
def deposit(n):
    request = urllib.request.Request(
        pawflow.vars["BANK_URL"] + "/deposit",
        data=json.dumps({"tid": f"d-{n}"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def handler(event):
    total = 0
    for n in range(int(pawflow.vars["SIGNALS"])):
        got = pawflow.next_signal(["tick"])
        total += got["payload"]
        deposit(n)
        if n % 10 == 0:
            print("at", n, "total", total)
    return total
"""


async def _runs(address: str, session_id: str) -> int:
    """How many runs the session's workflow had (1 + times it continued as new)."""
    client = await Client.connect(address)
    runs = 1
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(session_id, run_id=run_id).fetch_history()
        first = history.events[0].workflow_execution_started_event_attributes
        if not first.continued_execution_run_id:
            return runs
        runs += 1
        run_id = first.continued_execution_run_id


def test_a_long_lived_session_continues_as_new_and_completes(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    project = make_project(
        tmp_path / "p", "longlived", PROGRAM, vars={"BANK_URL": bank.url, "SIGNALS": str(SIGNALS)}
    )
    url = platform.deploy(project)["webhooks"]["run"]
    # A small history allowance and no cache: every run replays from the saved transcript.
    platform.start_worker("--max-history-events", "100", "--max-cached-sessions", "0")
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    for i in range(SIGNALS):
        status, _ = http_json(
            platform.url + f"/api/v1/sessions/{session['id']}/signals",
            token=platform.up.token,
            method="POST",
            body={"name": "tick", "payload": i},
        )
        assert status == 202
        # One at a time, so that each lands in a workflow task of its own and
        # history grows as it does for a session fed over days.
        wait_for(lambda i=i: bank.count("deposit") == i + 1, 30, 0.01, f"signal {i} to be used")
    ended = platform.wait_ended(session["id"], timeout=180)
    assert ended["state"] == "completed", ended
    log = platform.log(session["id"])
    assert [r["n"] for r in log] == list(range(len(log)))  # numbered on across runs
    (end,) = [r for r in log if r["type"] == "state" and r["state"] == "completed"]
    assert end["result"] == sum(range(SIGNALS))
    assert bank.count("deposit") == SIGNALS  # no call repeated by the new runs
    prints = [r["text"] for r in log if r["type"] == "print"]
    assert prints == [f"at {n} total {sum(range(n + 1))}" for n in range(0, SIGNALS, 10)]
    runs = asyncio.run(_runs(platform.temporal_address, session["id"]))
    assert runs >= 3, runs
