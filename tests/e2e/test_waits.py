"""Sessions that wait: for events, for children, across a worker crash."""

from __future__ import annotations

import signal
from pathlib import Path

from pawflow.sessions._runner import POOLED_NAME
from tests.e2e.conftest import Platform, copy_project, make_project
from tests.fakes.bank import FakeBank
from tests.helpers import child_pids, wait_for

WAIT_FOR_EVENT = """
import json
import urllib.request

import pawflow


def handler(event):
    bank("opened")
    sub = pawflow.subscribe("decide")
    print("waiting")
    decision = pawflow.next_event(sub)
    bank("closed")
    return decision.data.body.json["verdict"]


@pawflow.activity
def bank(operation):
    request = urllib.request.Request(
        pawflow.vars["BANK_URL"] + "/" + operation,
        data=json.dumps({"transaction_id": operation}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
"""


def _waiting_project(root: Path, bank: FakeBank) -> Path:
    root.mkdir(parents=True)
    (root / "pawflow.yaml").write_text(
        "version: 1\nproject:\n  name: waiter\n"
        f"  vars:\n    - name: BANK_URL\n      value: {bank.url}\n"
        "  triggers:\n"
        "    - name: run\n      webhook: {}\n      call: program.py:handler\n"
        "    - name: decide\n      webhook: {}\n"
    )
    (root / "program.py").write_text(WAIT_FOR_EVENT)
    return root


def test_sigkill_of_the_worker_during_next_event(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    webhooks = platform.deploy(_waiting_project(tmp_path / "waiter", bank))["webhooks"]
    worker = platform.start_worker()
    session = platform.session_for(platform.post(webhooks["run"], {})[1]["event_id"])
    wait_for(
        lambda: any(r.get("text") == "waiting" for r in platform.log(session["id"])),
        30, 0.05, "the session to wait for its event",
    )  # fmt: skip
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    # Accepted while no worker runs: kept for the session, not lost.
    status, _ = platform.post(webhooks["decide"], {"verdict": "yes"})
    assert status == 202

    platform.start_worker()
    ended = platform.wait_ended(session["id"], timeout=90)
    assert ended["state"] == "completed"
    assert bank.count("opened") == 1
    assert bank.count("closed") == 1
    log = platform.log(session["id"])
    assert [r["n"] for r in log] == list(range(len(log)))
    assert log[-1]["result"] == "yes"
    assert [r["text"] for r in log if r["type"] == "print"] == ["waiting"]


def test_the_approval_sample_waits_for_its_answer(platform: Platform, tmp_path: Path) -> None:
    webhooks = platform.deploy(copy_project("approval", tmp_path))["webhooks"]
    platform.start_worker()
    # An answer for another request, which no session here may take.
    platform.post(webhooks["cancel"], {"id": "other"})
    waiting = {
        request_id: platform.session_for(
            platform.post(webhooks["request"], {"id": request_id})[1]["event_id"]
        )
        for request_id in ("r1", "r2")
    }
    for session in waiting.values():
        wait_for(
            lambda s=session: len([r for r in platform.log(s["id"]) if r.get("type") == "print"])
            >= 2,
            30, 0.05, "the session to wait",
        )  # fmt: skip
    platform.post(webhooks["approve"], {"id": "r1"})
    platform.post(webhooks["cancel"], {"id": "r2"})
    outcomes = {}
    for request_id, session in waiting.items():
        assert platform.wait_ended(session["id"], timeout=60)["state"] == "completed"
        outcomes[request_id] = platform.log(session["id"])[-1]["result"]["outcome"]
    assert outcomes == {"r1": "approved", "r2": "cancelled"}
    # The links it printed are the webhook URLs deploy gave.
    printed = [r["text"] for r in platform.log(waiting["r1"]["id"]) if r["type"] == "print"]
    assert webhooks["approve"] in printed[0] and webhooks["cancel"] in printed[1]


def test_the_fanout_sample_collects_its_childrens_results(
    platform: Platform, tmp_path: Path
) -> None:
    webhooks = platform.deploy(copy_project("fanout", tmp_path))["webhooks"]
    platform.start_worker()
    session = platform.session_for(
        platform.post(webhooks["batch"], {"items": [1, 2, 3]})[1]["event_id"]
    )
    assert platform.wait_ended(session["id"], timeout=60)["state"] == "completed"
    assert platform.log(session["id"])[-1]["result"] == {"sum": 14}
    completed = platform.sessions("--project", "fanout", "--state", "completed")
    assert len(completed) == 4  # the parent and its three children


LONG_SLEEP = """
import time


def handler(event):
    print("going to sleep")
    time.sleep(3600)
"""


def _runners(worker_pid: int) -> list[int]:
    """The runner processes of a worker (children of its fork server) that are
    in a session: not the ones forked ahead of need, waiting for one."""
    return [
        pid
        for server in child_pids(worker_pid)
        for pid in child_pids(server)
        if _name(pid) not in ("", POOLED_NAME)
    ]


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""  # gone


def test_a_long_wait_holds_no_process(platform: Platform, tmp_path: Path) -> None:
    url = platform.deploy(make_project(tmp_path / "p", "sleeper", LONG_SLEEP))["webhooks"]["run"]
    worker = platform.start_worker()
    sessions = [platform.session_for(platform.post(url, {})[1]["event_id"]) for _ in range(3)]
    for session in sessions:
        wait_for(
            lambda s=session: any(r.get("type") == "print" for r in platform.log(s["id"])),
            30, 0.05, "the session to sleep",
        )  # fmt: skip
    # All three sleep durably: their runners are gone, the sessions are not.
    wait_for(lambda: not _runners(worker.pid), 30, 0.05, "the runners to be let go")
    assert {s["state"] for s in platform.sessions("--project", "sleeper")} == {"running"}
    for session in sessions:
        assert platform.paw("session", "stop", session["id"], "--force").returncode == 0
