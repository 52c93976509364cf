"""Clients for session code: ``pawflow.connection(name)`` for any connection,
and per-integration getters (``pawflow_github.client``).

Both run inline in a session (Pawflow code): on replay they fetch the vars
again, which has no side effects. What the client then does is a third-party
call, which the runtime records."""

from __future__ import annotations

from typing import Any

from ..errors import PawflowError
from ..sdk._connection import connection_info, remember_secrets
from ._model import Integration
from ._registry import load_integration

__all__ = ["ConnectionClient", "connection"]


def connection(name: str) -> Any:
    """The client of connection ``name`` of this session's project.

    Its type depends on the connection's integration: PyGithub's ``Github`` for
    ``github``, ``slack_sdk.WebClient`` for ``slack``, a ``requests.Session``
    for ``http``. Each call made through it is one recorded external call::

        gh = pawflow.connection("gh")
    """
    info = connection_info(name)
    integration = load_integration(info.integration)
    remember_secrets(info, integration.secret_vars)
    return integration.client(info.vars)


class ConnectionClient:
    """``pawflow_github.client("gh")``: the client of a connection that must be of
    one integration. An instance of a Pawflow class, so the runtime runs it
    inline like the rest of the SDK."""

    def __init__(self, integration: Integration) -> None:
        self._integration = integration
        self.__doc__ = (
            f"The {integration.name} client of connection ``name`` of this session's project."
        )

    def __call__(self, name: str) -> Any:
        """The client of connection ``name``."""
        what = f"{self._integration.name}.client"
        info = connection_info(name, what=what)
        if info.integration != self._integration.name:
            raise PawflowError(
                f"{what}({name!r}): connection {name!r} is a {info.integration} connection, "
                f"not {self._integration.name}"
            )
        remember_secrets(info, self._integration.secret_vars)
        return self._integration.client(info.vars)

    def __repr__(self) -> str:
        return f"<{self._integration.name} connection client>"
