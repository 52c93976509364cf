"""Check ``schedule:`` expressions before they reach Temporal.

Temporal parses the expression only when the schedule is created, long after
the manifest was accepted; checking it here makes a typo a deploy error with a
line number. Accepted: the classic five fields (minute hour day-of-month month
day-of-week; ``*``, numbers, ``a-b`` ranges, ``/step``, comma lists, month and
day names), the macros ``@yearly @monthly @weekly @daily @hourly`` and
``@every <n><s|m|h|d>`` — a subset of what Temporal's schedule spec accepts, so
everything that passes here is valid there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["cron_problem"]

_MACROS = frozenset({"@yearly", "@monthly", "@weekly", "@daily", "@hourly"})
_EVERY = re.compile(r"^@every\s+([1-9][0-9]*)([smhd])$")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# Temporal reads numbers into machine integers; no field needs a longer step.
_MAX_STEP = 9999


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i
    extra: str = ""  # said after the range in messages


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    # Temporal (like most crons) also takes 7 for Sunday.
    _Field("day of week", 0, 7, _DAYS, " (0 and 7 are Sunday)"),
)


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a schedule we accept, or None when it is fine."""
    text = expression.strip()
    if not text:
        return "the schedule is empty"
    if text.startswith("@"):
        if text.lower() in _MACROS:
            return None
        if text.lower().startswith("@every"):
            if _EVERY.match(text.lower()):
                return None
            return "write @every with a whole number and a unit: 30s, 15m, 2h or 1d"
        return f"unknown macro {text.split()[0]!r} (use one of {', '.join(sorted(_MACROS))})"
    parts = text.split()
    if len(parts) != len(_FIELDS):
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
    for part, spec in zip(parts, _FIELDS, strict=True):
        problem = _field_problem(part, spec)
        if problem:
            return f"{spec.name} {part!r}: {problem}"
    return None


def _field_problem(text: str, spec: _Field) -> str | None:
    for item in text.split(","):
        if not item:
            return "empty item in a comma list"
        base, slash, step = item.partition("/")
        if slash:
            size = _number(step)
            if size is None or size < 1:
                return f"the step after '/' must be a positive whole number, got {step!r}"
            if size > _MAX_STEP:
                return f"the step after '/' must be at most {_MAX_STEP}, got {_cut(step)}"
        if base == "*":
            continue
        first, dash, last = base.partition("-")
        low = _value(first, spec)
        if isinstance(low, str):
            return low
        if not dash:
            continue
        high = _value(last, spec)
        if isinstance(high, str):
            return high
        if low > high:
            return f"range {base!r} goes backwards"
    return None


def _value(text: str, spec: _Field) -> int | str:
    """The number ``text`` stands for, or a message saying why it is not one."""
    value = _number(text)
    if value is not None:
        if spec.low <= value <= spec.high:
            return value
        return f"{_cut(text)} is out of range {spec.low}-{spec.high}{spec.extra}"
    if text.lower() in spec.names:
        return spec.low + spec.names.index(text.lower())
    if not text:
        return "a number is missing"
    if spec.names:
        return f"{text!r} is not a number or a name ({spec.names[0].upper()}, ...)"
    return f"{text!r} is not a number"


def _number(text: str) -> int | None:
    """``text`` as a whole number when it is written in ASCII digits, else None.

    str.isdigit() alone also accepts '²' and '٣', which int() refuses; so does int()
    for more than 4300 digits, which here all stand for 10**9, out of every range.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= 9 else 10**9


def _cut(digits: str) -> str:
    return digits if len(digits) <= 12 else f"{digits[:8]}... ({len(digits)} digits)"
