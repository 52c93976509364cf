"""Runner processes, seen from the worker: start one, talk to it, learn how it died.

Runners are forked by a fork server (``multiprocessing``'s) that has already
imported Pawflow and the usual client libraries, so a new runner costs a fork,
not an interpreter start. The fork server is a child of the worker and is
single-threaded, which is what makes forking safe while the worker runs threads.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from ._runner import RunnerSpec, runner_main

__all__ = ["Runner", "RunnerFactory", "RunnerGone"]

log = logging.getLogger(__name__)

# Imported once in the fork server, so runners start with them loaded. A module
# that is not installed is skipped.
DEFAULT_PRELOAD = (
    "pawflow",
    "pawflow.sessions._runner",
    "requests",
    "github",
    "slack_sdk",
)

_EXIT_GRACE = 2.0  # seconds a runner gets to exit after its connection closed


class RunnerGone(Exception):
    """The runner ended or was ended; ``str()`` says why, for the session log."""


class Runner:
    def __init__(self, process: Any, conn: Connection) -> None:
        self._process = process
        self._conn = conn

    @property
    def pid(self) -> int | None:
        pid: int | None = self._process.pid
        return pid

    def alive(self) -> bool:
        return bool(self._process.is_alive())

    def send(self, message: tuple[Any, ...]) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            raise RunnerGone(self._death()) from exc

    def recv(self, timeout: float | None, overdue: str) -> tuple[Any, ...]:
        """The runner's next message; ``overdue`` is the reason given if none
        comes within ``timeout`` seconds (the runner is then killed)."""
        try:
            ready = self._conn.poll(timeout)
        except (OSError, ValueError) as exc:
            raise RunnerGone(self._death()) from exc
        if not ready:
            self.kill()
            raise RunnerGone(overdue)
        try:
            message: tuple[Any, ...] = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise RunnerGone(self._death()) from exc
        return message

    def kill(self) -> None:
        """End the runner now (it may be in the middle of anything)."""
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()

    def reap(self) -> None:
        """Collect the ended process (blocking briefly)."""
        self._process.join(_EXIT_GRACE)

    def _death(self) -> str:
        self._process.join(_EXIT_GRACE)
        code = self._process.exitcode
        self._conn.close()
        if code is None:
            self._process.kill()
            return "the session's process stopped answering"
        return describe_exit(code)


def describe_exit(code: int) -> str:
    """Why a runner ended, from its exit code, in words for the session log."""
    if code >= 0:
        return f"the program ended its process with exit status {code} (os._exit?)"
    try:
        sig = signal.Signals(-code)
    except ValueError:
        return f"the program's process was killed by signal {-code}"
    if sig is signal.SIGXCPU:
        return "the program used up its CPU time limit (SIGXCPU)"
    if sig is signal.SIGSEGV:
        return "the program crashed with a segmentation fault (SIGSEGV)"
    if sig is signal.SIGKILL:
        return "the program's process was killed (SIGKILL; out of memory?)"
    return f"the program's process was killed by {sig.name} ({signal.strsignal(sig)})"


class RunnerFactory:
    """Starts runners; one per worker."""

    def __init__(self, preload: Sequence[str] = DEFAULT_PRELOAD) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload))

    def warm_up(self) -> None:
        """Start the fork server now, so the first session does not wait for
        its imports (blocking, about a second)."""
        multiprocessing.forkserver.ensure_running()

    def spawn(self, spec: RunnerSpec) -> Runner:
        mine, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=runner_main,
            args=(theirs, spec),
            name=f"pawflow-runner-{spec.session_id}",
            daemon=True,
        )
        process.start()
        theirs.close()
        return Runner(process, mine)
