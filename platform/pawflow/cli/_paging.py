"""Paged listings on the command line: ``--limit N`` with ``--before ID`` or ``--after KEY``.

A listing shows one page and, when the server says there is more, the command
that shows the next one: after the table, or on stderr with ``--json`` (whose
stdout stays the plain JSON list tools read).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Mapping
from typing import Any

from ..textsafe import terminal_safe

__all__ = ["DEFAULT_LIMIT", "add_paging", "paging_params", "print_more"]

DEFAULT_LIMIT = 100
_MAX_LIMIT = 1000  # what the server serves in one page


def add_paging(parser: argparse.ArgumentParser, cursor: str = "before") -> None:
    """``--limit`` and the listing's cursor flag: ``--before ID`` (newest-first
    listings) or ``--after KEY`` (listings in key order)."""
    parser.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show at most N (default {DEFAULT_LIMIT}, at most {_MAX_LIMIT})",
    )
    if cursor == "before":
        parser.add_argument("--before", metavar="ID", help="list only those older than ID")
    else:
        parser.add_argument("--after", metavar="KEY", help="list only those after KEY")


def paging_params(args: argparse.Namespace) -> dict[str, str | int | None]:
    """The query parameters of the page the flags ask for."""
    params: dict[str, str | int | None] = {"limit": args.limit}
    for cursor in ("before", "after"):
        if cursor in args:
            params[cursor] = getattr(args, cursor)
    return params


def print_more(args: argparse.Namespace, answer: Mapping[str, Any], shown: int) -> None:
    """Say how to see the next page when the server's answer says there is one."""
    if not answer.get("more"):
        return
    cursor, value = "before", answer.get("next_before")
    if value is None:
        cursor, value = "after", answer.get("next_after")
    if not isinstance(value, str):
        return
    command = terminal_safe(_next_command(args, cursor, value))
    if getattr(args, "json", False):
        print(f"more: {command}", file=sys.stderr)
    else:
        print(f"({shown} shown, more: {command})")


def _next_command(args: argparse.Namespace, cursor: str, value: str) -> str:
    """The command line that was run, with the cursor flag pointing at the next page."""
    argv = list(getattr(args, "argv", None) or [])
    kept: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == f"--{cursor}":
            skip = True
        elif not word.startswith(f"--{cursor}="):
            kept.append(word)
    return shlex.join(["paw", *kept, f"--{cursor}", value])


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text}") from None
    if not 1 <= value <= _MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {_MAX_LIMIT}: {text}")
    return value
