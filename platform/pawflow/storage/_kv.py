"""The per-project key-value store: values, keys and the atomic operations.

Every read-modify-write runs in one write transaction (``BEGIN IMMEDIATE`` on
SQLite, SERIALIZABLE on PostgreSQL), so concurrent sessions (even in other
server processes) never lose an update.

Atomic operations (``op`` of :meth:`KeyValueQueries.kv_mutate`), each returning
the value stored afterwards:

- ``add``: add the number ``operand`` (default 1) to the number stored; a
  missing key counts as 0.
- ``append``: append ``operand`` to the list stored; a missing key counts as ``[]``.
- ``merge``: shallow-merge the object ``operand`` into the object stored; a
  missing key counts as ``{}``.
- ``set_default``: store ``operand`` only if the key is missing.

``check_and_set`` (:meth:`KeyValueQueries.kv_check_and_set`) replaces the value
only when it equals the expected one (``expected=None``: only when the key is
missing).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..errors import PawflowError
from ._records import KVEntry
from ._sql import Connection, Row

__all__ = [
    "KV_OPS",
    "MAX_KEY_CHARS",
    "MAX_VALUE_BYTES",
    "KVError",
    "KeyValueQueries",
    "check_key",
    "encode_value",
    "same_value",
]

MAX_KEY_CHARS = 256
MAX_VALUE_BYTES = 1 << 20
KV_OPS: tuple[str, ...] = ("add", "append", "merge", "set_default")


class KVError(PawflowError, ValueError):
    """A key-value request that cannot apply: a bad key, an unknown operation,
    a value that is not JSON, or a stored value of the wrong type for the operation."""


def check_key(key: object) -> str:
    """``key`` if it is a valid key: 1 to 256 characters, no control characters."""
    if not isinstance(key, str):
        raise KVError(f"a key must be a string, not {type(key).__name__}")
    if not key:
        raise KVError("a key must not be empty")
    if len(key) > MAX_KEY_CHARS:
        raise KVError(f"key {key[:40]!r}... is longer than {MAX_KEY_CHARS} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise KVError(f"key {key!r} contains a control character")
    return key


def encode_value(key: str, value: Any) -> str:
    """``value`` as compact JSON text; KVError when it is not JSON or too large."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as err:
        raise KVError(f"the value for key {key!r} is not JSON-serialisable: {err}") from None
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise KVError(f"the value for key {key!r} is larger than {MAX_VALUE_BYTES} bytes as JSON")
    return text


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0`` but ``true != 1`` and ``[1] != {"0": 1}``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    return type(a) is type(b) and bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _apply(key: str, op: str, found: bool, current: Any, operand: Any) -> Any:
    """The value ``op`` leaves behind (pure: no database work here)."""
    if op == "add":
        amount = 1 if operand is None else operand
        if not _is_number(amount):
            raise KVError(f"'add' needs a number to add, got {_type_name(amount)}")
        base = current if found else 0
        if not _is_number(base):
            raise KVError(f"'add': key {key!r} holds {_type_name(base)}, not a number")
        total = base + amount
        if isinstance(total, float) and not math.isfinite(total):
            raise KVError(f"'add': the sum for key {key!r} is not a finite number")
        return total
    if op == "append":
        items = current if found else []
        if not isinstance(items, list):
            raise KVError(f"'append': key {key!r} holds {_type_name(items)}, not a list")
        return [*items, operand]
    if op == "merge":
        if not isinstance(operand, dict):
            raise KVError(f"'merge' needs an object to merge, got {_type_name(operand)}")
        base = current if found else {}
        if not isinstance(base, dict):
            raise KVError(f"'merge': key {key!r} holds {_type_name(base)}, not an object")
        return {**base, **operand}
    if op == "set_default":
        return current if found else operand
    raise KVError(f"unknown operation {op!r}; use one of: {', '.join(KV_OPS)}")


class KeyValueQueries:
    """The key-value queries of :class:`~pawflow.storage._db.Database` (a mixin: it
    uses the database's connection, write transactions and project check)."""

    _conn: Connection

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _require_project(self, project: str) -> None: ...

    def _kv_row(self, project: str, key: str) -> Row | None:
        row: Row | None = self._conn.execute(
            "SELECT key, value, updated_at FROM kv_store WHERE project = ? AND key = ?",
            (project, key),
        ).fetchone()
        return row

    def _kv_put(self, project: str, key: str, text: str) -> KVEntry:
        now = time.time()
        self._conn.execute(
            "INSERT INTO kv_store (project, key, value, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (project, key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (project, key, text, now),
        )
        return KVEntry(key=key, value=json.loads(text), updated_at=now)

    def kv_get(self, project: str, key: str) -> KVEntry | None:
        check_key(key)
        self._require_project(project)
        row = self._kv_row(project, key)
        return None if row is None else _entry(row)

    def kv_list(
        self, project: str, prefix: str, limit: int, after: str | None = None
    ) -> list[KVEntry]:
        self._require_project(project)
        # The range condition lets the primary key index find the first match;
        # substr (counting characters, like len) keeps exactly the prefixed keys.
        later, params = ("", ()) if after is None else (" AND key > ?", (after,))
        rows = self._conn.execute(
            "SELECT key, value, updated_at FROM kv_store "
            f"WHERE project = ? AND key >= ? AND substr(key, 1, ?) = ?{later} ORDER BY key LIMIT ?",
            (project, prefix, len(prefix), prefix, *params, max(int(limit), 0)),
        ).fetchall()
        return [_entry(r) for r in rows]

    def kv_set(self, project: str, key: str, value: Any) -> KVEntry:
        text = encode_value(check_key(key), value)
        with self._write():
            self._require_project(project)
            return self._kv_put(project, key, text)

    def kv_delete(self, project: str, key: str) -> bool:
        check_key(key)
        with self._write() as db:
            self._require_project(project)
            cursor = db.execute(
                "DELETE FROM kv_store WHERE project = ? AND key = ?", (project, key)
            )
            return cursor.rowcount == 1

    def kv_mutate(self, project: str, key: str, op: str, operand: Any) -> KVEntry:
        check_key(key)
        if op not in KV_OPS:
            raise KVError(f"unknown operation {op!r}; use one of: {', '.join(KV_OPS)}")
        encode_value(key, operand)  # reject a non-JSON operand before any work
        with self._write():
            self._require_project(project)
            row = self._kv_row(project, key)
            current = None if row is None else json.loads(row["value"])
            new = _apply(key, op, row is not None, current, operand)
            if row is not None and op == "set_default":
                return _entry(row)
            return self._kv_put(project, key, encode_value(key, new))

    def kv_check_and_set(
        self, project: str, key: str, expected: Any, new: Any
    ) -> tuple[bool, KVEntry | None]:
        text = encode_value(check_key(key), new)
        encode_value(key, expected)
        with self._write():
            self._require_project(project)
            row = self._kv_row(project, key)
            if expected is None:
                matches = row is None
            else:
                matches = row is not None and same_value(json.loads(row["value"]), expected)
            if not matches:
                return False, None if row is None else _entry(row)
            return True, self._kv_put(project, key, text)


def _entry(row: Row) -> KVEntry:
    return KVEntry(key=row["key"], value=json.loads(row["value"]), updated_at=row["updated_at"])
