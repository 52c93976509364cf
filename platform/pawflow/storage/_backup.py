"""A consistent copy of a SQLite database that a running server keeps writing.

SQLite's online backup API copies the database page by page; between steps
the source is unlocked, so the server's commits go on. A commit made by another
process between two steps makes SQLite start the copy over, so a busy store
could keep a paged copy from ever finishing: after a few restarts the rest is
copied in one step, which in WAL mode (the store's) still blocks no writer.
The copy is written beside its destination and renamed into place, so a
destination file is always whole.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["BackupResult", "backup_sqlite"]

_PAGES_PER_STEP = 1024  # 4 MiB with SQLite's default page size
_PAUSE_SECONDS = 0.005  # between steps: the server's writes get their turn
_MAX_RESTARTS = 3
_BUSY_SECONDS = 10.0


@dataclass(frozen=True)
class BackupResult:
    """What :func:`backup_sqlite` wrote."""

    path: Path
    size: int  # bytes
    seconds: float
    restarts: int  # times a concurrent write made the paged copy start over


class _TooBusy(Exception):
    pass


def backup_sqlite(source: Path, destination: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the SQLite database ``source`` to ``destination`` while others may
    write it. Raises :class:`~pawflow.errors.ConfigError` (one line) when the
    source is missing or unreadable, the destination exists (unless
    ``overwrite``) or cannot be written."""
    if not source.is_file():
        raise ConfigError(f"there is no database at {source}")
    if destination.exists() and destination.resolve() == source.resolve():
        raise ConfigError(f"{destination} is the database itself; choose another file")
    if destination.exists() and not overwrite:
        raise ConfigError(f"{destination} exists; pass --force to replace it")
    if destination.is_dir():
        raise ConfigError(f"{destination} is a directory; name a file")
    started = time.monotonic()
    try:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
        )
    except OSError as err:
        raise ConfigError(f"cannot write in {destination.parent}: {err.strerror or err}") from None
    os.close(fd)
    try:
        restarts = _copy(source, Path(temporary))
        with open(temporary, "rb+") as f:
            os.fsync(f.fileno())  # whole on disk before it takes the name
        os.replace(temporary, destination)
    except sqlite3.Error as err:
        raise ConfigError(f"cannot copy {source}: {err}") from None
    except OSError as err:
        raise ConfigError(f"cannot write {destination}: {err.strerror or err}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return BackupResult(
        destination, destination.stat().st_size, time.monotonic() - started, restarts
    )


def _copy(source: Path, target: Path) -> int:
    """Copy ``source`` into the (empty) file ``target``; returns the restarts."""
    restarts = 0
    remaining = -1

    def progress(status: int, left: int, total: int) -> None:
        nonlocal restarts, remaining
        if left > remaining >= 0:
            restarts += 1  # another process wrote: the copy started over
            if restarts > _MAX_RESTARTS:
                raise _TooBusy
        remaining = left

    # The source is opened read-write but never written: read-only could not join its WAL.
    with (
        contextlib.closing(sqlite3.connect(source, timeout=_BUSY_SECONDS)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        try:
            src.backup(dst, pages=_PAGES_PER_STEP, progress=progress, sleep=_PAUSE_SECONDS)
        except _TooBusy:
            src.backup(dst, pages=-1)
        (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"the copy fails its check: {verdict}")
        # A copy that stands alone: no -wal file beside it to lose.
        dst.execute("PRAGMA journal_mode=DELETE")
    return restarts
