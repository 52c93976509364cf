"""Worker subprocesses of ``paw up``: started, restarted when they exit, stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import config
from ._process import die_with_parent, stop_async_process

__all__ = ["WorkerSupervisor", "child_environment", "worker_command"]

logger = logging.getLogger(__name__)


def worker_command(
    server_url: str, data_dir: Path, temporal_address: str, task_queue: str
) -> list[str]:
    """The command line of one ``paw worker`` child process."""
    return [
        sys.executable,
        "-m",
        "pawflow.cli",
        "worker",
        "--server",
        server_url,
        "--data-dir",
        str(data_dir),
        "--temporal",
        temporal_address,
        "--task-queue",
        task_queue,
    ]


class WorkerSupervisor:
    """Keeps ``count`` copies of ``command`` running.

    A child that exits is restarted after a back-off that doubles from
    ``min_backoff`` up to ``max_backoff`` and resets once a child stayed up for
    ``healthy_after`` seconds. Output of child ``i`` (1-based) is appended to
    ``log_dir/worker-<i>.log``.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        count: int,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        min_backoff: float = 1.0,
        max_backoff: float = 30.0,
        healthy_after: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if count < 0:
            raise ValueError("count must be >= 0")
        self._command = list(command)
        self._count = count
        self._log_dir = log_dir
        self._env = dict(env) if env is not None else None
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._healthy_after = healthy_after
        self._stop_timeout = stop_timeout
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._restarts = 0

    @property
    def pids(self) -> list[int]:
        """Process ids of the children currently running."""
        return [p.pid for p in self._procs.values() if p.returncode is None]

    @property
    def restarts(self) -> int:
        """How many times a child was restarted so far."""
        return self._restarts

    async def start(self) -> None:
        """Start every child (returns once they are spawned, not once they are ready)."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        for index in range(1, self._count + 1):
            await self._spawn(index)
            self._tasks.append(
                asyncio.create_task(self._supervise(index), name=f"pawflow-worker-{index}")
            )

    async def stop(self) -> None:
        """Stop supervising and stop every child (SIGTERM, then SIGKILL after the timeout)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        procs, self._procs = self._procs, {}
        codes = await asyncio.gather(
            *(stop_async_process(p, self._stop_timeout) for p in procs.values())
        )
        for index, code in zip(procs, codes, strict=True):
            logger.info("worker %d stopped (exit code %s)", index, code)

    async def _spawn(self, index: int) -> asyncio.subprocess.Process:
        with open(self._log_dir / f"worker-{index}.log", "ab") as log:
            proc = await asyncio.create_subprocess_exec(
                *self._command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                preexec_fn=die_with_parent(),
                # Own process group: a terminal's Ctrl-C reaches only paw up, which
                # stops the workers before the server they talk to.
                process_group=0,
            )
        self._procs[index] = proc
        logger.info("worker %d started (pid %d)", index, proc.pid)
        return proc

    async def _supervise(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        delay = self._min_backoff
        while True:
            proc = self._procs.get(index)
            if proc is not None:
                started = loop.time()
                code = await proc.wait()
                uptime = loop.time() - started
                if uptime >= self._healthy_after:
                    delay = self._min_backoff
                logger.warning(
                    "worker %d (pid %d) exited with code %s after %.1f s; restarting in %.0f s"
                    " (log: %s)",
                    index,
                    proc.pid,
                    code,
                    uptime,
                    delay,
                    self._log_dir / f"worker-{index}.log",
                )
                del self._procs[index]
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)
            try:
                await self._spawn(index)
            except OSError as err:
                logger.error("worker %d could not be started: %s", index, err)
                continue
            self._restarts += 1
            logger.info("worker %d restarted", index)


def child_environment(worker_token: str) -> dict[str, str]:
    """The environment of worker children: ours, minus the admin token, plus
    the worker credential."""
    env = {k: v for k, v in os.environ.items() if k != "PAWFLOW_TOKEN"}
    env[config.WORKER_TOKEN_ENV] = worker_token
    # Log lines should reach the log file as they happen, not when a buffer fills.
    env["PYTHONUNBUFFERED"] = "1"
    return env
