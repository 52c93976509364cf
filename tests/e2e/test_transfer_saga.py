"""The transfer sample is all or nothing: a deposit the bank refuses for good
is undone by refunding the withdrawal, and every request carries its call's key."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Platform, copy_project
from tests.fakes.bank import FakeBank


def test_a_refused_deposit_refunds_the_withdrawal(
    platform: Platform, bank: FakeBank, tmp_path: Path
) -> None:
    bank.refuse = {"deposit"}
    project = copy_project("transfer", tmp_path)
    manifest = project / "pawflow.yaml"
    manifest.write_text(manifest.read_text().replace("http://127.0.0.1:8765", bank.url))
    url = platform.deploy(project)["webhooks"]["transfer"]
    platform.start_worker()
    session = platform.session_for(
        platform.post(url, {"from": "alice", "to": "bob", "amount": 5})[1]["event_id"]
    )
    assert platform.wait_ended(session["id"])["state"] == "error"
    # The deposit failed for good (not retried); the withdrawal was refunded once.
    assert [op for op, _ in bank.requests] == ["withdraw", "deposit", "refund"]
    withdraw, _, refund = (payload for _, payload in bank.requests)
    assert refund == withdraw  # the same transaction, account and amount
    keys = [key for _, key in bank.keys]
    assert keys == [f"{session['id']}/{n}" for n in (2, 3, 4)]  # #1 is the uuid

    log = platform.log(session["id"])
    undo = [r for r in log if r["type"] in ("compensate_start", "compensate_end")]
    assert [r["type"] for r in undo] == ["compensate_start", "compensate_end"]
    assert undo[0]["function"] == "program.refund_to_account_route"
    assert "BankRefused: deposit refused" in log[-1]["error"].splitlines()[-1]

    shown = platform.paw("session", "log", session["id"])
    assert shown.returncode == 0, shown.stderr
    assert " undo      #4 program.refund_to_account_route(" in shown.stdout
    assert " undone    #4 " in shown.stdout

    # The record replays as it ran (the undo included), nothing called.
    replayed = platform.paw("session", "replay", session["id"])
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "no divergence" in replayed.stdout, replayed.stdout
    assert " undo      #4 program.refund_to_account_route(" in replayed.stdout
    assert " undone    #4 {" in replayed.stdout  # the bank's recorded answer
    # The withdrawal was undone: a restart from the failure reuses none of its
    # answers (reusing the withdrawal would deposit money it refunded).
    bank.refuse = set()
    restarted = platform.paw("session", "restart", session["id"], "--from-failure", "--json")
    assert restarted.returncode == 0, restarted.stderr
    again = json.loads(restarted.stdout)
    assert again["reused"] == 0
    assert platform.wait_ended(again["session_id"])["state"] == "completed"
    operations = [op for op, _ in bank.requests]
    assert operations == ["withdraw", "deposit", "refund", "withdraw", "deposit"]
