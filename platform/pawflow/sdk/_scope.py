"""Which session (if any) the running code belongs to.

User code runs in greenlets; each carries a :class:`Scope` in the attribute
``pawflow_scope``. No process-wide state: two sessions on one thread each see
their own scope because each runs in its own greenlet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import greenlet

from ..errors import PawflowError
from ._noactivity import NoActivity

__all__ = ["Scope", "ScopedGreenlet", "ServerApi", "current_scope", "require_scope", "vars"]


class ServerApi(Protocol):
    """The Pawflow server's HTTP API as SDK functions reach it (authenticated)."""

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes: ...

    def get_json(self, path: str) -> Any: ...

    def post_json(self, path: str, payload: Any) -> Any: ...


class Scope:
    """What SDK calls need to know about the code that is running.

    ``durable`` is True only in a session's own greenlet, where external calls
    become recorded activities; inside an activity or while a module is loading,
    calls run directly. ``session_id``, ``project`` and ``server`` are None
    when the code does not run for a session (module-level code).
    """

    durable = False

    def __init__(
        self,
        variables: Mapping[str, str],
        *,
        session_id: str | None = None,
        project: str | None = None,
        server: ServerApi | None = None,
    ) -> None:
        self.vars = variables
        self.session_id = session_id
        self.project = project
        self.server = server
        self.inhibited = 0  # > 0 inside pawflow.inhibit_activities
        self.no_activity = NoActivity()  # pawflow.register_no_activity
        # Secret values the code has loaded (label → value): recorded results
        # hold a reference in their place, never the value itself.
        self.secrets: dict[str, str] = {}
        # While an external call runs: a key unique to that call in its session,
        # for SDK calls that must not act twice (e.g. starting a child session).
        self.call_key: str | None = None
        # The first undo of a saga that failed for good (a CompensationFailed):
        # the session ends in error even if the program catches it.
        self.failed_compensation: BaseException | None = None

    def wait(self, kind: str, key: Any, timeout: float | None) -> Any:
        """Wait durably for ``kind`` (``sleep``, ``next_event``...): sessions only."""
        raise PawflowError(f"pawflow.{kind} is only available inside a durable Pawflow session")

    def compensation(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run an undo of a failed saga (see ``_saga``): in a session, as a
        durable external call; elsewhere (module-level code) directly."""
        return fn(*args, **kwargs)

    def compensation_failed(self, failure: BaseException) -> None:
        """An undo failed for good: the first one decides how the session ends."""
        if self.failed_compensation is None:
            self.failed_compensation = failure


class ScopedGreenlet(greenlet.greenlet):
    pawflow_scope: Scope

    def __init__(self, run: Any, scope: Scope, parent: Any = None) -> None:
        super().__init__(run, parent)
        self.pawflow_scope = scope


def current_scope() -> Scope | None:
    return getattr(greenlet.getcurrent(), "pawflow_scope", None)


def require_scope(what: str) -> Scope:
    """The current session's scope; ``what`` names the SDK call for the error."""
    scope = current_scope()
    if scope is None or scope.session_id is None or scope.server is None:
        raise PawflowError(f"{what} is only available inside a Pawflow session")
    return scope


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
