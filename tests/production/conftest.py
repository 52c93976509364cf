"""Fixtures of the production-topology tests: the cluster rig and the side-effect fake."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults._load import EffectService
from tests.production._cluster import Cluster


@pytest.fixture
def effects() -> Iterator[EffectService]:
    """The counting fake the sessions call once each."""
    # Answering a little late leaves calls in flight when a worker is killed.
    with EffectService(delay=0.2).running() as service:
        yield service


@pytest.fixture
def cluster(temporal_address: str, postgres_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """Servers and workers on a fresh PostgreSQL database and a task queue of their own
    on the run's shared Temporal server (started by the test)."""
    rig = Cluster(
        tmp_path / "cluster", postgres_url, temporal_address, f"prod-{uuid.uuid4().hex[:12]}"
    )
    rig.root.mkdir(parents=True)
    try:
        yield rig
    finally:
        rig.close()
    assert not rig.leaked(), f"processes left running: {rig.leaked()}"
