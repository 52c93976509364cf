"""Mappings whose keys also read as attributes: ``event.data.body.json.name``."""

from __future__ import annotations

from typing import Any

__all__ = ["AttrDict", "wrap"]


class AttrDict(dict[str, Any]):
    """A plain ``dict`` (JSON-serialisable, picklable) that also allows attribute reads."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"no key {name!r} (keys: {', '.join(map(str, self)) or 'none'})"
            ) from None


def wrap(value: Any) -> Any:
    """Convert nested dicts (also inside lists) into :class:`AttrDict`."""
    if isinstance(value, dict):
        return AttrDict({k: wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value
