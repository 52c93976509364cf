"""Session log records as workers post them, judged one by one before storing.

A session's program prints whatever it likes, so a record may hold text that
cannot be encoded (a lone surrogate) or be huge. Such text is cleaned or cut,
never a reason to refuse; a record whose shape is wrong is refused alone. Either
way the other records of the batch, the session's final state among them, are
stored: losing that state would leave the session running for ever.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, MutableMapping, MutableSequence
from dataclasses import dataclass
from typing import Any, get_args

from ..storage import LogRecord, SessionState
from ..textsafe import clean_json

__all__ = ["MAX_N", "MAX_RECORD_BYTES", "RECORD_TYPES", "Refusal", "accept_records", "fit_record"]

RECORD_TYPES = frozenset(
    {
        "state",
        "print",
        "call_start",
        "call_end",
        "stop_request",
        # The undos of a failed saga (pawflow.compensate), and one that failed for good.
        "compensate_start",
        "compensate_end",
        "compensation_failed",
    }
)
MAX_N = 1 << 62
MAX_RECORD_BYTES = 64 * 1024
"""One record's size as stored: compact JSON, UTF-8."""

_SESSION_STATES = frozenset(get_args(SessionState))
_MAX_SESSION_ID = 200
_MAX_DEPTH = 32
# Top-level fields that identify and classify a record: never cut.
_FIXED = frozenset({"session_id", "n", "time", "type", "state"})
# Room for the "… (N characters left out) …" marker of one cut string, as JSON.
_MARKER_BYTES = 64
# Cutting strings to fit leaves at least this much of each, else the record is refused.
_MIN_LEVEL = 2 * _MARKER_BYTES
_PASSES = 4  # characters vary in width; a pass or two more absorbs that


@dataclass(frozen=True)
class Refusal:
    """Record ``index`` of a batch was not stored, for ``error`` (one line)."""

    index: int
    error: str


def accept_records(records: list[Any]) -> tuple[list[LogRecord], list[Refusal]]:
    """The records fit to store (cleaned, cut to size) and the refusals of the rest."""
    kept: list[LogRecord] = []
    refused: list[Refusal] = []
    for index, record in enumerate(records):
        try:
            kept.append(fit_record(record))
        except ValueError as err:
            refused.append(Refusal(index, str(err)))
    return kept, refused


def fit_record(record: Any) -> LogRecord:
    """``record`` ready to store: lone surrogates replaced by U+FFFD, string fields
    cut in the middle until the record is at most :data:`MAX_RECORD_BYTES`.

    Raises ValueError (one line, fit to send back) for a record of the wrong shape,
    one holding NaN or infinite numbers, nested too deeply, or too big even with
    its text cut (huge keys, thousands of fields).
    """
    if not isinstance(record, dict):
        raise ValueError("a record must be an object")
    try:
        cleaned: LogRecord = clean_json(record, max_depth=_MAX_DEPTH)
    except ValueError:
        raise ValueError(f"the record is nested more than {_MAX_DEPTH} levels deep") from None
    problem = _shape_problem(cleaned)
    if problem is not None:
        raise ValueError(problem)
    return _fit(cleaned)


def _shape_problem(record: LogRecord) -> str | None:
    session_id = record.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        return "session_id must be a non-empty string"
    if len(session_id) > _MAX_SESSION_ID:
        return f"session_id must be at most {_MAX_SESSION_ID} characters"
    number = record.get("n")
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= MAX_N:
        return "n must be a non-negative integer"
    at = record.get("time")
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at):
        return "time must be Unix seconds (a number)"
    kind = record.get("type")
    if kind not in RECORD_TYPES:
        return f"type must be one of {', '.join(sorted(RECORD_TYPES))}"
    if kind == "state" and record.get("state") not in _SESSION_STATES:
        return f"state must be one of {', '.join(sorted(_SESSION_STATES))}"
    return None


def _fit(record: LogRecord) -> LogRecord:
    for _ in range(_PASSES):
        size = _json_size(record)
        if size <= MAX_RECORD_BYTES:
            return record
        places = list(_strings(record))
        sizes = [_json_size(text) for _, _, text in places]
        budget = MAX_RECORD_BYTES - (size - sum(sizes))
        level = _level(sizes, budget)
        if level < _MIN_LEVEL:
            break
        for (container, key, text), text_size in zip(places, sizes, strict=True):
            if text_size > level:
                keep = len(text) * (level - _MARKER_BYTES) // text_size
                container[key] = _cut(text, keep)
    raise ValueError(
        f"the record is {_json_size(record)} bytes of JSON even with its text cut; "
        f"the limit is {MAX_RECORD_BYTES}"
    )


def _json_size(value: Any) -> int:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        raise ValueError("the record holds NaN, Infinity or a number too large for JSON") from None
    return len(text.encode())


def _strings(record: LogRecord) -> Iterator[tuple[Any, Any, str]]:
    """(container, key or index, text) of every string value that may be cut."""
    todo: list[MutableMapping[Any, Any] | MutableSequence[Any]] = []
    for key, value in record.items():
        if isinstance(value, str) and key not in _FIXED:
            yield record, key, value
        elif isinstance(value, dict | list):
            todo.append(value)
    while todo:  # depth is bounded by clean_json already; a loop all the same
        container = todo.pop()
        items: Iterable[tuple[Any, Any]] = (
            container.items() if isinstance(container, dict) else enumerate(container)
        )
        for key, value in items:
            if isinstance(value, str):
                yield container, key, value
            elif isinstance(value, dict | list):
                todo.append(value)


def _level(sizes: list[int], budget: int) -> int:
    """The largest L with ``sum(min(s, L) for s in sizes) <= budget``: cutting every
    string longer than L down to L keeps the short ones whole."""
    remaining = len(sizes)
    for size in sorted(sizes):
        if size * remaining > budget:
            return budget // remaining
        budget -= size
        remaining -= 1
    return budget  # unreachable for a record over the limit: some string must go


def _cut(text: str, keep: int) -> str:
    """``text`` with its middle left out, keeping about ``keep`` characters."""
    half = max(keep, 0) // 2
    left_out = len(text) - 2 * half
    return f"{text[:half]}\n… ({left_out} characters left out) …\n{text[len(text) - half :]}"
