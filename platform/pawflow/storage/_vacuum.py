"""Giving disk space back to the file system: SQLite's incremental auto-vacuum.

A row SQLite deletes frees its page inside the file, and the file never
shrinks by itself. With ``auto_vacuum = INCREMENTAL`` SQLite keeps what it
needs to move pages, and ``PRAGMA incremental_vacuum(N)`` hands N free pages
back, a short write at a time. The mode must be set before the first table
exists: new stores get it at creation; a store made before it existed is
converted once, by ``VACUUM`` (a copy of the whole file: it takes a while once
for a large store, and needs as much free disk as the file).

In WAL mode the file shrinks when a checkpoint copies the vacuum back into
it, so a reclaim ends with one (``TRUNCATE`` also empties the WAL file).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

__all__ = ["INCREMENTAL", "free_pages", "use_incremental_vacuum"]

log = logging.getLogger(__name__)

INCREMENTAL = 2
"""What ``PRAGMA auto_vacuum`` reads for incremental auto-vacuum."""

# Pages handed back per write (4 MiB of 4 KiB pages): the store's own writes
# wait at most one such step for the write lock.
_PAGES_PER_STEP = 1024


def use_incremental_vacuum(conn: sqlite3.Connection, path: Path) -> None:
    """Make the database of ``conn`` (autocommit, not in WAL mode yet when new)
    use incremental auto-vacuum; converts an existing file once (``VACUUM``)."""
    if _mode(conn) == INCREMENTAL:
        return
    # On a file without tables this takes effect at once (a new store).
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    if _mode(conn) == INCREMENTAL:
        return
    size = path.stat().st_size if path.exists() else 0
    log.warning(
        "converting the store %s (%.0f MB) to incremental auto-vacuum so that deleted "
        "data gives its disk space back; this rewrites the file once and may take a while",
        path,
        size / 1e6,
    )
    try:
        conn.execute("VACUUM")
    except sqlite3.OperationalError as err:
        # A full disk, say: the store works as before, its file just does not
        # shrink. The next start tries again.
        log.warning("the store %s stays as it was (%s): its file will not shrink", path, err)
        return
    log.info("the store %s now gives deleted space back", path)


def _mode(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA auto_vacuum").fetchone()[0])


async def free_pages(path: Path, busy_seconds: float, pages_per_step: int = _PAGES_PER_STEP) -> int:
    """Hand the free pages of the store at ``path`` back to the file system,
    ``pages_per_step`` per short write, on a connection of its own off the
    event loop (the store's thread goes on serving meanwhile); then
    checkpoint, so the file shrinks. Returns how many pages were freed."""
    conn = await asyncio.to_thread(_connect, path, busy_seconds)
    try:
        if await asyncio.to_thread(_mode, conn) != INCREMENTAL:
            return 0
        freed = 0
        while True:
            step = await asyncio.to_thread(_step, conn, pages_per_step)
            freed += step
            if step < pages_per_step:
                break
        if freed:
            await asyncio.to_thread(_checkpoint, conn, path)
        return freed
    finally:
        await asyncio.to_thread(conn.close)


def _connect(path: Path, busy_seconds: float) -> sqlite3.Connection:
    # Used from several threads of the default pool, one at a time.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {round(busy_seconds * 1000)}")
    return conn


def _step(conn: sqlite3.Connection, pages: int) -> int:
    before = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    if before == 0:
        return 0
    # executescript steps the pragma to its end; execute() would free one page.
    conn.executescript(f"PRAGMA incremental_vacuum({int(pages):d})")
    return before - int(conn.execute("PRAGMA freelist_count").fetchone()[0])


def _checkpoint(conn: sqlite3.Connection, path: Path) -> None:
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        # A reader still needs older pages: SQLite's own checkpoints finish the job.
        log.debug("checkpoint of %s after vacuum was not complete", path)
