"""Vars set with ``paw var set`` and the webhook slugs of connections.

A mixin of :class:`~pawflow.storage._db.Database`: writes run in its write
transactions. Values are stored as given; sealing secrets is the server's job,
so the store never holds the key.
"""

from __future__ import annotations

import secrets
import string
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from ._records import ConnectionWebhookRecord, VarRecord
from ._sql import Connection

__all__ = ["VarQueries"]

_PROJECT_SCOPE = ""  # the connection column of a project var
_SLUG_LENGTH = 24
_SLUG_ALPHABET = string.ascii_lowercase + string.digits


class VarQueries:
    """The var and connection-webhook queries of the database (a mixin)."""

    _conn: Connection

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _require_project(self, project: str) -> None: ...

    def set_var(
        self, project: str, connection: str | None, name: str, value: str, secret: bool
    ) -> VarRecord:
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO projects (name, created_at) VALUES (?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (project, now),
            )
            db.execute(
                "INSERT INTO vars (project, connection, name, value, secret, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project, connection, name) DO UPDATE "
                "SET value = excluded.value, secret = excluded.secret, "
                "updated_at = excluded.updated_at",
                (project, connection or _PROJECT_SCOPE, name, value, int(secret), now),
            )
        return VarRecord(project, connection or None, name, value, secret, now)

    def delete_var(self, project: str, connection: str | None, name: str) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM vars WHERE project = ? AND connection = ? AND name = ?",
                (project, connection or _PROJECT_SCOPE, name),
            )
        return cursor.rowcount == 1

    def list_vars(self, project: str) -> list[VarRecord]:
        rows = self._conn.execute(
            "SELECT project, connection, name, value, secret, updated_at FROM vars "
            "WHERE project = ? ORDER BY connection, name",
            (project,),
        ).fetchall()
        return [
            VarRecord(
                project=r["project"],
                connection=r["connection"] or None,
                name=r["name"],
                value=r["value"],
                secret=bool(r["secret"]),
                updated_at=r["updated_at"],
            )
            for r in rows
        ]

    def ensure_connection_webhook(self, project: str, connection: str) -> ConnectionWebhookRecord:
        with self._write() as db:
            row = db.execute(
                "SELECT slug FROM connection_webhooks WHERE project = ? AND connection = ?",
                (project, connection),
            ).fetchone()
            if row is not None:
                return ConnectionWebhookRecord(row["slug"], project, connection)
            self._require_project(project)
            while True:
                slug = "".join(secrets.choice(_SLUG_ALPHABET) for _ in range(_SLUG_LENGTH))
                cursor = db.execute(
                    "INSERT INTO connection_webhooks (slug, project, connection) "
                    "VALUES (?, ?, ?) ON CONFLICT (slug) DO NOTHING",
                    (slug, project, connection),
                )
                if cursor.rowcount == 1:
                    return ConnectionWebhookRecord(slug, project, connection)

    def resolve_connection_webhook(self, slug: str) -> ConnectionWebhookRecord | None:
        row = self._conn.execute(
            "SELECT slug, project, connection FROM connection_webhooks WHERE slug = ?", (slug,)
        ).fetchone()
        if row is None:
            return None
        return ConnectionWebhookRecord(row["slug"], row["project"], row["connection"])
