"""Which session (if any) the running code belongs to.

User code runs in greenlets; each carries a :class:`Scope` in the attribute
``pawflow_scope``. No process-wide state: two sessions on one thread each see
their own scope because each runs in its own greenlet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import greenlet

from ..errors import PawflowError

__all__ = ["Scope", "ScopedGreenlet", "current_scope", "vars"]


class Scope:
    """What SDK calls need to know about the code that is running.

    ``durable`` is True only in a session's own greenlet, where external calls
    become recorded activities; inside an activity or while a module is loading,
    calls run directly.
    """

    durable = False

    def __init__(self, variables: Mapping[str, str]) -> None:
        self.vars = variables


class ScopedGreenlet(greenlet.greenlet):
    pawflow_scope: Scope

    def __init__(self, run: Any, scope: Scope, parent: Any = None) -> None:
        super().__init__(run, parent)
        self.pawflow_scope = scope


def current_scope() -> Scope | None:
    return getattr(greenlet.getcurrent(), "pawflow_scope", None)


class _SessionVars(Mapping[str, str]):
    """``pawflow.vars``: the variables of the current session's project."""

    def _vars(self) -> Mapping[str, str]:
        scope = current_scope()
        if scope is None:
            raise PawflowError("pawflow.vars is only available inside a Pawflow session")
        return scope.vars

    def __getitem__(self, key: str) -> str:
        try:
            return self._vars()[key]
        except KeyError:
            raise KeyError(f"no var {key!r} in this project's manifest") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._vars())

    def __len__(self) -> int:
        return len(self._vars())

    def __repr__(self) -> str:
        return f"pawflow.vars({sorted(self._vars())})"


vars = _SessionVars()
