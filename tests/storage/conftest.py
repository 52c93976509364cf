from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pawflow.storage import DB_FILE, SQLiteStore, open_store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the SQLite store of the test's data dir lives."""
    return tmp_path / "data" / DB_FILE


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[SQLiteStore]:
    """The SQLite store alone, for what only SQLite has (pragmas, group commit)."""
    s = await open_store(db_path)
    try:
        yield s
    finally:
        await s.close()
