"""Helpers shared by the test suite: free ports, polling with a deadline, processes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pawflow.dispatch import Dispatcher
from pawflow.storage import Store
from pawflow.up import free_port as _free_port

__all__ = [
    "PawUp",
    "child_pids",
    "free_port",
    "http_json",
    "paw_env",
    "pid_alive",
    "run_coroutine",
    "run_paw",
    "wait_for",
]

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return _free_port("127.0.0.1")


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> Any:
    """Poll ``predicate`` until it returns something truthy and return that value.

    Outside an event loop this blocks. Inside a coroutine it returns an awaitable
    (``await wait_for(...)``) so the loop keeps running, and ``predicate`` may
    then also be a coroutine function. Raises AssertionError naming ``message``
    after ``timeout`` seconds.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _wait_blocking(predicate, timeout, interval, message)
    return _wait_async(predicate, timeout, interval, message)


def _wait_blocking(
    predicate: Callable[[], Any], timeout: float, interval: float, message: str
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


async def _wait_async(
    predicate: Callable[[], Any], timeout: float, interval: float, message: str
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        await asyncio.sleep(interval)


def run_coroutine(coro: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
    """Run ``coro`` to completion on a private event loop.

    Unlike ``asyncio.run`` this leaves the thread's current event loop alone, so
    it is safe in sync fixtures of a pytest-asyncio suite.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a running process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The command name (in parentheses) may contain spaces; the state follows it.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def child_pids(parent: int) -> dict[int, list[str]]:
    """Live children of ``parent``: pid → command line."""
    children: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == parent and fields[0] not in ("Z", "X"):
            children[int(entry.name)] = [a.decode() for a in cmdline.split(b"\0") if a]
    return children


def paw_env(**overrides: str | None) -> dict[str, str]:
    """The environment for a ``paw`` subprocess, without the user's Pawflow settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAWFLOW_")}
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in overrides.items():
        if value is not None:
            env[key] = value
    return env


def run_paw(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60.0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pawflow.cli ARGS`` (with ``input`` on stdin) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "pawflow.cli", *args],
        env=env if env is not None else paw_env(),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def http_json(
    url: str,
    *,
    token: str | None = None,
    method: str = "GET",
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """A JSON request; returns (status, decoded body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        with err:
            status, raw = err.code, err.read()
    return status, (json.loads(raw) if raw else None)


class PawUp:
    """``paw up`` as a subprocess: started, waited for, stopped with SIGINT.

    Its stdout and stderr go to files in ``data_dir`` so they can be read while it runs.
    """

    def __init__(
        self, data_dir: Path, *, port: int | None = None, args: Sequence[str] = ()
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.stdout_path = data_dir / "up.stdout"
        self.stderr_path = data_dir / "up.stderr"

    @property
    def token(self) -> str:
        return (self.data_dir / "token").read_text().strip()

    def start(self, timeout: float = 60.0) -> PawUp:
        """Start it and wait until /healthz answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "pawflow.cli",
            "up",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            *self._args,
        ]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(command, stdout=out, stderr=err, env=paw_env())
        _wait_blocking(
            self._healthy, timeout, 0.05, f"paw up at {self.url} (see {self.stderr_path})"
        )
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"paw up exited with {self.proc.returncode}: {self.stderr_path.read_text()[-2000:]}"
            )
        try:
            return http_json(self.url + "/healthz")[0] == 200
        except OSError:
            return False

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGINT, then wait for it to exit; returns its exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    "paw up did not stop within the timeout after SIGINT"
                ) from None
        return self.proc.returncode

    def __enter__(self) -> PawUp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.asynccontextmanager
async def matching_only(store: Store) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """A running dispatcher whose Temporal is nowhere: it matches events into
    sessions it cannot start. Yields ``match_pending(what)``, which wakes it and
    waits until no event is pending."""
    dispatcher = Dispatcher(store, f"127.0.0.1:{free_port()}", "default", "q")
    await dispatcher.start()

    async def drained() -> bool:
        return not await store.pending_events()

    async def match_pending(what: str = "events matched") -> None:
        dispatcher.wake()
        await wait_for(drained, message=what)

    try:
        yield match_pending
    finally:
        await dispatcher.stop()
