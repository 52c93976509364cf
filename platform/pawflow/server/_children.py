"""Telling a parent session that its child ended (the ``pawflow.child_done`` signal).

The store is the outbox: a child that ended and whose parent was not told yet
is found there (:meth:`~pawflow.storage.Store.untold_children`) however its end
was recorded, so a signal Temporal did not accept (down, restarting) is sent
again on a later pass. Sending twice is harmless: the parent keeps the last
report per child.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiohttp import web
from temporalio.service import RPCError, RPCStatusCode

from ..sessions import signal_child_done
from ..storage import TERMINAL_SESSION_STATES, LogRecord, Store
from ..temporal_errors import is_unavailable
from ..waiting import wait_until_set
from ._temporal import TEMPORAL, TemporalLink

__all__ = ["CHILD_RELAY", "ChildRelay", "install_child_relay"]

log = logging.getLogger(__name__)


_IDLE_SECONDS = 2.0  # re-check the store this often even when nobody wakes us
_BACKOFF_FIRST = 0.2
_BACKOFF_MAX = 10.0
_BATCH = 100


class ChildRelay:
    """Signals parents about their ended children, from the store, in the background.

    ``wake()`` (after storing a terminal state) sends at once; otherwise the store
    is re-read every few seconds, which also covers ends stored by another server.
    """

    def __init__(self, store: Store, temporal: TemporalLink) -> None:
        self._store = store
        self._temporal = temporal
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._delay = _BACKOFF_FIRST

    async def start(self) -> None:
        """Start relaying in a background task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="pawflow-child-relay")

    async def stop(self) -> None:
        """Stop relaying; untold children stay in the store for the next start."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Waited for, not awaited: a CancelledError here must be the
            # caller's own (it is not swallowed), not the relay's.
            await asyncio.wait([task])

    def wake(self) -> None:
        """Ask for a pass now (non-blocking)."""
        self._wakeup.set()

    def records_stored(self, records: Iterable[LogRecord]) -> None:
        """Wake if ``records`` (just stored) end a session: it may have a parent."""
        if any(
            r.get("type") == "state" and r.get("state") in TERMINAL_SESSION_STATES for r in records
        ):
            self.wake()

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            timeout = _IDLE_SECONDS
            try:
                await self.relay_once()
            except Exception as err:
                if is_unavailable(err):
                    log.info("cannot tell parents about ended children yet: %s", err)
                else:
                    log.exception("telling parents about ended children failed; will retry")
                timeout = self._delay
                self._delay = min(self._delay * 2, _BACKOFF_MAX)
            else:
                self._delay = _BACKOFF_FIRST
            await wait_until_set(self._wakeup, timeout)

    async def relay_once(self) -> int:
        """One pass: signal every untold parent; returns how many children were done.
        Raises when Temporal cannot be reached (the rest wait for the next pass)."""
        done = 0
        while True:
            notices = await self._store.untold_children(_BATCH)
            if not notices:
                return done
            # Connect only when there is work: an idle server does not need Temporal.
            client = await self._temporal.client()
            for notice in notices:
                handle = client.get_workflow_handle(notice.parent_session_id)
                try:
                    await signal_child_done(
                        handle, notice.session_id, notice.state, notice.result, notice.error
                    )
                except RPCError as err:
                    if is_unavailable(err):
                        raise
                    if err.status == RPCStatusCode.NOT_FOUND:
                        # The parent has ended: nobody is waiting any more.
                        log.debug(
                            "parent %s of %s has ended; not signalled",
                            notice.parent_session_id,
                            notice.session_id,
                        )
                    else:
                        # Refused for good: retrying would hold up every later child.
                        log.error(
                            "Temporal refused to tell session %s that its child %s ended: %s",
                            notice.parent_session_id,
                            notice.session_id,
                            err,
                        )
                await self._store.mark_parent_told(notice.session_id)
                done += 1
            if len(notices) < _BATCH:
                return done


CHILD_RELAY = web.AppKey("child_relay", ChildRelay)


def install_child_relay(app: web.Application, store: Store) -> None:
    """Give ``app`` a :class:`ChildRelay` that runs while the app does (it uses the
    app's Temporal link, which must be set first)."""
    app[CHILD_RELAY] = ChildRelay(store, app[TEMPORAL])

    async def start(app: web.Application) -> None:
        await app[CHILD_RELAY].start()

    async def stop(app: web.Application) -> None:
        await app[CHILD_RELAY].stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
