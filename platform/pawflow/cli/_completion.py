"""Shell completion (``paw completion bash|zsh``) and ``paw --version``.

Completion comes from argcomplete: the shell runs ``paw`` with ``_ARGCOMPLETE``
set and reads the candidates from it. Everyone else pays nothing for it:
argcomplete is only imported when a shell asks (``paw``'s start-up time matters).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["SHELLS", "VersionAction", "cmd_completion", "complete_if_asked", "paw_version"]

SHELLS = ("bash", "zsh")


def complete_if_asked(parser: argparse.ArgumentParser) -> None:
    """Answer a shell's completion request and exit; return at once otherwise."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    argcomplete.autocomplete(parser)


def cmd_completion(args: argparse.Namespace) -> int:
    """``paw completion bash|zsh``: print the completion script of that shell."""
    import argcomplete

    sys.stdout.write(argcomplete.shellcode(["paw"], shell=args.shell))
    return 0


def paw_version() -> str:
    """The installed distribution's version (``0.0.0`` when run from a bare tree)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("pawflow")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


class VersionAction(argparse.Action):
    """``--version``: looks the version up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"paw {paw_version()}")
        parser.exit()
