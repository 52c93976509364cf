"""Entry point of ``paw``: parse, run the command, turn errors into one line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from ..errors import PawflowError
from ..textsafe import terminal_safe
from ._completion import complete_if_asked
from ._parser import build_parser

__all__ = ["main"]

_DAEMONS = ("up", "server", "worker")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``paw`` with ``argv`` (default: the process arguments); returns the exit code.

    Exit codes: 0 ok; 1 failure (user mistakes and server errors print
    ``error: ...`` on stderr); 2 usage (argparse); 124 ``session watch --timeout``
    gave up; 130 interrupted.
    """
    parser = build_parser()
    complete_if_asked(parser)
    args = parser.parse_args(argv)
    # What was typed: listings print the command that shows their next page.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    _configure_logging(verbose=args.command in _DAEMONS)
    try:
        code: int = args.func(args)
    except PawflowError as err:
        # The message may quote what a server or a stranger sent: no terminal escapes.
        print(f"error: {terminal_safe(str(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head` that has quit: not an error worth a traceback.
        _silence_stdout()
        return 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return code


def _configure_logging(*, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if verbose:
        # One line per HTTP request (workers post logs constantly) drowns what matters.
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
