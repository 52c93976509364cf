"""``paw init DIR``: a new project, deployable as is."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import unicodedata
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..manifest import SCHEMA_PATH
from ._templates import DEFAULT_TEMPLATE, TEMPLATES

__all__ = ["add_init_command", "cmd_init", "project_name_from"]


def add_init_command(commands: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw init``."""
    init = leaf(
        commands,
        "init",
        cmd_init,
        "make a new project in DIR (a manifest, a handler and a README), deployable as is",
    )
    init.add_argument("dir", metavar="DIR", help="where the project goes (new or empty)")
    init.add_argument(
        "--template",
        choices=tuple(TEMPLATES),
        default=DEFAULT_TEMPLATE,
        help=f"what kind of project ({DEFAULT_TEMPLATE}): "
        + "; ".join(f"{t.name}: {t.summary}" for t in TEMPLATES.values()),
    )
    init.add_argument("--name", metavar="NAME", help="the project's name (default: DIR's name)")


def cmd_init(args: argparse.Namespace) -> int:
    """``paw init DIR [--template T] [--name NAME]``: write the template's files into DIR."""
    directory = Path(args.dir).expanduser()
    template = TEMPLATES[args.template]
    name = _checked_name(args.name) if args.name is not None else project_name_from(directory)
    _check_free(directory)
    files = template.render(name)
    _write(directory, files)

    shown = shlex.quote(str(directory))
    print(f"Created project {name} in {directory} (template {template.name}):")
    for path in files:
        print(f"  {directory / path}")
    print("Next:")
    print(f"  paw dev {shown}       # deploy, redeploy on every save, stream the sessions' logs")
    print(f"  paw deploy {shown}    # or deploy once")
    print(f"  {template.next_step_for(name, shown)}")
    return 0


def project_name_from(directory: Path) -> str:
    """DIR's base name made a valid project name: lower case, other characters as ``-``."""
    base = directory.absolute().name
    # Accents dropped rather than the letters: "Über" → "uber".
    ascii_base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9_-]+", "-", ascii_base.lower())
    # A name starts with a letter; trailing separators read as leftovers.
    name = re.sub(r"^[^a-z]+", "", name).rstrip("-_")
    if not name:
        raise ConfigError(f"cannot make a project name of {base!r}: pass --name NAME")
    return _checked_name(name)


def _checked_name(name: str) -> str:
    pattern, advice = _name_rule()
    if not pattern.fullmatch(name):
        raise ConfigError(f"invalid project name {name!r}: {advice}")
    return name


@cache
def _name_rule() -> tuple[re.Pattern[str], str]:
    # The manifest's own rule (the schema editors use), so paw init never makes
    # a project that paw deploy refuses.
    rule = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"]["name"]
    return re.compile(rule["pattern"]), rule["patternErrorMessage"]


def _check_free(directory: Path) -> None:
    if not directory.exists():
        return
    if not directory.is_dir():
        raise ConfigError(f"{directory} exists and is not a directory")
    try:
        empty = next(directory.iterdir(), None) is None
    except OSError as err:
        raise ConfigError(f"cannot read {directory}: {err.strerror}") from None
    if not empty:
        raise ConfigError(f"{directory} exists and is not empty; paw init makes new projects only")


def _write(directory: Path, files: dict[str, str]) -> None:
    """Write every file, or (on an error such as a full disk) leave nothing behind."""
    made: list[Path] = []
    missing = [p for p in (directory, *directory.parents) if not p.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            path = directory / relative
            made.append(path)
            path.write_text(text, encoding="utf-8")
    except OSError as err:
        for path in made:
            path.unlink(missing_ok=True)
        # Innermost first: only the directories this command created.
        for created in missing:
            try:
                created.rmdir()
            except OSError:
                break
        where = err.filename or directory
        raise ConfigError(f"cannot write {where}: {err.strerror or err}") from None
