"""The embedded Temporal's SQLite file gives space back.

Temporal deletes closed workflows after the namespace's retention, but SQLite
keeps freed pages in the file: measured, a ``temporal.db`` never shrank. With
``auto_vacuum=FULL`` SQLite truncates freed pages at each commit, so the file
follows what Temporal keeps. The pragma only takes effect on a file that has
no tables yet (a new data dir: ``paw up`` passes it to Temporal, which applies
it before creating its schema) or through one ``VACUUM``: a file made before
is converted once, before Temporal starts on it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path

__all__ = ["AUTO_VACUUM_PRAGMA", "give_space_back"]

logger = logging.getLogger(__name__)

AUTO_VACUUM_PRAGMA = "auto_vacuum=full"
"""For ``temporal server start-dev --sqlite-pragma``."""

_FULL = 1  # PRAGMA auto_vacuum's answer for FULL


def give_space_back(db_file: Path, *, busy_seconds: float = 5.0) -> bool:
    """Convert ``db_file`` to ``auto_vacuum=FULL`` (one ``VACUUM``) unless it is
    already; True when it was converted. Call it only while no Temporal runs on
    the file (the data dir's lock says so). A failure (a full disk: VACUUM needs
    room for a copy) is a warning: Temporal runs on the file as it is.
    """
    if not db_file.exists():
        return False  # Temporal creates it with the pragma
    try:
        with contextlib.closing(sqlite3.connect(db_file, timeout=busy_seconds)) as db:
            (mode,) = db.execute("PRAGMA auto_vacuum").fetchone()
            if mode == _FULL:
                return False
            before = db_file.stat().st_size
            logger.info(
                "compacting %s (%.1f MB) once so that it gives space back from now on",
                db_file,
                before / 1e6,
            )
            db.execute("PRAGMA auto_vacuum=FULL")
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        logger.info("compacted %s: %.1f MB", db_file, db_file.stat().st_size / 1e6)
        return True
    except (sqlite3.Error, OSError) as err:
        logger.warning("could not compact %s (%s); it keeps its size", db_file, err)
        return False
