"""``pawflow.store``: the project's durable key-value store, shared by its sessions.

Values are JSON data (dicts, lists, strings, numbers, booleans, None). Every
function is a recorded call: it runs once, and a replayed session gets the
recorded answer, so a session sees the same values however often it replays.
The atomic operations run in one transaction on the server: two sessions
adding to one counter at the same time never lose an update.

    import pawflow

    def on_order(event):
        count = pawflow.store.add("orders")          # 1, 2, 3...
        pawflow.store.set(f"order/{count}", event.data)
        if pawflow.store.check_and_set("owner", None, "me"):
            ...                                      # only one session gets here
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from ..errors import PawflowError, ServerError
from ._activity import activity
from ._scope import Scope, ServerApi, require_scope
from ._told import TellingServer, shown

__all__ = ["KeyValueStore", "store"]


def _check_key(what: str, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise PawflowError(f"{what}: the key must be a non-empty string, got {key!r}")
    return key


def _check_json(what: str, key: str, value: Any) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as err:
        raise PawflowError(
            f"{what}: the value for key {key!r} must be JSON-serialisable "
            f"(dict, list, str, int, float, bool, None): {err}"
        ) from None


def _path(scope: Scope, key: str | None = None) -> str:
    project = urllib.parse.quote(scope.project or "", safe="")
    path = f"/api/v1/projects/{project}/store"
    return path if key is None else f"{path}/{urllib.parse.quote(key, safe='')}"


def _scope(what: str, key: str | None = None) -> tuple[Scope, ServerApi]:
    """The session's scope, and the server's API telling its errors as the call
    ``what(key)`` the program made."""
    scope = require_scope(what)
    assert scope.server is not None  # require_scope checked
    return scope, TellingServer(scope.server, f"{what}({'' if key is None else shown(key)})")


class KeyValueStore:
    """The functions of ``pawflow.store`` (one instance, bound to no session: each
    call works on the project of the session that makes it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<pawflow.store: get, set, delete, keys, mutate, check_and_set, add>"

    @activity
    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when there is none."""
        what = "pawflow.store.get"
        _check_key(what, key)
        scope, server = _scope(what, key)
        try:
            entry = server.get_json(_path(scope, key))
        except ServerError as err:
            if err.status == 404:
                return default
            raise
        return entry["value"]

    @activity
    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON data) under ``key``, replacing what was there."""
        what = "pawflow.store.set"
        _check_key(what, key)
        _check_json(what, key, value)
        scope, server = _scope(what, key)
        server.request("PUT", _path(scope, key), json.dumps({"value": value}).encode())

    @activity
    def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether it was there."""
        what = "pawflow.store.delete"
        _check_key(what, key)
        scope, server = _scope(what, key)
        try:
            server.request("DELETE", _path(scope, key))
        except ServerError as err:
            if err.status == 404:
                return False
            raise
        return True

    @activity
    def keys(self, prefix: str = "") -> list[str]:
        """The keys that start with ``prefix`` (all keys by default), sorted; at most
        100 000 of them."""
        scope, server = _scope("pawflow.store.keys")
        query = urllib.parse.urlencode({"prefix": prefix, "limit": 100_000})
        answer = server.get_json(f"{_path(scope)}?{query}")
        return [entry["key"] for entry in answer["entries"]]

    @activity
    def mutate(self, key: str, op: str, operand: Any = None) -> Any:
        """Change the value of ``key`` atomically and return the new value.

        ``op`` is one of: ``"add"`` (add the number ``operand``, default 1; a
        missing key counts as 0), ``"append"`` (append ``operand`` to a list; a
        missing key counts as ``[]``), ``"merge"`` (update an object with the
        object ``operand``; a missing key counts as ``{}``), ``"set_default"``
        (store ``operand`` only when the key is missing).
        """
        what = "pawflow.store.mutate"
        _check_key(what, key)
        _check_json(what, key, operand)
        scope, server = _scope(what, key)
        body: dict[str, Any] = {"op": op}
        if operand is not None or op != "add":
            body["operand"] = operand
        answer = server.post_json(_path(scope, key), body)
        return answer["value"]

    @activity
    def check_and_set(self, key: str, expected: Any, new: Any) -> bool:
        """Store ``new`` only if the value is ``expected`` (``None``: only if the key
        is missing); returns whether it did. Compare-and-swap, e.g. for a lock."""
        what = "pawflow.store.check_and_set"
        _check_key(what, key)
        _check_json(what, key, expected)
        _check_json(what, key, new)
        scope, server = _scope(what, key)
        answer = server.post_json(
            _path(scope, key), {"op": "check_and_set", "expected": expected, "new": new}
        )
        return bool(answer["swapped"])

    @activity
    def add(self, key: str, amount: int | float = 1) -> int | float:
        """Add ``amount`` to the number under ``key`` (missing: 0) and return the sum."""
        what = "pawflow.store.add"
        _check_key(what, key)
        if not isinstance(amount, int | float) or isinstance(amount, bool):
            raise PawflowError(f"{what}: the amount must be a number, got {amount!r}")
        scope, server = _scope(what, key)
        answer = server.post_json(_path(scope, key), {"op": "add", "operand": amount})
        total: int | float = answer["value"]
        return total


# Session logs name the call as user code wrote it: ``store.add('orders')``.
for _name in ("get", "set", "delete", "keys", "mutate", "check_and_set", "add"):
    getattr(KeyValueStore, _name).__qualname__ = f"store.{_name}"
del _name

store = KeyValueStore()
"""``pawflow.store``: the project's key-value store (see :class:`KeyValueStore`)."""
