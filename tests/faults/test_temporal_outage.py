"""Temporal down for 10 s while sessions run and webhooks keep arriving."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pawflow.up import EmbeddedTemporal, find_temporal_binary
from tests.faults._load import EffectService, LoadRig, Poster, make_load_project
from tests.faults._verdict import conclude
from tests.helpers import free_port, run_coroutine, wait_for

STEPS = 3
NAP = 0.5
OUTAGE = 10.0


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[EmbeddedTemporal]:
    """A Temporal dev server of this test's own, on a fixed port and db file, so it can be
    stopped and started again on the same data."""
    server = EmbeddedTemporal(
        find_temporal_binary(),
        tmp_path / "temporal" / "temporal.db",
        tmp_path / "temporal" / "temporal.log",
        port=free_port(),
    )
    run_coroutine(server.start())
    try:
        yield server
    finally:
        run_coroutine(server.stop())


def run_outage(
    temporal: EmbeddedTemporal,
    effects: EffectService,
    tmp_path: Path,
    *,
    scenario: str,
    before: int,
    during: int,
    workers: int,
) -> None:
    started = time.monotonic()
    address = temporal.address
    rig = LoadRig(tmp_path / "data", address, f"faults-{uuid.uuid4().hex[:12]}")
    try:
        rig.start_server()
        url = rig.deploy(make_load_project(tmp_path / "project", "outage", effects.url))
        for _ in range(workers):
            rig.start_worker()
        first = Poster(url, range(before), steps=STEPS, nap=NAP).start()
        # The outage starts with sessions mid-way: some calls made, most not.
        wait_for(lambda: effects.reached(before // 2), 120, 0.05, "sessions to get going")
        calls_at_stop = len(effects.receipts())
        run_coroutine(temporal.stop())
        down_at = time.monotonic()

        # Webhooks keep arriving while Temporal is down: each must still be accepted.
        second = Poster(url, range(before, before + during), steps=STEPS, nap=NAP).start()
        late = second.join()
        refused = [o for o in late if not o.accepted]
        assert refused == [], f"refused while Temporal was down: {refused[:5]}"

        # Here the wait is the fault itself, not synchronisation.
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        run_coroutine(temporal.start())
        assert temporal.address == address

        outcomes = first.join() + late
        assert all(o.accepted for o in outcomes), [o for o in outcomes if not o.accepted][:5]
        conclude(
            scenario, rig, effects, project="outage", posted=before + during,
            outcomes=outcomes, steps=STEPS, started=started, outage_seconds=OUTAGE,
            calls_before_outage=calls_at_stop, accepted_during_outage=len(late),
            workers=workers,
        )  # fmt: skip
    finally:
        rig.close()
    assert not rig.leaked(), f"processes left running: {rig.leaked()}"


@pytest.mark.timeout(180)
def test_temporal_outage_under_load(
    temporal: EmbeddedTemporal, effects: EffectService, tmp_path: Path
) -> None:
    run_outage(
        temporal, effects, tmp_path, scenario="temporal_outage", before=200, during=40, workers=1
    )


@pytest.mark.faults_full
@pytest.mark.timeout(400)
def test_temporal_outage_under_heavier_load(
    temporal: EmbeddedTemporal, effects: EffectService, tmp_path: Path
) -> None:
    run_outage(
        temporal, effects, tmp_path,
        scenario="temporal_outage_full", before=400, during=100, workers=2,
    )  # fmt: skip
