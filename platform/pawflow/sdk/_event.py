"""The event a handler receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._attrdict import AttrDict, wrap

__all__ = ["Event"]


@dataclass(frozen=True)
class Event:
    """What triggered a session.

    ``type`` is the lower-case HTTP method for webhooks; ``data`` holds
    ``method``, ``path``, ``query``, ``headers`` and ``body`` (``text``,
    ``json``, ``form``), readable as keys or attributes.

    ``subscription`` is the id of the subscription an event returned by
    :func:`pawflow.next_event` came through (the one of several it waited on);
    None for the event that started the session.
    """

    id: str
    type: str
    trigger: str
    data: AttrDict
    connection: str | None = None  # the connection an integration event came through
    subscription: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        return cls(
            raw["id"],
            raw["type"],
            raw.get("trigger") or "",
            wrap(raw.get("data") or {}),
            raw.get("connection"),
            raw.get("subscription"),
        )
