"""Turning values and exceptions into text for session logs.

Every text rendered here names the project's modules as the user wrote them
(``program.Box``), not by the namespace their deployment is loaded under.
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._code import user_names

__all__ = [
    "TRACEBACK_ATTRIBUTE",
    "call_traceback",
    "clip",
    "error_line",
    "loggable",
    "short_repr",
    "user_traceback",
]

_LIMIT = 2000
TEXT_LIMIT = 64 * 1024  # a print or a traceback in one log record

# The attribute of a recorded exception holding the traceback it had where the
# external call raised it (the program gets a copy rebuilt from the record).
TRACEBACK_ATTRIBUTE = "pawflow_traceback"

# Pawflow's own frames say nothing about the user's code.
_PAWFLOW_FILES = str(Path(__file__).resolve().parents[1]) + "/"


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` cut to about ``limit`` characters in the middle, keeping its start
    and its end (where a traceback names the exception), saying what was left out."""
    text = user_names(text)
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
        value = user_names(value)
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
    text = user_names(text)
    return text if len(text) <= limit else text[:limit] + "…"


def error_line(exc: BaseException) -> str:
    """``Type: message``, how a call's exception shows in its log record."""
    return user_names(f"{type(exc).__name__}: {exc}")


def user_traceback(exc: BaseException, root: Path) -> str:
    """The traceback of ``exc`` showing only frames of the user's project,
    with file names relative to the project root.

    An exception an external call raised comes first with the traceback it had
    there, library frames included: that is where it happened.
    """
    prefix = str(root.resolve()) + "/"
    te = traceback.TracebackException.from_exception(exc)
    _trim(te, lambda name: name.startswith(prefix), prefix)
    text = "".join(te.format()).rstrip("\n")
    original = getattr(exc, TRACEBACK_ATTRIBUTE, None)
    if isinstance(original, str) and original:
        text = (
            original.replace(prefix, "")
            + "\n\nThe external call's exception above was recorded and raised here:\n\n"
            + text
        )
    return clip(text)


def call_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` where an external call raised it: every frame
    but Pawflow's own."""
    te = traceback.TracebackException.from_exception(exc)
    _trim(te, lambda name: not name.startswith(_PAWFLOW_FILES), "")
    return clip("".join(te.format()).rstrip("\n"))


def _trim(te: traceback.TracebackException, keep: Callable[[str], bool], prefix: str) -> None:
    frames = [f for f in te.stack if keep(f.filename)]
    for f in frames:
        _ = f.line  # read the source line while the real path still finds it
        f.filename = f.filename.removeprefix(prefix)
    te.stack = traceback.StackSummary.from_list(frames)
    if te.__cause__ is not None:
        _trim(te.__cause__, keep, prefix)
    if te.__context__ is not None:
        _trim(te.__context__, keep, prefix)
