"""Day-2 operations end to end: restart from a failure on fixed code, rollback,
deactivation and redispatch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Platform, make_project
from tests.fakes.bank import FakeBank
from tests.helpers import http_json, wait_for

# The transfer as first deployed: the deposit is broken (a call that fails for
# good after the withdrawal went through).
TRANSFER = """
import json
import urllib.request

import pawflow


@pawflow.activity
def bank(operation, order):
    request = urllib.request.Request(
        pawflow.vars["BANK_URL"] + "/" + operation,
        data=json.dumps(order).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


@pawflow.activity(retry=pawflow.Retry(max_attempts=1))
def deposit(order):
    {deposit}


def handler(event):
    order = event.data["body"]["json"]
    bank("withdraw", order)
    print("withdrew", order["amount"])
    pawflow.sleep(0.01)
    bank("audit", order)
    return deposit(order)
"""

BROKEN = 'raise RuntimeError("deposit refused")'
FIXED = 'return bank("deposit", order)'


def transfer(root: Path, deposit: str, bank_url: str) -> Path:
    program = TRANSFER.replace("{deposit}", deposit)
    return make_project(root, "transfer", program, vars={"BANK_URL": bank_url})


def trigger(platform: Platform, deployed: dict[str, Any], body: object) -> str:
    status, reply = platform.post(deployed["webhooks"]["run"], body)
    assert status == 202, reply
    event_id: str = reply["event_id"]
    return event_id


def test_restart_from_failure_reuses_completed_calls(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    platform.start_worker()
    deployed = platform.deploy(transfer(tmp_path / "v1", BROKEN, bank.url))
    order = {"transaction_id": "t1", "amount": 50}
    failed = platform.session_for(trigger(platform, deployed, order))["id"]
    assert platform.wait_ended(failed, timeout=60)["state"] == "error"
    assert (bank.count("withdraw"), bank.count("audit"), bank.count("deposit")) == (1, 1, 0)

    # An unknown session is one line, and nothing starts.
    before = len(platform.sessions())
    refused = platform.paw("session", "restart", deployed["deployment_id"], "--from-failure")
    assert refused.returncode == 1 and "no session" in refused.stderr, refused.stderr

    fixed = platform.deploy(transfer(tmp_path / "v2", FIXED, bank.url))
    result = platform.paw("session", "restart", failed, "--from-failure", "--json")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["deployment_id"] == fixed["deployment_id"]
    assert reply["reused"] == 3  # withdraw, sleep, audit: everything before the failed call
    again = reply["session_id"]
    assert platform.wait_ended(again, timeout=60)["state"] == "completed"
    # Completed calls were not run again; the failed one ran on the new code.
    assert (bank.count("withdraw"), bank.count("audit"), bank.count("deposit")) == (1, 1, 1)
    log = platform.log(again)
    reused = [r for r in log if r["type"] == "call_end" and r.get("reused_from") == failed]
    assert [r["seq"] for r in reused] == [1, 2]
    assert log[-1]["result"] == {"ok": True, "operation": "deposit"}
    # What the program printed while it was brought back shows in the new log.
    assert any(r["type"] == "print" and r["text"] == "withdrew 50" for r in log)
    assert len(platform.sessions()) == before + 1

    completed = platform.paw("session", "restart", again, "--from-failure")
    assert completed.returncode == 1
    assert "did not fail (it is completed)" in completed.stderr


HOLD_AFTER_DEPOSIT = """
    result = bank("deposit", order)
    bank("hold", order)
    return result
"""


def test_restart_from_failure_survives_a_worker_kill(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    """The restarted session's worker is SIGKILLed inside a call after the reuse:
    a new worker replays it from its own history, and neither a reused call nor
    the completed deposit reaches the bank again."""
    worker = platform.start_worker()
    deployed = platform.deploy(transfer(tmp_path / "v1", BROKEN, bank.url))
    order = {"transaction_id": "t3", "amount": 5}
    failed = platform.session_for(trigger(platform, deployed, order))["id"]
    assert platform.wait_ended(failed, timeout=60)["state"] == "error"
    holding = TRANSFER.replace("    return deposit(order)\n", HOLD_AFTER_DEPOSIT.lstrip("\n"))
    assert holding != TRANSFER
    program = holding.replace("{deposit}", FIXED)
    platform.deploy(make_project(tmp_path / "v2", "transfer", program, vars={"BANK_URL": bank.url}))
    again = platform.paw_json("session", "restart", failed, "--from-failure")["session_id"]
    wait_for(lambda: bank.count("hold") == 1, 60, 0.05, "the restarted session inside its call")
    worker.kill()
    worker.wait(10)
    bank.gate.set()
    platform.start_worker()
    assert platform.wait_ended(again, timeout=90)["state"] == "completed"
    counts = {op: bank.count(op) for op in ("withdraw", "audit", "deposit")}
    assert counts == {"withdraw": 1, "audit": 1, "deposit": 1}
    assert bank.count("hold") >= 1  # interrupted: at-least-once
    log = platform.log(again)
    reused = [r["seq"] for r in log if r["type"] == "call_end" and r.get("reused_from")]
    assert reused == [1, 2]


WAITER = """
import pawflow


def handler(event):
    approvals = pawflow.subscribe("approve")
    first = pawflow.next_event(approvals, timeout=60)
    {after}
"""

WAITER_MANIFEST = """version: 1
project:
  name: waiter
  triggers:
    - name: run
      webhook: {methods: [POST]}
      call: program.py:handler
    - name: approve
      webhook: {methods: [POST]}
"""


def waiter(root: Path, after: str) -> Path:
    root.mkdir(parents=True)
    (root / "pawflow.yaml").write_text(WAITER_MANIFEST)
    (root / "program.py").write_text(WAITER.replace("{after}", after))
    return root


def test_restart_from_failure_subscribes_again(platform: Platform, tmp_path: Path) -> None:
    """A subscription belongs to the session that made it: the restarted session
    gets its own (and the event the failed one received is reused)."""
    platform.start_worker()
    deployed = platform.deploy(waiter(tmp_path / "v1", 'raise RuntimeError("boom")'))
    failed = platform.session_for(trigger(platform, deployed, {}))["id"]
    wait_for(
        lambda: any(r["type"] == "call_end" for r in platform.log(failed)),
        60,
        0.05,
        "the subscription",
    )
    trigger(platform, {"webhooks": {"run": deployed["webhooks"]["approve"]}}, {"n": 1})
    assert platform.wait_ended(failed, timeout=60)["state"] == "error"

    after = (
        "second = pawflow.next_event(approvals, timeout=60)\n"
        '    return [e.data["body"]["json"]["n"] for e in (first, second)]'
    )
    platform.deploy(waiter(tmp_path / "v2", after))
    again = platform.paw_json("session", "restart", failed, "--from-failure")["session_id"]
    wait_for(
        lambda: any(r["type"] == "call_end" for r in platform.log(again)),
        60,
        0.05,
        "the restarted session's subscription",
    )
    trigger(platform, {"webhooks": {"run": deployed["webhooks"]["approve"]}}, {"n": 2})
    assert platform.wait_ended(again, timeout=60)["state"] == "completed"
    log = platform.log(again)
    assert log[-1]["result"] == [1, 2]
    (subscribed,) = [r for r in log if r["type"] == "call_end"]
    assert "reused_from" not in subscribed and subscribed["attempt"] == 1


PARENT = """
import pawflow


def handler(event):
    child = pawflow.start("program.py:child", data={"x": 21})
    {after}


def child(event):
    print("child runs")
    return event.data["x"] * 2
"""


def test_restart_from_failure_takes_over_the_children(platform: Platform, tmp_path: Path) -> None:
    """A child the failed session started is not started again; the restarted
    session is told of its end and gets its result."""
    platform.start_worker()
    v1 = PARENT.replace("{after}", 'raise RuntimeError("before the result")')
    deployed = platform.deploy(make_project(tmp_path / "v1", "parent", v1))
    failed = platform.session_for(trigger(platform, deployed, {}))["id"]
    assert platform.wait_ended(failed, timeout=60)["state"] == "error"
    v2 = PARENT.replace("{after}", "return pawflow.result(child, timeout=60)")
    platform.deploy(make_project(tmp_path / "v2", "parent", v2))
    again = platform.paw_json("session", "restart", failed, "--from-failure")["session_id"]
    assert platform.wait_ended(again, timeout=60)["state"] == "completed"
    assert platform.log(again)[-1]["result"] == 42
    children = [s for s in platform.sessions() if s["id"] not in (failed, again)]
    assert len(children) == 1  # the child ran once


def test_restart_from_failure_stops_where_new_code_diverges(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    platform.start_worker()
    deployed = platform.deploy(transfer(tmp_path / "v1", BROKEN, bank.url))
    failed = platform.session_for(
        trigger(platform, deployed, {"transaction_id": "t2", "amount": 7})
    )
    assert platform.wait_ended(failed["id"], timeout=60)["state"] == "error"
    # The new code audits before it withdraws: the recorded answers no longer fit.
    swapped = TRANSFER.replace("{deposit}", FIXED).replace(
        'bank("withdraw", order)\n    print', 'bank("audit", order)\n    print'
    )
    platform.deploy(make_project(tmp_path / "v2", "transfer", swapped, vars={"BANK_URL": bank.url}))
    result = platform.paw("session", "restart", failed["id"], "--from-failure")
    assert result.returncode == 0, result.stderr
    again = result.stdout.strip()
    ended = platform.wait_ended(again, timeout=60)
    assert ended["state"] == "error"
    error = platform.log(again)[-1]["error"]
    assert "diverges before the point of failure" in error, error
    assert "with other arguments" in error, error
    assert bank.count("withdraw") == 1  # nothing of the new code's calls ran


ROLLBACK = """
import urllib.request

import pawflow


@pawflow.activity
def hold():
    url = pawflow.vars["BANK_URL"] + "/hold"
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=b"{}", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as reply:
        return reply.status


def handler(event):
    print("running {version}")
    if event.data["body"]["json"].get("hold"):
        hold()
    return "{version}"
"""


def versioned(root: Path, version: str, bank_url: str) -> Path:
    program = ROLLBACK.replace("{version}", version)
    return make_project(root, "app", program, vars={"BANK_URL": bank_url})


def deployments(platform: Platform) -> dict[str, str]:
    return {d["id"]: d["state"] for d in platform.paw_json("deployment", "list")}


def test_rollback_runs_old_code_while_newer_session_finishes(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    platform.start_worker()
    v1 = platform.deploy(versioned(tmp_path / "v1", "v1", bank.url))
    v2 = platform.deploy(versioned(tmp_path / "v2", "v2", bank.url))
    assert v1["webhooks"] == v2["webhooks"]  # URLs survive deploys and rollbacks
    holding = platform.session_for(trigger(platform, v2, {"hold": True}))["id"]
    wait_for(lambda: bank.count("hold") == 1, 60, 0.05, "the v2 session inside its call")

    result = platform.paw("deployment", "activate", v1["deployment_id"])
    assert result.returncode == 0, result.stderr
    assert v1["deployment_id"] in result.stdout
    states = deployments(platform)
    assert states[v1["deployment_id"]] == "active"
    assert states[v2["deployment_id"]] == "draining"

    quick = platform.session_for(trigger(platform, v1, {}))["id"]
    assert platform.wait_ended(quick, timeout=60)["state"] == "completed"
    assert platform.log(quick)[-1]["result"] == "v1"

    bank.gate.set()
    assert platform.wait_ended(holding, timeout=60)["state"] == "completed"
    assert platform.log(holding)[-1]["result"] == "v2"
    wait_for(
        lambda: deployments(platform)[v2["deployment_id"]] == "inactive",
        30,
        0.1,
        "the rolled-back deployment to drain",
    )

    # Activating the active one changes nothing; an unknown id is one line.
    assert platform.paw("deployment", "activate", v1["deployment_id"]).returncode == 0
    missing = platform.paw("deployment", "activate", "dep_00000000000000000000000000")
    assert missing.returncode == 1 and "no deployment" in missing.stderr


def test_deactivate_then_activate_again(platform: Platform, bank: FakeBank, tmp_path: Path) -> None:
    platform.start_worker()
    v1 = platform.deploy(versioned(tmp_path / "v1", "v1", bank.url))
    result = platform.paw("deployment", "deactivate", v1["deployment_id"], "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "inactive"
    status, reply = platform.post(v1["webhooks"]["run"], {})
    assert status == 404, reply
    assert "active deployment" in reply["error"]
    assert platform.paw("deployment", "activate", v1["deployment_id"]).returncode == 0
    session = platform.session_for(trigger(platform, v1, {}))["id"]
    assert platform.wait_ended(session, timeout=60)["state"] == "completed"


BUGGY = """
def handler(event):
    data = event.data.get("body", {}).get("json") or event.data
    return 1 / data["n"]
"""

FIXED_HANDLER = """
def handler(event):
    data = event.data.get("body", {}).get("json") or event.data
    return 1 / (data["n"] or 1)
"""


def api(platform: Platform, path: str) -> Any:
    status, reply = http_json(platform.url + path, token=platform.up.token)
    assert status == 200, reply
    return reply


def test_redispatch_runs_a_failed_event_again_on_fixed_code(
    platform: Platform, tmp_path: Path
) -> None:
    platform.start_worker()
    deployed = platform.deploy(make_project(tmp_path / "v1", "calc", BUGGY))
    event_id = trigger(platform, deployed, {"n": 0})
    first = platform.session_for(event_id)["id"]
    assert platform.wait_ended(first, timeout=60)["state"] == "error"

    platform.deploy(make_project(tmp_path / "v2", "calc", FIXED_HANDLER))
    result = platform.paw("event", "redispatch", event_id, "--json")
    assert result.returncode == 0, result.stderr
    new_event = json.loads(result.stdout)["event_id"]
    assert new_event != event_id
    again = platform.session_for(new_event)["id"]
    assert platform.wait_ended(again, timeout=60)["state"] == "completed"
    assert platform.log(again)[-1]["result"] == 1.0
    assert api(platform, f"/api/v1/events/{new_event}")["replay_of"] == event_id
    assert api(platform, f"/api/v1/events/{event_id}")["replay_of"] is None

    text = platform.paw("event", "redispatch", event_id)
    assert text.returncode == 0 and text.stdout.startswith("evt_"), text.stderr
    unknown = platform.paw("event", "redispatch", "evt_00000000000000000000000000")
    assert unknown.returncode == 1 and "no event" in unknown.stderr


def test_redispatch_of_a_manual_start(platform: Platform, tmp_path: Path) -> None:
    platform.start_worker()
    platform.deploy(make_project(tmp_path / "v1", "calc", BUGGY))
    started = platform.paw(
        "session", "start", "--project", "calc", "--call", "program.py:handler", "--data",
        '{"n": 0}', "--json",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    first = json.loads(started.stdout)
    assert platform.wait_ended(first["session_id"], timeout=60)["state"] == "error"
    platform.deploy(make_project(tmp_path / "v2", "calc", FIXED_HANDLER))
    new_event = platform.paw_json("event", "redispatch", first["event_id"])["event_id"]
    again = platform.session_for(new_event)["id"]
    assert platform.wait_ended(again, timeout=60)["state"] == "completed"


def test_project_delete_refuses_while_sessions_run_unless_forced(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    platform.start_worker()
    deployed = platform.deploy(versioned(tmp_path / "v1", "v1", bank.url))
    platform.session_for(trigger(platform, deployed, {"hold": True}))
    wait_for(lambda: bank.count("hold") == 1, 60, 0.05, "the session inside its call")

    refused = platform.paw("project", "delete", "app")
    assert refused.returncode == 1
    assert "1 sessions that have not ended" in refused.stderr, refused.stderr
    assert [p["name"] for p in platform.paw_json("project", "list")] == ["app"]

    forced = platform.paw("project", "delete", "app", "--force")
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.strip() == "Deleted project app (stopped 1 sessions)."
    assert platform.paw_json("project", "list") == []
    assert platform.sessions() == []
    status, _ = platform.post(deployed["webhooks"]["run"], {})
    assert status == 404
    missing = platform.paw("project", "delete", "app")
    assert missing.returncode == 1 and "no project 'app'" in missing.stderr
    bank.gate.set()
