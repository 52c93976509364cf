"""Load ``pawflow.yaml``: read → YAML with lines → JSON Schema → semantic checks → model
→ call targets checked against the source."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from ._calls import CallChecker, CallSite, check_call_format
from ._checks import check_project
from ._model import CallTarget, Manifest
from ._schema import SCHEMA_PATH, validate
from ._yaml import KeyPath, Spots, describe, format_key, parse_yaml

__all__ = ["MANIFEST_FILE", "MAX_MANIFEST_BYTES", "SCHEMA_PATH", "load_manifest", "load_project"]

log = logging.getLogger(__name__)

MANIFEST_FILE = "pawflow.yaml"
MAX_MANIFEST_BYTES = 1024 * 1024


def load_project(directory: Path, *, display: str | None = None) -> Manifest:
    """Load and fully check the manifest of the project in ``directory``.

    ``display`` replaces ``directory`` in error messages (``""`` for none, so
    errors read ``pawflow.yaml:7: ...``); by default the directory is shown as given.
    """
    if not directory.is_dir():
        shown = str(directory) if display is None else display
        raise ManifestError("no such project directory", file=shown or ".")
    return load_manifest(directory / MANIFEST_FILE, check_calls=True, display=display)


def load_manifest(path: Path, *, check_calls: bool = True, display: str | None = None) -> Manifest:
    """Load and validate the manifest file at ``path``.

    With ``check_calls``, every trigger's ``call`` must name a suitable function in
    a file next to the manifest (checked by parsing, never importing it).
    ``display`` replaces the directory of ``path`` in error messages and in
    ``Manifest.source``. Every problem raises a :class:`ManifestError`.
    """
    display_dir = _display_dir(path, display)
    file = f"{display_dir}/{path.name}" if display_dir else path.name
    data, spots = parse_yaml(_read_text(path, file), file=file)
    if data is None:
        raise ManifestError("the manifest is empty", file=file)
    if not isinstance(data, dict):
        raise ManifestError(
            f"expected a mapping at the top level (version: 1, project: ...), got {describe(data)}",
            file=file,
            line=spots.line(()),
        )
    validate(data, spots, file=file)
    _check_unique(data, spots, file, "vars", "variable")
    _check_unique(data, spots, file, "triggers", "trigger")
    _check_unique(data, spots, file, "connections", "connection")
    check_project(data, spots, file)
    sites = _call_sites(data, spots, file)
    for target, site in sites:
        check_call_format(target, site)
    # The schema accepts 1.0 as the integer 1; store the integer.
    manifest = Manifest.from_dict({**data, "version": int(data["version"])}, source=file)
    if check_calls:
        checker = CallChecker(path.parent, display_dir)
        for target, site in sites:
            checker.check(target, site)
    log.debug("loaded %s: %d trigger(s)", file, len(manifest.project.triggers))
    return manifest


def _display_dir(path: Path, display: str | None) -> str:
    if display is not None:
        return display.rstrip("/")
    parent = str(path.parent)
    return "" if parent == "." else parent


def _read_text(path: Path, file: str) -> str:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError("file not found", file=file) from None
    except IsADirectoryError:
        raise ManifestError("is a directory, not a file", file=file) from None
    except OSError as err:
        raise ManifestError(f"cannot read: {err.strerror}", file=file) from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError("file is larger than 1 MiB", file=file)
    try:
        # utf-8-sig: a BOM some editors add is not part of the document.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        byte = raw[err.start]
        raise ManifestError(f"not valid UTF-8 (byte {byte:#04x})", file=file, line=line) from None


def _check_unique(data: dict[str, Any], spots: Spots, file: str, field: str, what: str) -> None:
    first_index: dict[str, int] = {}
    for index, item in enumerate(data["project"].get(field, ())):
        name = item["name"]
        if name not in first_index:
            first_index[name] = index
            continue
        path: KeyPath = ("project", field, index, "name")
        first_line = spots.line(("project", field, first_index[name], "name"))
        raise ManifestError(
            f"duplicate {what} name {name!r} (first used on line {first_line})",
            file=file,
            line=spots.line(path),
            key=format_key(path),
        )


def _call_sites(data: dict[str, Any], spots: Spots, file: str) -> list[tuple[CallTarget, CallSite]]:
    sites = []
    for index, trigger in enumerate(data["project"].get("triggers", ())):
        if "call" not in trigger:
            continue  # a trigger that only feeds subscriptions
        path: KeyPath = ("project", "triggers", index, "call")
        site = CallSite(file, spots.line(path), format_key(path))
        # The schema's pattern guarantees FILE.py:FUNCTION, so parsing cannot fail.
        sites.append((CallTarget.parse(trigger["call"]), site))
    return sites
