"""Runner processes, seen from the worker: start one, talk to it, learn how it died.

Runners are forked by a fork server (``multiprocessing``'s) that has already
imported Pawflow and the usual client libraries, so a new runner costs a fork,
not an interpreter start. The fork server is a child of the worker and is
single-threaded, which is what makes forking safe while the worker runs threads.

A few runners are forked ahead of need (the *pool*), so a session does not
wait for the fork: a pooled runner has received nothing yet and waits on its
pipe; the session's spec is its first message, and it then confines itself
and loads the code as any runner does. Each runner still runs one session
only. The pool keeps one runner at rest, grows by one each time a session
finds it empty (up to ``pool_max``), shrinks back after a quiet spell, and is
refilled by a thread of its own, off the sessions' path.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
import time
from collections import deque
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


_POOL_LOOK = 5.0  # seconds between two looks for pooled runners that died
_POOL_QUIET = 30.0  # seconds without a session finding the pool empty before it shrinks


@dataclasses.dataclass(frozen=True)
class _Pooled:
    """A runner forked ahead of need: no session yet."""

    process: Any
    conn: Connection


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

    def send(self, message: wire.ToRunner) -> None:
        try:
            wire.send(self._conn, message)
        except (OSError, ValueError) as exc:
            raise RunnerGone(self._death()) from exc

    def recv(self, timeout: float | None, overdue: str) -> wire.FromRunner:
        """The runner's next message; ``overdue`` is the reason given if none
        comes within ``timeout`` seconds (the runner is then killed). A message
        that breaks the format kills the runner too."""
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
            return wire.receive_from_runner(self._conn)
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
        pool: int = 1,
        pool_max: int = 4,
    ) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(preload))
        self.confinement = confinement or Confinement("none", "", note="not configured")
        # Where projects' requirements.txt are installed (None: not at all).
        self._packages = packages
        # Runners forked ahead of need (see the module's doc); 0: none.
        self._pool_min = max(0, pool)
        self._pool_max = max(self._pool_min, pool_max)
        self._target = self._pool_min
        self._ready: deque[_Pooled] = deque()
        self._changed = threading.Condition()
        self._last_miss = time.monotonic()
        self._closed = False
        self._filler: threading.Thread | None = None

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
        self._start_filling()

    def spawn(self, spec: RunnerSpec) -> Runner:
        """A runner for ``spec``'s session: a pooled one if one is ready, else a new one."""
        spec = self._with_packages(spec)
        self._start_filling()
        while True:
            pooled = self._take()
            if pooled is None:
                break
            try:
                pooled.conn.send(spec)
            except (OSError, ValueError):
                # It died after the look (nothing of the spec reached anyone).
                self._discard(pooled)
                continue
            return Runner(pooled.process, pooled.conn, spec.memory_mb)
        fresh = self._fork()
        runner = Runner(fresh.process, fresh.conn, spec.memory_mb)
        try:
            fresh.conn.send(spec)
        except (OSError, ValueError) as exc:
            raise RunnerGone(runner._death()) from exc
        return runner

    def pooled(self) -> list[int]:
        """The pids of the runners waiting in the pool."""
        with self._changed:
            return [p.process.pid for p in self._ready]

    def close(self) -> None:
        """End the pool's runners and stop refilling it (runners given a
        session are their hosts' to end)."""
        with self._changed:
            self._closed = True
            left = list(self._ready)
            self._ready.clear()
            self._changed.notify_all()
            filler = self._filler
        for pooled in left:
            self._discard(pooled)
        if filler is not None and filler is not threading.current_thread():
            filler.join(_EXIT_GRACE)

    # -- the pool ----------------------------------------------------------------------
    def _fork(self) -> _Pooled:
        mine, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=runner_main,
            args=(theirs, self.confinement),
            name="pawflow-runner",
            daemon=True,
        )
        process.start()
        theirs.close()
        return _Pooled(process, mine)

    def _take(self) -> _Pooled | None:
        """A live pooled runner, or None (then the pool grows, up to its bound)."""
        with self._changed:
            found = None
            dead: list[_Pooled] = []
            while self._ready and found is None:
                pooled = self._ready.popleft()
                if pooled.process.is_alive():
                    found = pooled
                else:
                    dead.append(pooled)
            if found is None and self._pool_min > 0:
                self._last_miss = time.monotonic()
                self._target = min(self._target + 1, self._pool_max)
            self._changed.notify_all()  # refill
        for pooled in dead:
            self._discard(pooled)
        return found

    @staticmethod
    def _discard(pooled: _Pooled) -> None:
        if pooled.process.is_alive():
            pooled.process.kill()
        pooled.conn.close()
        pooled.process.join(_EXIT_GRACE)

    def _start_filling(self) -> None:
        with self._changed:
            if self._filler is not None or self._closed or self._pool_min == 0:
                return
            self._filler = threading.Thread(
                target=self._fill, name="pawflow-runner-pool", daemon=True
            )
            self._filler.start()

    def _fill(self) -> None:
        """Keep the pool at its target: fork when it is short, prune runners
        that died while waiting, and shrink it after a quiet spell."""
        failures = 0
        while True:
            surplus: list[_Pooled] = []
            with self._changed:
                while not self._closed:
                    dead = [p for p in self._ready if not p.process.is_alive()]
                    for pooled in dead:
                        self._ready.remove(pooled)
                    surplus.extend(dead)
                    quiet = time.monotonic() - self._last_miss
                    if self._target > self._pool_min and quiet > _POOL_QUIET:
                        self._target -= 1
                        self._last_miss = time.monotonic()
                    while len(self._ready) > self._target:
                        surplus.append(self._ready.pop())
                    # Something to do: discard the surplus, or fork one more.
                    if surplus or len(self._ready) < self._target:
                        break
                    self._changed.wait(_POOL_LOOK)
                if self._closed:
                    return
            for pooled in surplus:
                self._discard(pooled)
            if surplus:
                continue
            try:
                pooled = self._fork()
            except Exception:  # the fork server is gone or out of resources
                failures += 1
                log.warning("could not start a runner ahead of need", exc_info=failures == 1)
                with self._changed:
                    self._changed.wait(min(_POOL_LOOK, 0.1 * 2**failures))
                continue
            failures = 0
            with self._changed:
                if not self._closed:
                    self._ready.append(pooled)
                    continue
            self._discard(pooled)
            return

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
