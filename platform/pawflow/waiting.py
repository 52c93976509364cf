"""Waiting for a wake-up with a deadline, in a way that can always be cancelled."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["wait_until_set"]


async def wait_until_set(wakeup: asyncio.Event, timeout: float) -> bool:
    """Wait until ``wakeup`` is set or ``timeout`` seconds pass; True if it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it returns normally when the
    waiting task is cancelled in the same loop iteration as the event is set
    (a ``wake()`` racing a ``stop()``), so a loop built on it may never end and
    whoever stops it waits forever. ``asyncio.timeout`` passes a cancellation on.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await wakeup.wait()
    return wakeup.is_set()
