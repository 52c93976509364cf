"""Fixtures shared by every test area."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pawflow.up import EmbeddedTemporal, find_temporal_binary
from tests.helpers import run_coroutine


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One embedded Temporal dev server for the whole run: ``"127.0.0.1:<port>"``."""
    directory = tmp_path_factory.mktemp("temporal")
    temporal = EmbeddedTemporal(
        find_temporal_binary(), directory / "temporal.db", directory / "temporal.log"
    )
    address = run_coroutine(temporal.start())
    try:
        yield address
    finally:
        run_coroutine(temporal.stop())
