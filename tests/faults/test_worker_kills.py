"""SIGKILL of workers while hundreds of sessions run: nothing lost, no completed call repeated."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults._load import EffectService, LoadRig, Poster, make_load_project
from tests.faults._verdict import conclude
from tests.helpers import wait_for

STEPS = 3
NAP = 0.5


def run_worker_kills(
    rig: LoadRig,
    effects: EffectService,
    tmp_path: Path,
    *,
    scenario: str,
    sessions: int,
    workers: int,
    kills: int,
    every: float,
    per_second: float | None = None,
    min_open: int = 200,
) -> None:
    started = time.monotonic()
    rig.start_server()
    url = rig.deploy(make_load_project(tmp_path / "project", "load", effects.url))
    procs = [rig.start_worker() for _ in range(workers)]
    poster = Poster(url, range(sessions), steps=STEPS, nap=NAP, per_second=per_second).start()

    # Kills are paced by time, and each also waits for fresh calls, so every
    # kill lands while sessions are mid-way (killing an idle worker tests nothing).
    progress = 0
    for k in range(kills):
        mark, floor = time.monotonic(), progress + 20
        wait_for(
            lambda: time.monotonic() - mark >= every and effects.reached(floor),  # noqa: B023
            every + 90, 0.05, f"progress before kill {k + 1}",
        )  # fmt: skip
        rig.kill_worker(procs[k % workers])
        procs[k % workers] = rig.start_worker()
        progress = len(effects.receipts())

    outcomes = poster.join()
    assert all(o.accepted for o in outcomes), [o for o in outcomes if not o.accepted][:5]
    conclude(
        scenario, rig, effects, project="load", posted=sessions, outcomes=outcomes,
        steps=STEPS, started=started, workers=workers, kills=kills, min_open=min_open,
    )  # fmt: skip


@pytest.mark.timeout(180)
def test_worker_kills_under_load(rig: LoadRig, effects: EffectService, tmp_path: Path) -> None:
    run_worker_kills(
        rig, effects, tmp_path,
        scenario="worker_kills", sessions=220, workers=1, kills=2, every=3.0,
    )  # fmt: skip


@pytest.mark.faults_full
@pytest.mark.timeout(400)
def test_repeated_worker_kills_with_two_workers(
    rig: LoadRig, effects: EffectService, tmp_path: Path
) -> None:
    run_worker_kills(
        rig, effects, tmp_path,
        # Paced: a worker holds every session at once, so an unpaced load would
        # be over before the last kills (each waits for fresh calls); paced, about
        # a hundred sessions are open at once rather than all of them.
        scenario="worker_kills_full", sessions=500, workers=2, kills=8, every=3.0,
        per_second=10.0, min_open=100,
    )  # fmt: skip
