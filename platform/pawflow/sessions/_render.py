"""Turning values and exceptions into text for session logs."""

from __future__ import annotations

import json
import math
import traceback
from pathlib import Path
from typing import Any

__all__ = ["clip", "loggable", "short_repr", "user_traceback"]

_LIMIT = 2000
TEXT_LIMIT = 64 * 1024  # a print or a traceback in one log record


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` cut to about ``limit`` characters in the middle, keeping its start
    and its end (where a traceback names the exception), saying what was left out."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n… ({len(text) - 2 * half} characters left out) …\n{text[-half:]}"


def loggable(value: Any, limit: int = _LIMIT) -> Any:
    """``value`` itself when it is small JSON data, else a (truncated) repr."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)  # JSON has no NaN/inf
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        pass
    else:
        if len(text) <= limit:
            return value
    return short_repr(value, limit)


def short_repr(value: Any, limit: int = 200) -> str:
    """``repr(value)``, truncated: how call arguments appear in session logs."""
    try:
        text = repr(value)
    except Exception as exc:  # a broken __repr__ must not break the session
        text = f"<{type(value).__qualname__} (repr failed: {exc})>"
    return text if len(text) <= limit else text[:limit] + "…"


def user_traceback(exc: BaseException, root: Path) -> str:
    """The traceback of ``exc`` showing only frames of the user's project,
    with file names relative to the project root."""
    te = traceback.TracebackException.from_exception(exc)
    _trim(te, str(root.resolve()) + "/")
    return clip("".join(te.format()).rstrip("\n"))


def _trim(te: traceback.TracebackException, prefix: str) -> None:
    frames = [f for f in te.stack if f.filename.startswith(prefix)]
    for f in frames:
        _ = f.line  # read the source line while the real path still finds it
        f.filename = f.filename[len(prefix) :]
    te.stack = traceback.StackSummary.from_list(frames)
    if te.__cause__ is not None:
        _trim(te.__cause__, prefix)
    if te.__context__ is not None:
        _trim(te.__context__, prefix)
