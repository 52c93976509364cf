"""What differs between the back ends, so that the queries are written once.

The store's queries (``_db.py`` and its mixins) are plain blocking code over a
DB-API connection, written in the SQL both SQLite and PostgreSQL accept: ``?``
placeholders, rows read by column name, ``ON CONFLICT ... DO NOTHING``,
``cursor.rowcount``. A :class:`Dialect` holds the few spellings that cannot be
shared (how a write transaction begins, row locks, expanding a JSON list, the
column types of the schema); ``_postgres.py`` makes a psycopg connection look
like the ``sqlite3`` one the queries were written against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "LOG_CHANNEL",
    "POSTGRESQL",
    "SQLITE",
    "Connection",
    "Cursor",
    "Dialect",
    "Row",
]

LOG_CHANNEL = "pawflow_log"
"""PostgreSQL's NOTIFY channel of appended session logs; the payload is the session id."""


class Row(Protocol):
    """A result row: by column name or position (``sqlite3.Row`` is one)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of ``sqlite3.Connection`` the queries use, in autocommit mode."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """The spellings of one back end."""

    name: str
    # Starts a write transaction. SQLite: take the write lock at once, so a
    # read-then-write is never interleaved with another writer. PostgreSQL:
    # SERIALIZABLE gives the same guarantee (a conflicting transaction fails
    # and is run again, see ``_postgres.py``) without one global lock.
    begin: str
    # Appended to a SELECT that picks rows to claim: other claimers skip
    # them instead of waiting. SQLite's writers are serialised already.
    skip_locked: str
    # A subquery yielding the strings of the JSON list given as its parameter.
    json_values: str
    # Column types as written in the migrations -> this back end's spelling.
    types: tuple[tuple[str, str], ...] = ()
    # Run per session whose log grew, inside the transaction that grew it:
    # tells every server listening on the database (see ``LOG_CHANNEL``).
    notify_log: str = ""

    def ddl(self, script: str) -> str:
        """A migration script in this back end's column types."""
        for portable, own in self.types:
            script = re.sub(rf"\b{portable}\b", own, script)
        return script


SQLITE = Dialect(
    name="sqlite",
    begin="BEGIN IMMEDIATE",
    skip_locked="",
    json_values="SELECT value FROM json_each(?)",
)

POSTGRESQL = Dialect(
    name="postgresql",
    begin="BEGIN ISOLATION LEVEL SERIALIZABLE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    json_values="SELECT jsonb_array_elements_text(CAST(? AS jsonb))",
    notify_log=f"SELECT pg_notify('{LOG_CHANNEL}', ?)",
    types=(
        # SQLite's REAL and INTEGER are 8 bytes; PostgreSQL's are 4 (a float4
        # Unix time is off by minutes).
        ("REAL", "DOUBLE PRECISION"),
        ("INTEGER", "BIGINT"),
        ("BLOB", "BYTEA"),
    ),
)
