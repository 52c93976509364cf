"""Named settings every server of the database agrees on.

A mixin of :class:`~pawflow.storage._db.Database`. A setting is written by the
first server that needs it and read by the others, so that servers started with
different configuration notice it (the fingerprint of the secret key is the one
in use). Whether any secret var is stored lives here too: it is what decides
whether such a setting may still change.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ._sql import Connection

__all__ = ["SettingQueries"]


class SettingQueries:
    """The setting queries of the database (a mixin)."""

    _conn: Connection

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

    def get_setting(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row["value"])

    def put_setting_if_absent(self, name: str, value: str) -> str:
        with self._write() as db:
            db.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, value),
            )
            row = db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return str(row["value"])

    def replace_setting(self, name: str, expected: str, value: str) -> bool:
        with self._write() as db:
            # Compare and set: of two servers replacing the same value, one wins.
            cursor = db.execute(
                "UPDATE settings SET value = ? WHERE name = ? AND value = ?",
                (value, name, expected),
            )
        return cursor.rowcount == 1

    def count_secret_vars(self) -> int:
        row = self._conn.execute("SELECT COUNT(*) AS n FROM vars WHERE secret = 1").fetchone()
        return int(row["n"])
