from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pawflow.storage import SQLiteStore, open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = await open_store(tmp_path / "pawflow.db")
    try:
        yield s
    finally:
        await s.close()
