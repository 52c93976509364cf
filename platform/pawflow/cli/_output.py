"""How the CLI shows things: tables, short local times, session log lines."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..textsafe import clean_text, terminal_safe

__all__ = [
    "format_record",
    "format_table",
    "local_clock",
    "parse_time",
    "short_time",
]

_LABEL_WIDTH = 9
_MAX_VALUE = 300


def parse_time(value: object) -> datetime | None:
    """An API time (ISO 8601 UTC string, or Unix seconds) as an aware datetime."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value).astimezone()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone()
        except ValueError:
            return None
    return None


def short_time(value: object, *, now: datetime | None = None) -> str:
    """Local time for tables: ``09:30:01`` today, ``2026-11-24 09:30`` on other days."""
    moment = parse_time(value)
    if moment is None:
        return "-" if value is None else str(value)
    today = (now or datetime.now().astimezone()).date()
    if moment.date() == today:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def local_clock(value: object) -> str:
    """Local wall-clock time with milliseconds, as in ``09:30:01.123``."""
    moment = parse_time(value)
    if moment is None:
        return "--:--:--.---"
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An aligned text table with a header row (no trailing spaces); control
    characters in cells (stored data: keys, values) are shown escaped."""
    cells = [[str(h) for h in headers]] + [
        ["-" if c is None else terminal_safe(str(c)) for c in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def format_record(record: Mapping[str, Any]) -> list[str]:
    """One session log record as display lines: the first is ``TIME LABEL TEXT``;
    a traceback of a failed session follows, indented.

    A session's program prints what it likes: terminal control characters are
    shown escaped (``\\x1b``), so a record cannot clear the screen, move the
    cursor, recolour or retitle the terminal of whoever reads the log.
    """
    return [terminal_safe(clean_text(line)) for line in _record_lines(record)]


def _record_lines(record: Mapping[str, Any]) -> list[str]:
    kind = record.get("type")
    extra: list[str] = []
    if kind == "state":
        label, text = "state", str(record.get("state", "?"))
        error = record.get("error")
        if error:
            extra = _indent(str(error))
    elif kind == "print":
        label, text = "print", str(record.get("text", "")).rstrip("\n")
        lines = text.split("\n")
        text, extra = lines[0], [" " * (_LABEL_WIDTH + 14) + line for line in lines[1:]]
    elif kind in ("call_start", "compensate_start"):
        # An undo of a failed saga shows as a call does, labelled as an undo.
        label = "call" if kind == "call_start" else "undo"
        args = _args(record.get("args"), record.get("kwargs"))
        text = f"{_call_number(record)} {record.get('function', '?')}({args})"
    elif kind in ("call_end", "compensate_end"):
        number = _call_number(record)
        if record.get("error") is not None:
            label, text = "error", f"{number} {_error(record['error'])}"
        else:
            label = "return" if kind == "call_end" else "undone"
            text = f"{number} {_value(record.get('result'))}"
        text += _call_details(record)
    elif kind == "compensation_failed":
        label, text = "undo", f"failed: {record.get('failed', '?')}: {record.get('error', '')}"
        extra = _indent(_undo_lists(record))
    elif kind == "stop_request":
        reason = record.get("reason")
        label, text = "stop", f"requested{': ' + str(reason) if reason else ''}"
    else:
        rest = {k: v for k, v in record.items() if k not in ("session_id", "n", "time", "type")}
        label, text = str(kind), json.dumps(rest, default=str)
    first = f"{local_clock(record.get('time'))} {label.ljust(_LABEL_WIDTH)} {text}".rstrip()
    return [first, *extra]


def _undo_lists(record: Mapping[str, Any]) -> str:
    """What a failed saga undid and left as it was, one line each."""

    def listed(name: str) -> str:
        items = record.get(name)
        shown = [str(i) for i in items] if isinstance(items, list) else []
        return ", ".join(shown) or "nothing"

    return f"undone: {listed('undone')}\nnot undone: {listed('not_undone')}"


def _call_details(record: Mapping[str, Any]) -> str:
    """`` (attempt 3, 12 ms)``: what else is worth knowing about a finished call."""
    details = []
    attempt = record.get("attempt")
    if isinstance(attempt, int) and attempt > 1:
        details.append(f"attempt {attempt}")
    if record.get("note"):
        details.append(str(record["note"]))
    duration = record.get("duration_ms")
    if isinstance(duration, int | float) and duration >= 1:
        details.append(f"{duration:.0f} ms")
    return f"  ({', '.join(details)})" if details else ""


def _indent(text: str) -> list[str]:
    return ["    " + line for line in text.rstrip("\n").split("\n")]


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _call_number(record: Mapping[str, Any]) -> str:
    number = record.get("seq")
    return f"#{'?' if number is None else number}"


def _value(value: object) -> str:
    """A recorded result: a string is already display text (often a repr)."""
    if isinstance(value, str):
        return _clip(value)
    return _clip(repr(value))


def _args(args: object, kwargs: object = None) -> str:
    """Call arguments as Python source shows them: ``'http://x', timeout=5``.

    The worker records each argument as its ``repr``, so they are joined as they are.
    """
    parts = [str(a) for a in args] if isinstance(args, list) else []
    if isinstance(kwargs, Mapping):
        parts += [f"{k}={v}" for k, v in kwargs.items()]
    return _clip(", ".join(parts))


def _error(error: object) -> str:
    return _clip(str(error).strip().split("\n")[-1])
