"""Polling a condition with a deadline (never a blind sleep)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ._context import BenchError

__all__ = ["wait_until"]


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    timeout: float,
    what: str,
    interval: float = 0.1,
) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took.

    Raises :class:`BenchError` naming ``what`` after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await condition():
        if loop.time() - start > timeout:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)
    return loop.time() - start
