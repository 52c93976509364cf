"""What an integration declares, and the values its webhook handling trades in."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import PawflowError

__all__ = [
    "ClientFactory",
    "ConnectionTestFailed",
    "CredentialTest",
    "IncomingEvent",
    "Integration",
    "InvalidVars",
    "WebhookHandler",
    "WebhookRejected",
    "WebhookReply",
    "WebhookRequest",
    "WebhookResult",
]

SECRET_MARK = "x-secret"


class WebhookRejected(PawflowError):
    """An incoming webhook is refused: nothing is stored and the sender gets
    ``status`` (401 for a bad or missing signature, 400 for a malformed body)."""

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class ConnectionTestFailed(PawflowError):
    """A connection's credentials were refused by its service, or it is unreachable."""


class InvalidVars(PawflowError, ValueError):
    """Connection vars do not fit the integration's schema; ``var`` names the
    offending var when there is one."""

    def __init__(self, message: str, *, var: str | None = None) -> None:
        super().__init__(message)
        self.var = var


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """An incoming HTTP request as an integration sees it."""

    method: str
    path: str
    headers: Mapping[str, str]  # names lower-case; repeated headers comma-joined
    body: bytes
    received_at: float  # Unix seconds, for replay windows
    query: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """The header ``name`` (any case), or None."""
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case (``application/json``)."""
        raw = self.header("content-type") or ""
        return raw.split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """An event an integration found in a webhook. ``idempotency_key`` is the
    provider's delivery id: a redelivery with the same key is stored once."""

    type: str
    data: dict[str, Any]
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """An HTTP reply the provider expects (e.g. Slack's URL-verification challenge)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> WebhookReply:
        """A JSON reply."""
        return cls(status, json.dumps(value).encode(), "application/json")


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What a webhook yields: events to commit, and the reply to send once they
    are committed (None: the server's default ``202 {"event_ids": [...]}``)."""

    events: tuple[IncomingEvent, ...] = ()
    reply: WebhookReply | None = None


WebhookHandler = Callable[[WebhookRequest, Mapping[str, str]], WebhookResult]
"""Verifies and parses a webhook given the connection's vars (secrets decrypted);
raises :class:`WebhookRejected` to refuse it."""

ClientFactory = Callable[[Mapping[str, str]], Any]
"""Builds the client user code gets from the connection's vars."""

CredentialTest = Callable[[Mapping[str, str]], str]
"""Checks the credentials against the service; returns a one-line description
(``authenticated as octocat``) or raises :class:`ConnectionTestFailed`."""


@dataclass(frozen=True)
class Integration:
    """A kind of connection: GitHub, Slack, plain HTTP...

    ``vars_schema`` is a JSON Schema of an object whose properties are the
    connection's vars, all strings; a property with ``"x-secret": true`` is a
    secret, which is stored encrypted and can only be set with ``paw var set``.
    ``default`` values in the schema fill in vars that are not set.
    """

    name: str
    description: str
    vars_schema: Mapping[str, Any]
    client: ClientFactory
    test: CredentialTest | None = None
    webhook: WebhookHandler | None = None

    @property
    def secret_vars(self) -> frozenset[str]:
        """Names of the vars marked secret."""
        return frozenset(
            name
            for name, spec in self._properties().items()
            if isinstance(spec, Mapping) and spec.get(SECRET_MARK) is True
        )

    def defaults(self) -> dict[str, str]:
        """Default values of the vars that have one."""
        return {
            name: str(spec["default"])
            for name, spec in self._properties().items()
            if isinstance(spec, Mapping) and "default" in spec
        }

    def check_vars(self, values: Mapping[str, str], *, complete: bool = True) -> None:
        """Raise :class:`InvalidVars` unless ``values`` fit the schema.

        With ``complete=False`` missing required vars are allowed (a manifest
        may leave secrets to ``paw var set``).
        """
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import best_match

        schema = dict(self.vars_schema)
        if not complete:
            schema.pop("required", None)
        error = best_match(Draft202012Validator(schema).iter_errors(dict(values)))
        if error is None:
            return
        if error.validator == "required":
            missing = [n for n in schema.get("required", ()) if n not in values]
            name = missing[0] if missing else None
            raise InvalidVars(f"{self.name} connection needs the var {name!r}", var=name)
        if error.validator == "additionalProperties":
            known = ", ".join(sorted(self._properties())) or "none"
            unknown = sorted(set(values) - set(self._properties()))
            name = unknown[0] if unknown else None
            raise InvalidVars(
                f"{self.name} connections have no var {name!r} (known: {known})", var=name
            )
        path = list(error.absolute_path)
        name = str(path[0]) if path else None
        where = f"var {name!r}: " if name else ""
        # jsonschema's message quotes the value, which must not leak for a secret.
        problem = (
            f"the value fails the {error.validator!r} check"
            if name in self.secret_vars
            else _short(error.message)
        )
        raise InvalidVars(f"{self.name} connection {where}{problem}", var=name)

    def resolve(self, values: Mapping[str, str]) -> dict[str, str]:
        """Defaults overlaid with ``values``, checked complete."""
        merged = {**self.defaults(), **values}
        self.check_vars(merged, complete=True)
        return merged

    def _properties(self) -> Mapping[str, Any]:
        props = self.vars_schema.get("properties", {})
        return props if isinstance(props, Mapping) else {}


def _short(message: str) -> str:
    # jsonschema quotes whole values; a long one (a pasted certificate) would
    # swamp the one-line message.
    return message if len(message) <= 200 else message[:199] + "…"
