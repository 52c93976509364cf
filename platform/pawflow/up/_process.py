"""Child processes that never outlive ``paw up``, and how they are stopped."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["die_with_parent", "free_port", "make_undumpable", "stop_async_process", "stop_popen"]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4


def make_undumpable() -> None:
    """Close this process's ``/proc`` files (environ, memory) to other
    processes of its user that lack ``CAP_SYS_PTRACE``: sessions' runners."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE)")


def die_with_parent(
    sig: signal.Signals = signal.SIGTERM, parent: int | None = None
) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``sig`` when its parent dies.

    ``parent`` is the pid expected as the parent (default: the calling process,
    for use in ``preexec_fn``).
    Linux only (``prctl(PR_SET_PDEATHSIG)``); None where unavailable. The kernel
    sends the signal when the *thread* that forked the child exits, so spawn
    from a thread that lives as long as the child (the event loop thread).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    expected = os.getpid() if parent is None else parent

    def preexec() -> None:
        # Everything was resolved before fork: the child only makes the call.
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        # The parent may have died between fork and prctl; then nobody would signal us.
        if os.getppid() != expected:
            os.kill(os.getpid(), sig)

    return preexec


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
