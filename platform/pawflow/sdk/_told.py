"""How an SDK call's failure is told: as the call the program made
(``pawflow.store.set('orders') failed: ...``), never as the API request behind it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ServerError
from ._scope import ServerApi

__all__ = ["TellingServer", "shown", "told_as"]


def shown(value: Any) -> str:
    """``repr(value)``, cut to fit in a message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@contextmanager
def told_as(call: str) -> Iterator[None]:
    """Re-raise a server's error as a failure of ``call``, as the user wrote it
    (its status kept, so callers can still tell a 404)."""
    try:
        yield
    except ServerError as err:
        raise ServerError(f"{call} failed: {err}", status=err.status) from None


class TellingServer:
    """The server's API for one SDK call: every error it raises names that call."""

    __slots__ = ("_call", "_server")

    def __init__(self, server: ServerApi, call: str) -> None:
        self._server = server
        self._call = call

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        with told_as(self._call):
            return self._server.request(method, path, body)

    def get_json(self, path: str) -> Any:
        with told_as(self._call):
            return self._server.get_json(path)

    def post_json(self, path: str, payload: Any) -> Any:
        with told_as(self._call):
            return self._server.post_json(path, payload)
