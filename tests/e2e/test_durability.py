"""Nothing lost, nothing done twice: crashes, outages and duplicate deliveries."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from temporalio.client import Client

from pawflow.up import EmbeddedTemporal, find_temporal_binary
from tests.e2e._relay import Relay
from tests.e2e.conftest import Platform, copy_project, make_project
from tests.fakes.bank import FakeBank
from tests.helpers import PawUp, free_port, run_coroutine, wait_for

TRANSFER_WITH_NAP = """
import json
import time
import urllib.request
import uuid

import pawflow


def handler(event):
    order = event.data.body.json
    transaction_id = str(uuid.uuid4())
    bank("withdraw", transaction_id, order["from"], order["amount"])
    print("withdrawn")
    time.sleep(order["nap"])
    bank("deposit", transaction_id, order["to"], order["amount"])
    print("deposited")


@pawflow.activity
def bank(operation, transaction_id, account, amount):
    payload = {"transaction_id": transaction_id, "account": account, "amount": amount}
    request = urllib.request.Request(
        pawflow.vars["BANK_URL"] + "/" + operation,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
"""


def test_sigkill_of_the_worker_during_a_sleep_repeats_no_completed_call(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    project = make_project(
        tmp_path / "t", "transfer", TRANSFER_WITH_NAP, vars={"BANK_URL": bank.url}
    )
    url = platform.deploy(project)["webhooks"]["run"]
    worker = platform.start_worker()
    order = {"from": "alice", "to": "bob", "amount": 10, "nap": 4}
    session = platform.session_for(platform.post(url, order)[1]["event_id"])

    wait_for(lambda: bank.count("withdraw") == 1, 30, 0.02, "the withdrawal")
    wait_for(
        lambda: any(r.get("text") == "withdrawn" for r in platform.log(session["id"])),
        10, 0.05, "the session to reach its sleep",
    )  # fmt: skip
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    assert bank.count("deposit") == 0

    platform.start_worker()
    assert platform.wait_ended(session["id"], timeout=60)["state"] == "completed"
    assert bank.count("withdraw") == 1
    assert bank.count("deposit") == 1
    (withdraw,), (deposit,) = (
        [p for op, p in bank.requests if op == o] for o in ("withdraw", "deposit")
    )
    assert withdraw["transaction_id"] == deposit["transaction_id"]  # the recorded uuid was reused
    log = platform.log(session["id"])
    assert [r["text"] for r in log if r["type"] == "print"] == ["withdrawn", "deposited"]
    assert [r["n"] for r in log] == list(range(len(log)))  # no duplicate records


def test_the_money_transfer_sample_is_durable(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    project = copy_project("transfer", tmp_path)
    manifest = project / "pawflow.yaml"
    manifest.write_text(manifest.read_text().replace("http://127.0.0.1:8765", bank.url))
    url = platform.deploy(project)["webhooks"]["transfer"]
    platform.start_worker()
    session = platform.session_for(
        platform.post(url, {"from": "alice", "to": "bob", "amount": 5})[1]["event_id"]
    )
    assert platform.wait_ended(session["id"])["state"] == "completed"
    assert (bank.count("withdraw"), bank.count("deposit")) == (1, 1)


def test_events_accepted_while_no_worker_runs_are_dispatched_later(
    platform: Platform, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "later", "later", "def handler(event):\n    print('ran')\n")
    url = platform.deploy(project)["webhooks"]["run"]
    status, body = platform.post(url, {})
    assert status == 202
    session = platform.session_for(body["event_id"])
    assert session["state"] == "created"
    platform.start_worker()
    assert platform.wait_ended(session["id"])["state"] == "completed"


def test_events_accepted_while_temporal_is_down_are_dispatched_when_it_returns(
    tmp_path: Path,
) -> None:
    port = free_port()
    address = f"127.0.0.1:{port}"
    up = PawUp(tmp_path / "data", args=["--workers", "1", "--temporal", address])
    up.start()
    temporal = EmbeddedTemporal(
        find_temporal_binary(), tmp_path / "temporal.db", tmp_path / "temporal.log", port=port
    )
    try:
        platform = Platform(up, address)
        project = make_project(tmp_path / "p", "outage", "def handler(event):\n    print('ok')\n")
        url = platform.deploy(project)["webhooks"]["run"]
        status, body = platform.post(url, {"during": "outage"})
        assert status == 202
        session = platform.session_for(body["event_id"])
        assert session["state"] == "created"

        run_coroutine(temporal.start())
        assert platform.wait_ended(session["id"], timeout=60)["state"] == "completed"
    finally:
        up.stop()
        run_coroutine(temporal.stop())


def test_a_repeated_delivery_with_the_same_idempotency_key_starts_nothing_new(
    platform: Platform, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "idem", "idem", "def handler(event):\n    pass\n")
    url = platform.deploy(project)["webhooks"]["run"]
    headers = {"Idempotency-Key": "delivery-42"}
    first = platform.post(url, {"n": 1}, headers)
    second = platform.post(url, {"n": 2}, headers)
    assert first[0] == second[0] == 202
    assert first[1]["event_id"] == second[1]["event_id"]
    platform.start_worker()
    session = platform.session_for(first[1]["event_id"])
    assert platform.wait_ended(session["id"])["state"] == "completed"
    assert len(platform.sessions("--project", "idem")) == 1
    assert len(platform.paw_json("event", "list")) == 1


def test_many_concurrent_sessions_on_one_worker(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    program = TRANSFER_WITH_NAP
    project = make_project(tmp_path / "many", "many", program, vars={"BANK_URL": bank.url})
    url = platform.deploy(project)["webhooks"]["run"]
    platform.start_worker()
    count = 40
    events = [
        platform.post(url, {"from": f"a{i}", "to": f"b{i}", "amount": i, "nap": 1})[1]["event_id"]
        for i in range(count)
    ]

    def all_completed() -> bool:
        sessions = platform.sessions("--project", "many", "--state", "completed")
        return len(sessions) == count

    wait_for(all_completed, 90, 0.25, f"{count} sessions to complete")
    assert {s["event_id"] for s in platform.sessions("--project", "many")} == set(events)
    assert bank.count("withdraw") == bank.count("deposit") == count
    assert all(n == 1 for n in bank.calls.values())


def test_replaying_every_step_repeats_no_call_and_no_print(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "r", "replay", TRANSFER_WITH_NAP, vars={"BANK_URL": bank.url})
    url = platform.deploy(project)["webhooks"]["run"]
    # No cache: every workflow task replays the session's code from its history.
    platform.start_worker("--max-cached-sessions", "0")
    order = {"from": "alice", "to": "bob", "amount": 3, "nap": 0.5}
    session = platform.session_for(platform.post(url, order)[1]["event_id"])
    assert platform.wait_ended(session["id"])["state"] == "completed"
    assert (bank.count("withdraw"), bank.count("deposit")) == (1, 1)
    log = platform.log(session["id"])
    assert [r["type"] for r in log] == [
        "state", "call_start", "call_end", "call_start", "call_end", "print",
        "call_start", "call_end", "print", "state",
    ]  # fmt: skip


def test_a_session_survives_a_restart_of_the_whole_platform(bank: FakeBank, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    project = make_project(
        tmp_path / "p", "restart", TRANSFER_WITH_NAP, vars={"BANK_URL": bank.url}
    )
    order = {"from": "alice", "to": "bob", "amount": 7, "nap": 3}
    with PawUp(data_dir, args=["--workers", "1"]) as up:  # embedded Temporal
        platform = Platform(up)
        url = platform.deploy(project)["webhooks"]["run"]
        session = platform.session_for(platform.post(url, order)[1]["event_id"])
        wait_for(lambda: bank.count("withdraw") == 1, 30, 0.02, "the withdrawal")
    assert bank.count("deposit") == 0  # stopped (Ctrl-C) while the session slept

    with PawUp(data_dir, port=up.port, args=["--workers", "1"]) as up:
        platform = Platform(up)
        assert platform.wait_ended(session["id"], timeout=60)["state"] == "completed"
    assert (bank.count("withdraw"), bank.count("deposit")) == (1, 1)


CALLS_THEN_A_LONG_ONE = """
import json
import urllib.request

import pawflow


def handler(event):
    for step in range(3):
        bank("step", f"step-{step}")
    bank("hold", "hold")
    bank("after", "after")
    print("done")


@pawflow.activity
def bank(operation, transaction_id):
    request = urllib.request.Request(
        pawflow.vars["BANK_URL"] + "/" + operation,
        data=json.dumps({"transaction_id": transaction_id}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())
"""


def test_sigkill_of_the_worker_during_a_running_call_repeats_no_completed_call(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    # The three quick calls and the long one share one workflow task, so
    # Temporal has recorded none of them when the worker dies.
    project = make_project(
        tmp_path / "t", "longcall", CALLS_THEN_A_LONG_ONE, vars={"BANK_URL": bank.url}
    )
    url = platform.deploy(project)["webhooks"]["run"]
    worker = platform.start_worker()
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    wait_for(lambda: bank.count("hold") == 1, 30, 0.02, "the long call to start")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    bank.gate.set()  # from now on the long call returns at once

    platform.start_worker()
    assert platform.wait_ended(session["id"], timeout=90)["state"] == "completed"
    assert bank.count("step") == 3  # each completed call ran exactly once
    assert sorted(tid for (op, tid) in bank.calls if op == "step") == [
        "step-0",
        "step-1",
        "step-2",
    ]
    assert bank.count("hold") >= 1  # the interrupted one ran again (at least once)
    assert bank.count("after") == 1
    log = platform.log(session["id"])
    assert [r["n"] for r in log] == list(range(len(log)))
    starts = [r["seq"] for r in log if r["type"] == "call_start"]
    assert starts == [1, 2, 3, 4, 5]
    assert [r["text"] for r in log if r["type"] == "print"] == ["done"]


def test_a_session_waits_out_a_server_outage(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    # No session stays cached, so resuming after the nap needs a fresh runner,
    # and a runner needs the server (code, vars, journal), which is down then.
    project = make_project(tmp_path / "t", "outage", TRANSFER_WITH_NAP, vars={"BANK_URL": bank.url})
    url = platform.deploy(project)["webhooks"]["run"]
    platform.start_worker("--max-cached-sessions", "0")
    order = {"from": "alice", "to": "bob", "amount": 5, "nap": 1}
    session = platform.session_for(platform.post(url, order)[1]["event_id"])
    wait_for(lambda: bank.count("withdraw") == 1, 30, 0.02, "the withdrawal")
    platform.up.stop()
    worker_log = platform.up.data_dir / "worker-test-0.log"
    wait_for(
        lambda: worker_log.read_text(errors="replace").count("Completing activity as failed") >= 6,
        60, 0.1, "the worker to retry advancing the session for a while",
    )  # fmt: skip
    platform.up.start()
    assert platform.wait_ended(session["id"], timeout=60)["state"] == "completed"
    assert (bank.count("withdraw"), bank.count("deposit")) == (1, 1)


def test_a_session_ended_on_the_server_is_not_run_again_when_its_last_task_is_lost(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    # The worker dies right after the server stored the session's end, before
    # Temporal heard of it: Temporal then runs the workflow task again on the
    # next worker, which must end the session as recorded, not run it again.
    project = make_project(
        tmp_path / "t", "lost", TRANSFER_WITH_NAP.replace('time.sleep(order["nap"])', "pass"),
        vars={"BANK_URL": bank.url},
    )  # fmt: skip
    url = platform.deploy(project)["webhooks"]["run"]
    workers: list[subprocess.Popen[bytes]] = []
    relay = Relay(platform.url, b'"state":"completed"', lambda: workers[0].kill())
    with relay.running():
        workers.append(platform.start_worker("--server", relay.url))
        order = {"from": "alice", "to": "bob", "amount": 3, "nap": 0}
        session = platform.session_for(platform.post(url, order)[1]["event_id"])
        assert platform.wait_ended(session["id"], timeout=60)["state"] == "completed"
        workers[0].wait(10)
    platform.start_worker()

    async def closed() -> str:
        client = await Client.connect(platform.temporal_address)
        description = await client.get_workflow_handle(session["id"]).describe()
        return str(description.status.name if description.status else "")

    wait_for(lambda: run_coroutine(closed()) == "COMPLETED", 60, 0.5, "the workflow to complete")
    assert (bank.count("withdraw"), bank.count("deposit")) == (1, 1)
    log = platform.log(session["id"])
    assert [r["n"] for r in log] == list(range(len(log)))
    assert [r["state"] for r in log if r["type"] == "state"] == ["running", "completed"]


SLOW_SECOND_CALL = """
import json
import time
import urllib.request

import pawflow


def handler(event):
    bank("quick")
    bank("slow")
    bank("after")


@pawflow.activity
def bank(operation):
    if operation == "slow":
        # Longer than Temporal lets a workflow task run: it completes the task
        # meanwhile, and a worker that caches no session evicts it.
        time.sleep(12)
    body = json.dumps({"transaction_id": operation}).encode()
    urllib.request.urlopen(pawflow.vars["BANK_URL"] + "/" + operation, body, timeout=10).close()
"""


def test_a_session_evicted_during_a_long_call_runs_it_once(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "t", "evicted", SLOW_SECOND_CALL, vars={"BANK_URL": bank.url})
    url = platform.deploy(project)["webhooks"]["run"]
    platform.start_worker("--max-cached-sessions", "0")
    session = platform.session_for(platform.post(url, {})[1]["event_id"])
    assert platform.wait_ended(session["id"], timeout=90)["state"] == "completed"
    assert [bank.count(op) for op in ("quick", "slow", "after")] == [1, 1, 1]
