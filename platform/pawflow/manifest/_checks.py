"""Checks across keys that the JSON Schema cannot express (or not in plain words).

Runs on data the schema already accepted, so every key has the right type.
"""

from __future__ import annotations

import difflib
import functools
import math
import zoneinfo
from typing import Any

from ..errors import ManifestError
from ..filters import FilterError, compile_filter
from ._cron import cron_problem
from ._yaml import KeyPath, Spots, format_key

__all__ = ["SOURCES", "check_project"]

# Where a trigger's events come from; a trigger has exactly one.
SOURCES = ("webhook", "schedule", "connection")


def check_project(data: dict[str, Any], spots: Spots, file: str) -> None:
    """Raise a :class:`ManifestError` for the first cross-key problem of the project."""
    _check_finite(data, spots, file)
    project = data["project"]
    connections = [c["name"] for c in project.get("connections", ())]
    for index, trigger in enumerate(project.get("triggers", ())):
        _Check(spots, file, ("project", "triggers", index)).trigger(trigger, connections)
    retry = project.get("retry", {})
    initial, longest = retry.get("initial_interval", 1.0), retry.get("max_interval", 60.0)
    if longest < initial:
        key = "max_interval" if "max_interval" in retry else "initial_interval"
        path: KeyPath = ("project", "retry", key)
        raise ManifestError(
            f"max_interval ({longest:g} s) is shorter than initial_interval ({initial:g} s)",
            file=file,
            line=spots.line(path),
            key=format_key(path),
        )


def _check_finite(data: Any, spots: Spots, file: str) -> None:
    # YAML has .nan and .inf (and 1.0e+400 overflows to inf); JSON has neither, and
    # NaN passes every bound of the schema, since each comparison with it is false.
    todo: list[tuple[KeyPath, Any]] = [((), data)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, float) and not math.isfinite(value):
            spot = spots.get(path)
            raw = spot.raw if spot is not None else None
            # As written (".nan", "1.0e+400"), unless that could break the line.
            shown = raw if raw and raw.isprintable() else repr(value)
            raise ManifestError(
                f"must be a finite number, got {shown}",
                file=file,
                line=spots.line(path),
                key=format_key(path),
            )
        if isinstance(value, dict):
            todo.extend(((*path, k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            todo.extend(((*path, i), v) for i, v in reversed(list(enumerate(value))))


class _Check:
    def __init__(self, spots: Spots, file: str, path: KeyPath) -> None:
        self._spots = spots
        self._file = file
        self._path = path

    def _error(
        self, message: str, key: str | None = None, *, at_key: bool = False
    ) -> ManifestError:
        path = self._path if key is None else (*self._path, key)
        line = self._spots.key_line(path) if at_key else self._spots.line(path)
        return ManifestError(message, file=self._file, line=line, key=format_key(path))

    def trigger(self, trigger: dict[str, Any], connections: list[str]) -> None:
        name = trigger["name"]
        sources = [key for key in SOURCES if key in trigger]
        if not sources:
            raise self._error(
                f"trigger {name!r} has no source: add one of 'webhook', 'schedule', 'connection'",
                at_key=True,
            )
        if len(sources) > 1:
            # Point at whichever comes second in the file: that is the one to move.
            second = sorted(sources, key=lambda k: self._spots.key_line((*self._path, k)) or 0)[1]
            first = next(k for k in sources if k != second)
            raise self._error(
                f"a trigger has one source, but {name!r} has both {first!r} and {second!r} "
                "(use one trigger per source)",
                second,
                at_key=True,
            )
        if "timezone" in trigger and "schedule" not in trigger:
            raise self._error(
                "'timezone' only applies to a 'schedule' trigger", "timezone", at_key=True
            )
        if "schedule" in trigger:
            problem = cron_problem(trigger["schedule"])
            if problem:
                raise self._error(
                    f"invalid schedule {trigger['schedule']!r}: {problem}", "schedule"
                )
        if "timezone" in trigger:
            problem = _timezone_problem(trigger["timezone"])
            if problem:
                raise self._error(problem, "timezone")
        if "connection" in trigger and trigger["connection"] not in connections:
            raise self._error(_unknown_connection(trigger["connection"], connections), "connection")
        if "filter" in trigger:
            try:
                compile_filter(trigger["filter"])
            except FilterError as err:
                raise self._error(f"invalid filter of trigger {name!r}: {err}", "filter") from None


def _unknown_connection(name: str, known: list[str]) -> str:
    message = f"no connection {name!r} in project.connections"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"{message} (did you mean {close[0]!r}?)"
    if known:
        return f"{message} (known: {', '.join(known)})"
    return f"{message} (the project has none)"


def _timezone_problem(name: str) -> str | None:
    # Only names in the IANA list are meant, and only those reach ZoneInfo: it opens
    # whatever file the name points to under the tz path ("posixrules", "right/UTC",
    # the directory "Europe") and raises OSError for some.
    if name in _timezones() or name == "UTC":
        try:
            zoneinfo.ZoneInfo(name)
        except Exception:
            pass  # whatever ZoneInfo raises, the zone cannot be used
        else:
            return None
    message = f"unknown time zone {name!r}"
    close = difflib.get_close_matches(name, sorted(_timezones()), n=1, cutoff=0.7)
    return (
        f"{message} (did you mean {close[0]!r}?)"
        if close
        else f"{message}; use an IANA name such as 'Europe/Berlin'"
    )


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
