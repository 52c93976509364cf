"""Per-integration client getters for session code (``pawflow_github.client``)."""

from __future__ import annotations

from typing import Any

from ..errors import PawflowError
from ..sdk._connection import connection_info, remember_secrets
from ._model import Integration

__all__ = ["ConnectionClient"]


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
