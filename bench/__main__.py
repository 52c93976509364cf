"""``python -m bench [--quick]``: run the benchmarks, print the table, write the JSON."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from bench._context import Plan
from bench._run import MEASURES, NOT_QUICK, RESULTS_DIR, run_bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Pawflow benchmarks against raw temporalio on the same Temporal server.",
    )
    parser.add_argument("--quick", action="store_true", help="the reduced set (under 4 minutes)")
    parser.add_argument(
        "--only",
        metavar="M[,M...]",
        help=f"run only these measures ({', '.join(MEASURES)}); "
        "writes no result files unless --out is given",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="write the result files into DIR instead of bench/results/",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the bench does")
    args = parser.parse_args(argv)
    only = frozenset(MEASURES)
    if args.quick and not args.only:
        only -= NOT_QUICK
        print(
            f"--quick leaves out {', '.join(sorted(NOT_QUICK))} "
            "(PostgreSQL and several workers); name them with --only to run them",
            file=sys.stderr,
        )
    if args.only:
        only = frozenset(m.strip() for m in args.only.split(",") if m.strip())
        unknown = sorted(only - set(MEASURES))
        if unknown:
            parser.error(
                f"unknown measure(s) {', '.join(unknown)}; choose from {', '.join(MEASURES)}"
            )
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    bench = run_bench(
        Plan.for_mode(args.quick),
        only=only,
        results_dir=args.out or (None if args.only else RESULTS_DIR),
    )
    try:
        return asyncio.run(_until_terminated(bench))
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Every child was stopped on the way out; no traceback for a Ctrl-C.
        print("interrupted; everything the bench started is stopped", file=sys.stderr)
        return 130


async def _until_terminated(bench: Coroutine[Any, Any, int]) -> int:
    """Run ``bench``; SIGTERM cancels it like Ctrl-C does (asyncio handles SIGINT),
    so that its cleanup runs either way."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await bench


if __name__ == "__main__":
    sys.exit(main())
