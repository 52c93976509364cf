from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pawflow.storage import SQLiteStore, open_store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "pawflow.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    s = await open_store(db_path)
    try:
        yield s
    finally:
        await s.close()
