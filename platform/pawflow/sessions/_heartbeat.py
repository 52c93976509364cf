"""The worker's heartbeat: who it is and how it is doing, posted to its server.

Servers show workers (``GET /api/v1/workers``) and export what the beats say
as metrics (sessions running, log records not yet delivered).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import re
import socket
import time
from collections.abc import Callable

from ..errors import ServerError
from ._serverlink import ServerLink

__all__ = ["HEARTBEAT_PATH", "Heartbeats", "worker_id"]

log = logging.getLogger(__name__)

HEARTBEAT_PATH = "/api/v1/workers/heartbeat"
_INTERVAL = 10.0


def worker_id(host: str | None = None, pid: int | None = None) -> str:
    """``host:pid``, reduced to the characters a server takes in a worker id."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", host or socket.gethostname())[:180] or "worker"
    return f"{name}:{os.getpid() if pid is None else pid}"


class Heartbeats:
    """Posts a heartbeat now and every ``interval`` seconds until cancelled."""

    def __init__(
        self,
        link: ServerLink,
        task_queue: str,
        sessions_running: Callable[[], int],
        log_backlog: Callable[[], int],
        *,
        interval: float = _INTERVAL,
    ) -> None:
        self._link = link
        self._interval = interval
        self._sessions_running = sessions_running
        self._log_backlog = log_backlog
        self.id = worker_id()
        self._fixed = {
            "id": self.id,
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "task_queue": task_queue,
            "version": _version(),
            "started_at": time.time(),
        }

    def payload(self) -> dict[str, object]:
        return {
            **self._fixed,
            "sessions_running": self._sessions_running(),
            "log_backlog": self._log_backlog(),
        }

    async def run(self) -> None:
        failing = False
        while True:
            try:
                await asyncio.to_thread(self._link.post_json, HEARTBEAT_PATH, self.payload())
            except ServerError as err:
                # Said once per outage: the worker goes on running sessions regardless.
                if not failing:
                    log.warning("heartbeat not delivered (will keep trying): %s", err)
                failing = True
            else:
                if failing:
                    log.info("heartbeats reach the server again")
                failing = False
            await asyncio.sleep(self._interval)  # the beat's own period, not a wait for state


def _version() -> str:
    """The installed Pawflow's version: a fleet in mid-upgrade shows which is which."""
    try:
        return importlib.metadata.version("pawflow")[:255]
    except importlib.metadata.PackageNotFoundError:
        return ""
