"""Ships session log records from the worker to the server.

Workflow code must never block on the network, so records are queued here and
a background thread posts them in batches. Nothing is lost by a crash: every
record has a deterministic identity (session id, record number) and is produced
again when the session is replayed; the server keeps the first copy. Before a
session completes, :meth:`LogShipper.wait_delivered` (run as an activity)
guarantees all its records reached the server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from ..errors import ServerError
from ._serverlink import ServerLink

__all__ = ["LogShipper"]

log = logging.getLogger(__name__)

# Records are at most ~64 KiB each (prints and tracebacks are clipped), so a
# batch stays well under the server's request limit.
_BATCH = 200


class LogShipper:
    def __init__(self, link: ServerLink) -> None:
        self._link = link
        self._queue: deque[tuple[int, dict[str, Any]]] = deque()
        self._cond = threading.Condition()
        self._emitted = 0  # number of records ever queued
        self._delivered = 0  # every record numbered below this was delivered
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="pawflow-log-shipper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def emit(self, record: dict[str, Any]) -> int:
        """Queue a record; returns a ticket for :meth:`wait_delivered`."""
        with self._cond:
            self._emitted += 1
            self._queue.append((self._emitted, record))
            self._cond.notify_all()
            return self._emitted

    def ticket(self) -> int:
        """A ticket covering everything emitted so far."""
        with self._cond:
            return self._emitted

    def wait_delivered(self, ticket: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._delivered >= ticket, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        backoff = 0.05
        warned = False
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._closing)
                if not self._queue:
                    return
                batch = [self._queue[i] for i in range(min(len(self._queue), _BATCH))]
            try:
                self._link.post_json("/api/v1/sessions/log", {"records": [r for _, r in batch]})
            except ServerError as exc:
                if exc.status is not None and 400 <= exc.status < 500 and exc.status != 401:
                    # The server refused the batch itself; retrying cannot help.
                    log.error(
                        "session log batch rejected, dropping %d records: %s", len(batch), exc
                    )
                else:
                    if not warned:
                        log.warning("cannot deliver session logs (will retry): %s", exc)
                        warned = True
                    if self._closing:
                        return
                    time.sleep(backoff)  # back-off between retries of a failed delivery
                    backoff = min(backoff * 2, 2.0)
                    continue
            warned = False
            backoff = 0.05
            with self._cond:
                for _ in batch:
                    self._queue.popleft()
                self._delivered = batch[-1][0]
                self._cond.notify_all()
