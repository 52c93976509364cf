"""``paw backup FILE``: a consistent online copy of the SQLite store."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import config
from ..errors import ConfigError
from ..storage import DB_FILE, backup_sqlite
from ..up import TEMPORAL_DB_FILE

__all__ = ["add_backup_command", "cmd_backup"]


def add_backup_command(commands: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw backup``."""
    backup = leaf(
        commands,
        "backup",
        cmd_backup,
        "copy the SQLite store of the data dir to FILE, also while the platform runs",
    )
    backup.add_argument("file", metavar="FILE", help="where the copy goes (a new file)")
    backup.add_argument(
        "--temporal-db",
        metavar="TFILE",
        help="also copy paw up's embedded Temporal (temporal.db: running sessions) to TFILE",
    )
    backup.add_argument("--force", action="store_true", help="replace FILE (and TFILE) if there")


def cmd_backup(args: argparse.Namespace) -> int:
    """``paw backup FILE``: the data dir's store, copied consistently to FILE."""
    effective = config.resolve_config(vars(args), "show")
    if effective.database_url is not None:
        raise ConfigError(
            f"the store is PostgreSQL ({effective.setting('database_url').source}): "
            "back it up with pg_dump (see docs/production.md); paw backup copies a SQLite store"
        )
    store = effective.data_dir / DB_FILE
    if not store.is_file():
        raise ConfigError(f"the data dir {effective.data_dir} has no store ({DB_FILE}) to back up")
    copies = [(store, Path(args.file).expanduser())]
    if args.temporal_db is not None:
        temporal = effective.data_dir / TEMPORAL_DB_FILE
        if not temporal.is_file():
            raise ConfigError(
                f"the data dir {effective.data_dir} has no embedded Temporal "
                f"({TEMPORAL_DB_FILE}) to back up"
            )
        copies.append((temporal, Path(args.temporal_db).expanduser()))
        if copies[0][1].absolute() == copies[1][1].absolute():
            raise ConfigError("FILE and --temporal-db TFILE must be two files")
    # Refused before anything is written: no half of a pair.
    for _, destination in copies:
        if destination.exists() and not args.force:
            raise ConfigError(f"{destination} exists; pass --force to replace it")
    # One right after the other: the pair is as close in time as two copies get.
    for source, destination in copies:
        result = backup_sqlite(source, destination, overwrite=args.force)
        print(
            f"wrote {result.path} ({_size(result.size)}), a copy of {source} "
            f"taken in {result.seconds:.1f} s"
        )
    return 0


def _size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    value = size / 1000
    for unit in ("KB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
