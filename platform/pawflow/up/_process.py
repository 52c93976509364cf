"""Child processes that never outlive ``paw up``, and how they are stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import subprocess
from collections.abc import Coroutine
from typing import Any

# Shared with the session runtime, which must not import the launcher.
from ..processes import die_with_parent, make_undumpable

__all__ = ["die_with_parent", "free_port", "make_undumpable", "stop_async_process", "stop_popen"]

logger = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller must cope with a lost race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


async def stop_popen(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while proc.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if proc.poll() is None:
            logger.warning("process %d did not stop within %.0f s; killing it", proc.pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    # After SIGKILL (or an exit) reaping is immediate.
    return proc.wait()


async def stop_async_process(proc: asyncio.subprocess.Process, timeout: float = 10.0) -> int:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns the exit code."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            return await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            logger.warning("process %d did not stop within %.0f s; killing it", proc.pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    return await proc.wait()


async def run_until_signalled(main: Coroutine[Any, Any, None], what: str) -> None:
    """Run ``main`` until it returns or SIGINT/SIGTERM cancels it (then exit quietly).

    A second signal while stopping only says so: shutting down children cleanly
    matters more than stopping fast.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(main)
    stopping = False

    def on_signal(signum: int) -> None:
        nonlocal stopping
        if stopping:
            logger.info("still stopping %s; waiting for it to end", what)
            return
        stopping = True
        logger.info("received %s; stopping %s", signal.Signals(signum).name, what)
        task.cancel()

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await task
    except asyncio.CancelledError:
        if not stopping:
            raise
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    logger.info("%s stopped", what)
