"""JSON request bodies of the management API."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ._http import ApiError, read_body

__all__ = ["read_json", "read_json_object"]

_REQUIRED: Any = object()


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: stored, they would break other JSON readers.
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: web.Request, limit: int, *, empty: Any = _REQUIRED) -> Any:
    """The body as JSON (at most ``limit`` bytes); ``empty`` is returned for an empty
    body when given, else an empty body is a 400 like any invalid JSON."""
    body = await read_body(request, limit)
    if not body.strip() and empty is not _REQUIRED:
        return empty
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "request body is not valid JSON: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ApiError(400, f"request body is not valid JSON: {first}") from None


async def read_json_object(
    request: web.Request, limit: int, *, allowed: frozenset[str], empty_ok: bool = False
) -> dict[str, Any]:
    """The body as a JSON object whose keys are all in ``allowed`` (a typo in a
    field name is a 400, not silently ignored)."""
    payload = await read_json(request, limit, empty={} if empty_ok else _REQUIRED)
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise ApiError(
            400,
            f"unknown field {unknown[0]!r} in the request body; "
            f"expected: {', '.join(sorted(allowed))}",
        )
    return payload
