"""``paw session replay`` and ``paw deploy --check`` against recorded sessions of
the real platform: nothing reaches the outside world again."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Platform, make_project
from tests.fakes.bank import FakeBank
from tests.helpers import wait_for

PROGRAM = """
import json
import urllib.request

import pawflow


@pawflow.activity
def bank(operation, amount):
    request = urllib.request.Request(
        pawflow.vars["BANK_URL"] + "/" + operation,
        data=json.dumps({"amount": amount}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)["operation"]


def handler(event):
    \"\"\"Moves money.\"\"\"
    amount = event.data["body"]["json"]["amount"]
    print("moving", amount)
    first = bank("withdraw", amount)
    pawflow.sleep(0.01)
    second = bank("deposit", amount)
    if event.data["body"]["json"].get("hold"):
        bank("hold", amount)
    print("moved", first, second)
    return [first, second]
"""


def project(root: Path, bank: FakeBank, program: str = PROGRAM) -> Path:
    return make_project(root, "mover", program, vars={"BANK_URL": bank.url})


def run_session(platform: Platform, deployed: dict[str, object], body: object) -> str:
    webhooks = deployed["webhooks"]
    assert isinstance(webhooks, dict)
    status, reply = platform.post(webhooks["run"], body)
    assert status == 202, reply
    session_id: str = platform.session_for(reply["event_id"])["id"]
    return session_id


def log_lines(platform: Platform, session_id: str) -> list[str]:
    """What ``paw session log`` shows of each record (see :func:`shown`)."""
    result = platform.paw("session", "log", session_id)
    assert result.returncode == 0, result.stderr
    return shown(result.stdout)


def shown(output: str) -> list[str]:
    """The records' lines, without their time and a call's details (its
    duration in the log, where its answer came from in a replay)."""
    return [
        re.sub(r"  \(.*\)$", "", line.split(" ", 1)[1].strip())
        for line in output.splitlines()
        if line[:2].isdigit()
    ]


def test_replay_runs_nothing_and_shows_what_the_log_shows(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    platform.start_worker()
    deployed = platform.deploy(project(tmp_path / "p", bank))
    session_id = run_session(platform, deployed, {"amount": 5})
    assert platform.wait_ended(session_id, timeout=60)["state"] == "completed"
    calls = len(bank.requests)
    assert calls == 2

    result = platform.paw("session", "replay", session_id)
    assert result.returncode == 0, result.stderr
    assert len(bank.requests) == calls  # nothing was executed
    assert result.stdout.splitlines()[-1] == "no divergence (3 recorded answers)"
    # The same prints, calls, results and end as the log, the log's first
    # "running" record aside.
    assert shown(result.stdout) == log_lines(platform, session_id)[1:]


def test_replay_against_edited_code(platform: Platform, bank: FakeBank, tmp_path: Path) -> None:
    platform.start_worker()
    deployed = platform.deploy(project(tmp_path / "p", bank))
    session_id = run_session(platform, deployed, {"amount": 7})
    assert platform.wait_ended(session_id, timeout=60)["state"] == "completed"

    commented = PROGRAM.replace(
        '    print("moving", amount)', '    # say it\n    print("moving", amount)'
    )
    same = project(tmp_path / "comment", bank, commented)
    result = platform.paw("session", "replay", session_id, "--code", str(same))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "no divergence (3 recorded answers)"

    edited = project(
        tmp_path / "edit",
        bank,
        PROGRAM.replace('bank("deposit", amount)', 'bank("deposit", amount + 1)'),
    )
    result = platform.paw("session", "replay", session_id, "--code", str(edited))
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == (
        "diverges at request #3: the record has call #2 program.bank('deposit', 7), "
        "the program now asks for call #2 program.bank('deposit', 8)"
    )
    assert bank.count("deposit") == 1


def test_deploy_check_lists_sessions_that_would_diverge(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    platform.start_worker()
    deployed = platform.deploy(project(tmp_path / "p", bank))
    done = run_session(platform, deployed, {"amount": 1})
    assert platform.wait_ended(done, timeout=60)["state"] == "completed"
    running = run_session(platform, deployed, {"amount": 2, "hold": True})
    wait_for(lambda: bank.count("hold") == 1, 60, 0.05, "the running session inside a call")

    commented = project(
        tmp_path / "comment", bank, PROGRAM.replace("def handler", "# v2\ndef handler")
    )
    result = platform.paw("deploy", str(commented), "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 sessions of deployment" in result.stdout and "none would diverge" in result.stdout
    for session_id in (done, running):
        assert session_id in result.stdout

    edited = project(
        tmp_path / "edit", bank, PROGRAM.replace('bank("withdraw", amount)', 'bank("take", amount)')
    )
    result = platform.paw("deploy", str(edited), "--check")
    assert result.returncode == 1
    assert "2 would diverge" in result.stdout
    # Nothing was deployed either time.
    deployments = platform.paw_json("deployment", "list")
    assert [d["id"] for d in deployments] == [deployed["deployment_id"]]
    bank.gate.set()
    assert platform.wait_ended(running, timeout=60)["state"] == "completed"


def test_replay_stops_in_the_debugger_at_the_handler(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    platform.start_worker()
    deployed = platform.deploy(project(tmp_path / "p", bank))
    session_id = run_session(platform, deployed, {"amount": 3})
    assert platform.wait_ended(session_id, timeout=60)["state"] == "completed"
    script = 'p event.data["body"]["json"]\nnext\np amount * 100\ncontinue\n'
    result = subprocess.run(
        [sys.executable, "-m", "pawflow.cli", "session", "replay", session_id, "--pdb"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=platform.env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Stopped first at the handler's first statement, in the user's own file.
    first_stop = next(i for i, line in enumerate(lines) if line.startswith("> "))
    line = PROGRAM.splitlines().index('    amount = event.data["body"]["json"]["amount"]') + 1
    assert lines[first_stop].endswith(f"program.py({line})handler()"), lines[first_stop]
    assert lines[first_stop + 1] == '-> amount = event.data["body"]["json"]["amount"]'
    assert "(Pdb) {'amount': 3}" in lines
    assert "(Pdb) 300" in lines
    assert lines[-1] == "no divergence (3 recorded answers)"
    assert len(bank.requests) == 2


def test_replay_of_a_failed_and_of_an_unknown_session(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    platform.start_worker()
    broken = PROGRAM.replace('    print("moved", first, second)', '    raise ValueError("no")')
    deployed = platform.deploy(project(tmp_path / "p", bank, broken))
    session_id = run_session(platform, deployed, {"amount": 4})
    assert platform.wait_ended(session_id, timeout=60)["state"] == "error"
    result = platform.paw("session", "replay", session_id)
    assert result.returncode == 0, result.stderr
    assert "ValueError: no" in result.stdout
    assert result.stdout.splitlines()[-1] == "no divergence (3 recorded answers)"
    assert len(bank.requests) == 2

    unknown = platform.paw("session", "replay", "ses_00000000000000000000000000")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "error: no session 'ses_00000000000000000000000000'"
