"""``paw store``: look into a project's key-value store (what ``pawflow.store`` keeps)."""

from __future__ import annotations

import argparse
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from ..errors import ServerError
from ._commands import client_for
from ._output import format_table, short_time
from ._paging import add_paging, paging_params, print_more

__all__ = ["add_store_commands", "cmd_store_get", "cmd_store_list"]

_MAX_CELL = 60


def add_store_commands(grouped: Callable[..., Any], leaf: Callable[..., Any]) -> None:
    """Register ``paw store list`` and ``paw store get``."""
    store = grouped("store", "the key-value stores of projects (pawflow.store)")
    listing = leaf(store, "list", cmd_store_list, "list the keys and values of a project's store")
    listing.add_argument("--project", metavar="P", required=True)
    listing.add_argument("--prefix", metavar="PREFIX", default="", help="only keys starting so")
    add_paging(listing, "after")
    listing.add_argument("--json", action="store_true", help="print machine-readable JSON")
    get = leaf(store, "get", cmd_store_get, "print the value of one key (as JSON)")
    get.add_argument("--project", metavar="P", required=True)
    get.add_argument("key", metavar="KEY")
    get.add_argument("--json", action="store_true", help="print the whole entry as JSON")


def _store_path(project: str, key: str | None = None) -> str:
    path = f"/api/v1/projects/{urllib.parse.quote(project, safe='')}/store"
    return path if key is None else f"{path}/{urllib.parse.quote(key, safe='')}"


def cmd_store_list(args: argparse.Namespace) -> int:
    """``paw store list --project P``: keys in order, with their values shortened."""
    params = {"prefix": args.prefix or None, **paging_params(args)}
    answer = client_for(args).get(_store_path(args.project), params)
    entries = answer.get("entries") if isinstance(answer, dict) else None
    if not isinstance(entries, list):
        raise ServerError("the server's answer has no 'entries' list")
    if args.json:
        print(json.dumps(entries, indent=2, ensure_ascii=False))
        print_more(args, answer, len(entries))
        return 0
    if not entries:
        what = f"keys starting with {args.prefix!r}" if args.prefix else "keys"
        print(f"No {what} in the store of project {args.project}.")
        return 0
    rows = [
        [e.get("key"), _short(json.dumps(e.get("value"), ensure_ascii=False)),
         short_time(e.get("updated_at"))]
        for e in entries
    ]  # fmt: skip
    print(format_table(["KEY", "VALUE", "UPDATED"], rows))
    print_more(args, answer, len(entries))
    return 0


def cmd_store_get(args: argparse.Namespace) -> int:
    """``paw store get --project P KEY``: the value, as JSON."""
    entry = client_for(args).get(_store_path(args.project, args.key))
    if not isinstance(entry, dict) or "value" not in entry:
        raise ServerError("the server's answer has no 'value'")
    shown = entry if args.json else entry["value"]
    print(json.dumps(shown, indent=2, ensure_ascii=False))
    return 0


def _short(text: str) -> str:
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"
