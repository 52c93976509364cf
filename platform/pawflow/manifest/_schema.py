"""Validate parsed manifest data with the JSON Schema and say what is wrong in plain words.

jsonschema's own messages quote whole instances (``{...} is not valid under ...``);
the common validators are translated here into short sentences located at the
line of the offending key or value.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from ..errors import ManifestError
from ._yaml import KeyPath, Spots, describe, format_key

__all__ = ["SCHEMA_PATH", "validate"]

SCHEMA_PATH = Path(__file__).with_name("pawflow.schema.json")

_TYPE_NAMES = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "an empty value",
}

# When several errors share a line, the one to fix first.
_RANK = {"type": 0, "additionalProperties": 1, "required": 2}


@functools.cache
def _validator() -> Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    strict = validators.extend(Draft202012Validator, {"pattern": _strict_pattern})
    return strict(schema)


def _strict_pattern(
    validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    """The ``pattern`` keyword as editors read it: JSON Schema patterns are ECMA 262
    regexes, whose ``$`` matches only at the very end. Python's also matches before a
    final line break, which would let ``"hello\\n"`` through as a name."""
    if validator.is_type(instance, "string") and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def validate(data: Any, spots: Spots, *, file: str) -> None:
    """Raise a :class:`ManifestError` for the first schema violation in file order."""
    located = [_locate(_Failure.of(err), spots, file) for err in _validator().iter_errors(data)]
    if located:
        located.sort(key=lambda item: item[0])
        raise located[0][1]


@dataclass(frozen=True, slots=True)
class _Failure:
    """One jsonschema error, typed: the failed keyword, its value in the schema, the
    schema that holds it, the offending data and where it is."""

    keyword: str
    rule: Any
    schema: Mapping[str, Any]
    value: Any
    path: KeyPath

    @classmethod
    def of(cls, err: ValidationError) -> _Failure:
        schema = err.schema if isinstance(err.schema, Mapping) else {}
        return cls(
            str(err.validator), err.validator_value, schema, err.instance, tuple(err.absolute_path)
        )


# Each translator returns (key path, line, message) for one failure.
_Translation = tuple[KeyPath, int | None, str]


def _locate(f: _Failure, spots: Spots, file: str) -> tuple[tuple[int, int], ManifestError]:
    path, line, message = _TRANSLATORS.get(f.keyword, _fallback)(f, spots)
    error = ManifestError(message, file=file, line=line, key=format_key(path))
    return (line or 0, _RANK.get(f.keyword, 9)), error


def _required(f: _Failure, spots: Spots) -> _Translation:
    present = f.value if isinstance(f.value, dict) else {}
    missing = ", ".join(repr(key) for key in f.rule if key not in present)
    plural = "s" if "," in missing else ""
    return f.path, spots.key_line(f.path), f"missing required key{plural} {missing}"


def _additional(f: _Failure, spots: Spots) -> _Translation:
    known = list(f.schema.get("properties", {}))

    def line_of(key: str) -> int:
        return spots.key_line((*f.path, key)) or 0

    key = min((key for key in f.value if key not in known), key=line_of)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean {close[0]!r}?)"
    elif known:
        hint = f" (known keys: {', '.join(known)})"
    else:
        hint = ""
    return (*f.path, key), line_of(key), f"unknown key {_show(key)}{hint}"


def _type(f: _Failure, spots: Spots) -> _Translation:
    names = [f.rule] if isinstance(f.rule, str) else list(f.rule)
    wanted = " or ".join(_TYPE_NAMES.get(name, name) for name in names)
    message = f"expected {wanted}, got {describe(f.value)}"
    spot = spots.get(f.path)
    if "string" in names and f.value is not None and spot is not None and spot.raw:
        message += f" (put it in quotes: {json.dumps(spot.raw)})"
    elif "object" in names and f.value is None:
        message += " (write {} for a mapping with no keys)"
    return f.path, spots.line(f.path), message


def _pattern(f: _Failure, spots: Spots) -> _Translation:
    hint = f.schema.get("patternErrorMessage") or f"must match {f.rule}"
    return f.path, spots.line(f.path), f"invalid value {_show(f.value)}: {hint}"


def _enum(f: _Failure, spots: Spots) -> _Translation:
    allowed = list(f.rule)
    message = f"{_show(f.value)} is not one of {', '.join(map(str, allowed))}"
    if isinstance(f.value, str) and f.value.upper() in allowed:
        message += f" (did you mean {f.value.upper()!r}?)"
    return f.path, spots.line(f.path), message


def _const(f: _Failure, spots: Spots) -> _Translation:
    return f.path, spots.line(f.path), f"must be {json.dumps(f.rule)}, got {_show(f.value)}"


def _min_items(f: _Failure, spots: Spots) -> _Translation:
    message = "must not be empty" if f.rule == 1 else f"needs at least {f.rule} items"
    return f.path, spots.line(f.path), message


def _unique_items(f: _Failure, spots: Spots) -> _Translation:
    items = list(f.value)
    for index, item in enumerate(items):
        if item in items[:index]:
            path = (*f.path, index)
            return path, spots.line(path), f"{_show(item)} is listed twice"
    return f.path, spots.line(f.path), "items must be unique"


def _minimum(f: _Failure, spots: Spots) -> _Translation:
    return f.path, spots.line(f.path), f"must be at least {f.rule}, got {_show(f.value)}"


def _maximum(f: _Failure, spots: Spots) -> _Translation:
    return f.path, spots.line(f.path), f"must be at most {f.rule}, got {_show(f.value)}"


def _one_key(f: _Failure, spots: Spots) -> _Translation:
    """minProperties/maxProperties 1: a mapping of exactly one of its keys."""
    if f.rule != 1:
        return _fallback(f, spots)
    known = " or ".join(repr(key) for key in f.schema.get("properties", {}))
    given = list(f.value) if isinstance(f.value, dict) else []
    if not given:
        return f.path, spots.line(f.path), f"needs one of {known}"
    both = " and ".join(repr(key) for key in given)
    return f.path, spots.line(f.path), f"takes one of {known}, not {both}"


def _exclusive_minimum(f: _Failure, spots: Spots) -> _Translation:
    wanted = "must be positive" if f.rule == 0 else f"must be more than {f.rule}"
    return f.path, spots.line(f.path), f"{wanted}, got {_show(f.value)}"


def _min_length(f: _Failure, spots: Spots) -> _Translation:
    message = "must not be empty" if f.rule == 1 else f"needs at least {f.rule} characters"
    return f.path, spots.line(f.path), message


def _fallback(f: _Failure, spots: Spots) -> _Translation:
    return f.path, spots.line(f.path), f"invalid value (fails the schema's {f.keyword!r} rule)"


_TRANSLATORS: dict[str, Callable[[_Failure, Spots], _Translation]] = {
    "required": _required,
    "additionalProperties": _additional,
    "type": _type,
    "pattern": _pattern,
    "enum": _enum,
    "const": _const,
    "minItems": _min_items,
    "uniqueItems": _unique_items,
    "minimum": _minimum,
    "maximum": _maximum,
    "minProperties": _one_key,
    "maxProperties": _one_key,
    "exclusiveMinimum": _exclusive_minimum,
    "minLength": _min_length,
}


def _show(value: Any, limit: int = 40) -> str:
    """A value quoted for a message, cut short: never a whole mapping or list."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if not isinstance(value, str | int | float):
        return describe(value)
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
