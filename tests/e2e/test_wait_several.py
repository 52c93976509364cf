"""``pawflow.next_event`` on several subscriptions through continue-as-new:
what one wait does not ask for stays queued, in arrival order, into the
session's next runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.conftest import Platform
from tests.e2e.test_continue_as_new import _runs
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(240)

EVENTS = 30

MANIFEST = """\
version: 1
project:
  name: several
  triggers:
    - name: run
      webhook: {}
      call: program.py:handler
    - name: approve
      webhook: {}
    - name: cancel
      webhook: {}
"""

PROGRAM = f"""\
import pawflow


def handler(event):
    approve = pawflow.subscribe("approve")
    cancel = pawflow.subscribe("cancel")
    print("subscribed")
    approvals = []
    while len(approvals) < {EVENTS}:
        approvals.append(pawflow.next_event(approve, timeout=120).data.body.json["n"])
    rest = []
    while (got := pawflow.next_event([approve, cancel], timeout=0.5)) is not None:
        rest.append([got.trigger, got.data.body.json["n"], got.subscription == cancel])
    return [approvals, rest]
"""


def test_events_of_the_other_subscription_stay_queued_across_continue_as_new(
    platform: Platform, tmp_path: Path
) -> None:
    root = tmp_path / "several"
    root.mkdir()
    (root / "pawflow.yaml").write_text(MANIFEST)
    (root / "program.py").write_text(PROGRAM)
    hooks = platform.deploy(root)["webhooks"]
    # A small history allowance and no cache: the session continues as new
    # while cancel events wait in it, and each run replays from its transcript.
    platform.start_worker("--max-history-events", "100", "--max-cached-sessions", "0")
    session = platform.session_for(platform.post(hooks["run"], {})[1]["event_id"])
    wait_for(
        lambda: any(r.get("text") == "subscribed" for r in platform.log(session["id"])),
        60,
        0.1,
        "the session to subscribe",
    )
    for n in range(EVENTS):
        assert platform.post(hooks["cancel"], {"n": n})[0] == 202
        assert platform.post(hooks["approve"], {"n": n})[0] == 202
    ended = platform.wait_ended(session["id"], timeout=180)
    assert ended["state"] == "completed", ended
    (end,) = [r for r in platform.log(session["id"]) if r.get("state") == "completed"]
    assert end["result"] == [list(range(EVENTS)), [["cancel", n, True] for n in range(EVENTS)]]
    assert asyncio.run(_runs(platform.temporal_address, session["id"])) >= 2
