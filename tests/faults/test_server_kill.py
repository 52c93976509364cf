"""SIGKILL of the server in the middle of a burst of webhooks."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.faults._load import EffectService, LoadRig, Poster, make_load_project, post_all
from tests.faults._verdict import conclude
from tests.helpers import run_coroutine, wait_for

STEPS = 3
NAP = 0.5


def run_server_kill(
    rig: LoadRig,
    effects: EffectService,
    tmp_path: Path,
    *,
    scenario: str,
    events: int,
    workers: int,
    kill_after: int,
) -> None:
    started = time.monotonic()
    rig.start_server()
    url = rig.deploy(make_load_project(tmp_path / "project", "ingest", effects.url))
    for _ in range(workers):
        rig.start_worker()
    poster = Poster(url, range(events), steps=STEPS, nap=NAP).start()
    wait_for(lambda: poster.accepted_so_far() >= kill_after, 60, 0.005, "webhooks accepted")
    rig.kill_server()
    first = poster.join()
    failed = [o.index for o in first if not o.accepted]
    # Every request was either answered 202 or failed to connect; no error replies.
    assert all(o.accepted or o.status is None for o in first), [
        o for o in first if o.status not in (None, 202)
    ][:5]
    assert failed, "the kill landed after the last webhook: nothing was interrupted"

    rig.restart_server()
    # What a webhook sender does with a failed delivery: send it again, with the
    # same idempotency key, so one that was committed before the crash is not doubled.
    retried = run_coroutine(post_all(url, failed, steps=STEPS, nap=NAP))
    assert all(o.accepted for o in retried), [o for o in retried if not o.accepted][:5]

    outcomes = [o for o in first if o.accepted] + retried
    assert len({o.index for o in outcomes}) == events
    conclude(
        scenario, rig, effects, project="ingest", posted=events, outcomes=outcomes,
        steps=STEPS, started=started, min_open=min(200, kill_after),
        accepted_before_kill=events - len(failed), failed_at_kill=len(failed),
        committed_but_unanswered=sum(o.duplicate for o in retried), workers=workers,
        errors_at_kill=dict(Counter((o.error or "").split(":")[0] for o in first if o.error)),
    )  # fmt: skip


@pytest.mark.faults_full
@pytest.mark.timeout(300)
def test_server_kill_during_ingest(rig: LoadRig, effects: EffectService, tmp_path: Path) -> None:
    run_server_kill(
        rig, effects, tmp_path,
        scenario="server_kill", events=400, workers=1, kill_after=220,
    )  # fmt: skip
