"""JSON request bodies: the strict parser every route shares, and the management API's
readers on top of it."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from aiohttp import web

from ._http import ApiError, read_body

__all__ = ["lone_surrogate", "parse_json", "parse_json_loosely", "read_json", "read_json_object"]

_REQUIRED: Any = object()

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def parse_json(text: str | bytes) -> Any:
    """``text`` parsed as JSON that any other JSON reader (and the store) accepts.

    Raises ValueError (UnicodeDecodeError included) for invalid JSON, NaN and
    Infinity, numbers that overflow to infinity (``1e999``) and strings holding a
    lone surrogate (``"\\ud800"``), each with a one-line message; RecursionError
    when nested too deeply.
    """
    value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    lone = lone_surrogate(value)
    if lone is not None:
        # json.loads joins escaped surrogate pairs; one left alone is no character,
        # and text holding it cannot be encoded, so not stored either.
        raise ValueError(f"lone surrogate \\u{ord(lone):04x} in a string is not a character")
    return value


def parse_json_loosely(body: bytes) -> Any:
    """``body`` parsed as JSON, keeping what :func:`parse_json` refuses for the
    caller to judge item by item, so one bad item does not cost its neighbours.

    Lone surrogates stay in strings (clean them before storing); NaN, Infinity,
    numbers that overflow and integers too long to convert become non-finite
    floats (``json.dumps(..., allow_nan=False)`` refuses them); bytes that are
    not UTF-8 become U+FFFD. Raises ValueError for text that is not JSON at all,
    RecursionError when nested too deeply.
    """
    return json.loads(body.decode("utf-8", "replace"), parse_int=_int_or_infinite)


def _int_or_infinite(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:  # more digits than int() converts
        return math.inf


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: stored, they would break other JSON readers.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else f"{text[:20]}..."
        raise ValueError(f"number {shown} is out of range")
    return value


def lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in a string anywhere in ``value`` (JSON-like data),
    or None: text holding one cannot be encoded, so not stored."""
    # A loop, not recursion: json.loads accepts nesting deeper than the
    # recursion limit leaves room for here.
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found is not None:
                return found.group()
        elif isinstance(item, dict):
            todo.extend(item)
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return None


async def read_json(request: web.Request, limit: int, *, empty: Any = _REQUIRED) -> Any:
    """The body as JSON (at most ``limit`` bytes); ``empty`` is returned for an empty
    body when given, else an empty body is a 400 like any invalid JSON."""
    body = await read_body(request, limit)
    if not body.strip() and empty is not _REQUIRED:
        return empty
    try:
        return parse_json(body)
    except RecursionError:
        raise ApiError(400, "request body is not valid JSON: nested too deeply") from None
    except ValueError as err:
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
