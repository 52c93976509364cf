"""CEL filters, with the ``cel-python`` package (module ``celpy``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import PawflowError
from ._budget import Verdict

if TYPE_CHECKING:
    import celpy
    from celpy.celparser import CELParseError

# celpy is imported when a filter is first compiled, not with this module: it
# costs about 18 MB, and workers and their runners import the manifest model
# (which names filters) but never compile one.

__all__ = ["Filter", "FilterError", "compile_filter", "shorten"]

log = logging.getLogger(__name__)

# An expression is text a user typed into a manifest or a subscribe() call;
# bound it so a pathological one cannot make compiling slow.
MAX_EXPRESSION_CHARS = 4096

_SHOWN_CHARS = 60

IS_FALSE = "filter is false"


class FilterError(PawflowError, ValueError):
    """A filter expression that does not compile; the message is one line."""


class Filter:
    """A compiled CEL expression; an event matches when it evaluates to ``true``.

    Variables: ``data`` (the event's data, JSON-like) and ``event_type`` (a string).
    """

    __slots__ = ("_program", "expression")

    def __init__(self, expression: str, program: celpy.Runner) -> None:
        self.expression = expression
        self._program = program

    def matches(self, event_type: str, data: Any) -> bool:
        """Whether the event passes the filter. Anything but the boolean ``true``
        is no match, including an evaluation error (a missing key, a wrong type),
        which is logged at debug level.

        This evaluates in the calling thread, with no time budget: for data the
        caller trusts. The dispatcher evaluates events in a :class:`FilterPool`.
        """
        import celpy

        verdict = self.verdict(
            {"data": celpy.json_to_cel(data), "event_type": celpy.json_to_cel(event_type)}
        )
        if not verdict.matched and verdict.reason != IS_FALSE:
            log.debug("filter %r on a %r event: %s", self.expression, event_type, verdict.reason)
        return verdict.matched

    def verdict(self, activation: dict[str, Any]) -> Verdict:
        """Evaluate on ``activation`` (``data`` and ``event_type`` already CEL values)."""
        from celpy import celtypes

        try:
            result = self._program.evaluate(activation)
        except Exception as err:
            # Events are data from outside: a filter failing on one of them is
            # an ordinary "no", not a fault of the platform.
            return Verdict(False, f"filter fails: {_error_text(err)}")
        # CEL booleans are their own int subclass, not Python's bool.
        if isinstance(result, celtypes.BoolType | bool):
            return Verdict(True) if result else Verdict(False, IS_FALSE)
        return Verdict(False, f"filter returns {type(result).__name__}, not a bool")

    def __repr__(self) -> str:
        return f"Filter({self.expression!r})"


def compile_filter(expression: str) -> Filter:
    """Compile a CEL expression into a :class:`Filter`.

    Raises :class:`FilterError` (one line, naming the position) when it does not parse.
    """
    if not expression.strip():
        raise FilterError("the filter is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise FilterError(f"the filter is longer than {MAX_EXPRESSION_CHARS} characters")
    import celpy
    from celpy.celparser import CELParseError

    env = celpy.Environment()
    try:
        ast = env.compile(expression)
        program = env.program(ast)
    except CELParseError as err:
        raise FilterError(_syntax_message(expression, err)) from None
    except RecursionError:
        raise FilterError("the filter is nested too deeply") from None
    except Exception as err:
        raise FilterError(f"the filter does not compile: {_one_line(str(err))}") from None
    return Filter(expression, program)


def _syntax_message(expression: str, err: CELParseError) -> str:
    line: int | None = getattr(err, "line", None)
    column: int | None = getattr(err, "column", None)
    detail = _problem(err)
    if line is None or column is None:
        return f"syntax error{detail} in {_show(expression)}"
    lines = expression.split("\n")
    where = f"column {column}" if len(lines) == 1 else f"line {line}, column {column}"
    text = lines[line - 1] if 0 < line <= len(lines) else expression
    return f"syntax error at {where}{detail}: {_show(text)}"


def _problem(err: CELParseError) -> str:
    """What the parser tripped on, from the lark error celpy wraps (when it does)."""
    cause = err.__cause__ or err.__context__
    token = getattr(cause, "token", None)
    if token is not None:
        if getattr(token, "type", None) == "$END":
            return " (the expression ends too early)"
        return f" (unexpected {str(token)[:20]!r})"
    char = getattr(cause, "char", None)
    if isinstance(char, str) and char:
        return f" (unexpected character {char!r})"
    return ""


def _show(text: str) -> str:
    text = _one_line(text)
    return repr(text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "...")


def _one_line(text: str) -> str:
    return " ".join(text.split())


_ERROR_CHARS = 200


def _error_text(err: Exception) -> str:
    # celpy's errors carry their message first, then Python's exception class.
    first = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
    return shorten(first or type(err).__name__, _ERROR_CHARS)


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters, with any lone surrogate
    (event data can hold them) replaced so that it can be stored."""
    text = _one_line(text).encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."
