"""Shared setup for the fault-injection suite: Hypothesis profiles, the ``faults_full``
marker, and the load scenarios' fixtures (``effects``, ``rig``).

``PAWFLOW_FAULTS=all`` selects the heavy run (``make faults``): the "full" Hypothesis profile
and the tests marked ``faults_full``. Without it only the quick subset runs, so ``make test``
stays fast.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.faults._load import EffectService, LoadRig

FULL_RUN = os.environ.get("PAWFLOW_FAULTS") == "all"

settings.register_profile("quick", max_examples=40, deadline=None)
settings.register_profile("full", max_examples=400, deadline=None)
settings.load_profile("full" if FULL_RUN else "quick")


def pytest_configure(config: pytest.Config) -> None:
    # Registered here because the project's pytest config uses --strict-markers.
    config.addinivalue_line(
        "markers", "faults_full: heavy fault scenario, runs only with PAWFLOW_FAULTS=all"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if FULL_RUN:
        return
    skip = pytest.mark.skip(reason="heavy fault scenario: set PAWFLOW_FAULTS=all to run it")
    for item in items:
        if item.get_closest_marker("faults_full") is not None:
            item.add_marker(skip)


@pytest.fixture
def effects() -> Iterator[EffectService]:
    """The side-effect fake the load sessions call."""
    # Answering a little late leaves calls in flight when a process is killed.
    with EffectService(delay=0.2).running() as service:
        yield service


@pytest.fixture
def rig(temporal_address: str, tmp_path: Path) -> Iterator[LoadRig]:
    """A load rig on the run's shared Temporal server, with a task queue of its own."""
    rig = LoadRig(tmp_path / "data", temporal_address, f"faults-{uuid.uuid4().hex[:12]}")
    try:
        yield rig
    finally:
        rig.close()
    assert not rig.leaked(), f"processes left running: {rig.leaked()}"
