"""Opening the store that the configuration names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError
from ._base import Store
from ._sqlite import open_store

__all__ = ["DB_FILE", "connect_store"]

DB_FILE = "pawflow.db"
"""The SQLite store's file in the data dir."""

_POSTGRES_SCHEMES = ("postgresql", "postgres")


async def connect_store(database_url: str | None, data_dir: Path) -> Store:
    """The store of ``database_url``: None is SQLite in ``data_dir`` (the file
    :data:`DB_FILE`), ``postgresql://...`` a PostgreSQL database.

    Raises :class:`~pawflow.errors.ConfigError` (one line, never quoting the
    URL, which may hold a password) for any other URL or a store that cannot
    be opened.
    """
    if database_url is None:
        return await open_store(data_dir / DB_FILE)
    try:
        scheme = urlsplit(database_url.strip()).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme in _POSTGRES_SCHEMES:
        # Imported here: psycopg costs every process that never uses it ~11 MB.
        from ._postgres import open_postgres_store

        return await open_postgres_store(database_url.strip())
    shown = f"{scheme}://..." if scheme.isalnum() else "this one"
    raise ConfigError(
        f"unsupported database URL ({shown}): use postgresql://user:password@host:port/database, "
        "or leave it unset for SQLite in the data dir"
    )
