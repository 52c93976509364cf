"""Process hygiene every Pawflow process needs, whoever launched it: closing its
``/proc`` files to other processes of its user, and dying with its parent."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["die_with_parent", "make_undumpable"]

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
