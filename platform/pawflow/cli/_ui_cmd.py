"""``paw ui [--no-browser]``: open the web dashboard through a one-time login link."""

from __future__ import annotations

import argparse
import webbrowser
from collections.abc import Callable
from typing import Any

from ..errors import ServerError
from ._commands import client_for

__all__ = ["add_ui_command", "cmd_ui"]


def add_ui_command(commands: Any, leaf: Callable[..., Any]) -> None:
    """Register ``paw ui``."""
    ui = leaf(
        commands,
        "ui",
        cmd_ui,
        "open the web dashboard in the default browser (a one-time login link)",
    )
    ui.add_argument(
        "--no-browser",
        action="store_true",
        help="print the login link instead of opening it (valid for a minute, for one login)",
    )


def cmd_ui(args: argparse.Namespace) -> int:
    """``paw ui``: ask the server (with the admin token) for a one-time login
    link, then open it, or print it with ``--no-browser``. The token itself
    never goes into a URL."""
    answer = client_for(args).post("/api/v1/ui/login-codes", b"{}", "application/json")
    url = answer.get("url") if isinstance(answer, dict) else None
    if not isinstance(url, str) or "/ui/login?code=" not in url:
        raise ServerError("the server's answer is not a login link (is it a current Pawflow?)")
    if args.no_browser or not webbrowser.open(url):
        # The link is a credential for a minute: for whoever runs this only.
        print(url)
        return 0
    print("Opened the dashboard in your browser (the link works once, for a minute).")
    return 0
