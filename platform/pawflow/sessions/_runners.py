"""Runner processes, seen from the worker: start one, talk to it, learn how it died.

Runners are forked by a fork server (``multiprocessing``'s) that has already
imported Pawflow and the usual client libraries, so a new runner costs a fork,
not an interpreter start. The fork server is a child of the worker and is
single-threaded, which is what makes forking safe while the worker runs threads.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..errors import PawflowError
from . import _wire as wire
from ._confine import Confinement, neutral_environment
from ._envs import REQUIREMENTS_FILE, PackageEnvs
from ._landlock import DENIED_PORTS_ENV
from ._runner import RunnerSpec, runner_main

__all__ = ["Runner", "RunnerFactory", "RunnerGone"]

log = logging.getLogger(__name__)

# Imported once in the fork server, so runners start with them loaded. A module
# that is not installed is skipped.
DEFAULT_PRELOAD = (
    "pawflow",
    "pawflow.sessions._runner",
    # Client libraries programs use most, imported once for every runner.
    "requests",
    "aiohttp",
    "github",
    "slack_sdk",
    # Confines the fork server itself and freezes what it loaded: import it last.
    "pawflow.sessions._forkguard",
)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_EXIT_GRACE = 2.0  # seconds a runner gets to exit after its connection closed


class RunnerGone(Exception):
    """The runner ended or was ended; ``str()`` says why, for the session log."""


_WATCH_INTERVAL = 0.1  # seconds between two looks at a runner's memory


class Runner:
    def __init__(self, process: Any, conn: Connection, memory_mb: int | None = None) -> None:
        self._process = process
        self._conn = conn
        self._memory_mb = memory_mb

    @property
    def pid(self) -> int | None:
        pid: int | None = self._process.pid
        return pid

    def alive(self) -> bool:
        return bool(self._process.is_alive())

    def send(self, kind: str, *fields: Any, blob: bytes | None = None) -> None:
        try:
            wire.write(self._conn, kind, *fields, blob=blob)
        except (OSError, ValueError) as exc:
            raise RunnerGone(self._death()) from exc

    def recv(self, timeout: float | None, overdue: str) -> tuple[Any, ...]:
        """The runner's next message; ``overdue`` is the reason given if none
        comes within ``timeout`` seconds (the runner is then killed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if self._memory_mb is not None:
                left = _WATCH_INTERVAL if left is None else min(left, _WATCH_INTERVAL)
            try:
                ready = self._conn.poll(left)
            except (OSError, ValueError) as exc:
                raise RunnerGone(self._death()) from exc
            if ready:
                break
            if deadline is not None and time.monotonic() >= deadline:
                self.kill()
                raise RunnerGone(overdue)
            self._check_memory()
        try:
            return wire.read(self._conn)
        except wire.BadMessage as exc:
            self.kill()
            raise RunnerGone(f"the program's process sent {exc}") from None
        except (EOFError, OSError) as exc:
            raise RunnerGone(self._death()) from exc

    def _check_memory(self) -> None:
        if self._memory_mb is None or self.pid is None:
            return
        try:
            resident_pages = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            return  # gone already: the next poll says how
        if resident_pages * _PAGE_SIZE > self._memory_mb * 1024 * 1024:
            self.kill()
            raise RunnerGone(
                f"the program used more than its {self._memory_mb} MB of memory (limits.memory_mb)"
            )

    def kill(self) -> None:
        """End the runner now (it may be in the middle of anything)."""
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()

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
    """Starts runners; one per worker. ``confinement``: how they confine
    themselves (see ``_confine``; the default confines nothing)."""

    def __init__(
        self,
        confinement: Confinement | None = None,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        packages: PackageEnvs | None = None,
    ) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload))
        self.confinement = confinement or Confinement("none", "", note="not configured")
        # Where projects' requirements.txt are installed (None: not at all).
        self._packages = packages

    def warm_up(self) -> None:
        """Start the fork server now, so the first session does not wait for
        its imports (blocking, about a second).

        Its environment is what every runner's ``/proc/self/environ`` shows, so
        it starts with a neutral one, not the worker's."""
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(neutral_environment(saved))
        if self.confinement.denied_ports:
            os.environ[DENIED_PORTS_ENV] = ",".join(map(str, self.confinement.denied_ports))
        try:
            multiprocessing.forkserver.ensure_running()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def spawn(self, spec: RunnerSpec) -> Runner:
        spec = self._with_packages(spec)
        mine, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=runner_main,
            args=(theirs, spec, self.confinement),
            name=f"pawflow-runner-{spec.session_id}",
            daemon=True,
        )
        process.start()
        theirs.close()
        return Runner(process, mine, spec.memory_mb)

    def _with_packages(self, spec: RunnerSpec) -> RunnerSpec:
        """``spec`` with its project's packages, installed here on first use
        (blocking) unless the server installed them in a shared data dir."""
        requirements = Path(spec.code_root) / REQUIREMENTS_FILE
        if self._packages is None or spec.packages or not requirements.is_file():
            return spec
        try:
            installed = self._packages.ensure(requirements.read_bytes())
        except (PawflowError, OSError) as exc:
            reason = (
                f"the project's {REQUIREMENTS_FILE} could not be installed on this worker: {exc}"
            )
            return dataclasses.replace(spec, packages_error=reason)
        return dataclasses.replace(spec, packages=str(installed) if installed else "")
