"""A connection of the session's project, as the server hands it to the session.

What integrations build their clients from (``pawflow.connection`` lives with
them, in ``pawflow.integrations``). Runs inline in a session (it is SDK code):
on replay it fetches the vars again, which has no side effects.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import NotFoundError, ServerError
from ._scope import current_scope, require_scope
from ._told import shown, told_as

__all__ = ["ConnectionInfo", "connection_info", "remember_secrets"]


@dataclass(frozen=True)
class ConnectionInfo:
    """A connection of the session's project with its vars (secrets decrypted)."""

    name: str
    integration: str
    vars: Mapping[str, str]

    def __repr__(self) -> str:
        # Never show values: some are secrets.
        return (
            f"ConnectionInfo(name={self.name!r}, integration={self.integration!r}, "
            f"vars=[{', '.join(sorted(self.vars))}])"
        )


def connection_info(name: str, *, what: str = "pawflow.connection") -> ConnectionInfo:
    """Fetch connection ``name`` of the running session's project from the server;
    ``what`` names the caller in errors."""
    scope = require_scope(what)
    assert scope.server is not None and scope.session_id is not None  # require_scope checked
    path = (
        f"/api/v1/sessions/{urllib.parse.quote(scope.session_id, safe='')}"
        f"/connections/{urllib.parse.quote(name, safe='')}"
    )
    try:
        with told_as(f"{what}({shown(name)})"):
            answer = scope.server.get_json(path)
    except ServerError as err:
        if err.status == 404:
            raise NotFoundError(str(err)) from None
        raise
    if not isinstance(answer, dict) or not isinstance(answer.get("vars"), dict):
        raise ServerError(f"{what}({name!r}): the server's answer has no 'vars'")
    return ConnectionInfo(
        name=name,
        integration=str(answer.get("integration")),
        vars={str(k): str(v) for k, v in answer["vars"].items()},
    )


def remember_secrets(info: ConnectionInfo, names: Iterable[str]) -> None:
    """Note the connection's secret values in the session's scope, so recorded
    results refer to them instead of holding them (see ``sessions/_outcome``)."""
    scope = current_scope()
    if scope is None:
        return
    for var in names:
        value = info.vars.get(var)
        if value:
            scope.secrets[f"connection {info.name}: {var}"] = value
