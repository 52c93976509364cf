"""Fixtures shared by every test area."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from pawflow.storage import SQLiteStore, open_store
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


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A fresh store in the test's data dir (``tmp_path / "data"``)."""
    s = await open_store(tmp_path / "data" / "pawflow.db")
    try:
        yield s
    finally:
        await s.close()
