"""Process hygiene every Pawflow process needs, whoever launched it: closing its
``/proc`` files to other processes of its user, dying with its parent, room
for as many open files as it is allowed, and a name ``ps`` can show."""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import signal
import sys
from collections.abc import Callable

__all__ = ["die_with_parent", "make_undumpable", "name_process", "raise_open_files_limit"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NAME = 15


def make_undumpable() -> None:
    """Close this process's ``/proc`` files (environ, memory) to other
    processes of its user that lack ``CAP_SYS_PTRACE``: sessions' runners."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE)")


def name_process(name: str) -> None:
    """Set this process's name (``/proc/<pid>/comm``: ``ps``, ``top``; at most
    15 bytes): what a forked process is, where its command line cannot say."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit and
    return it. The usual 1024 is too few for a thousand sessions in calls: a
    worker holds a few descriptors for each (its runner's pipe, its process's
    sentinel) and the server a keep-alive connection from each one's activity
    thread. Children inherit the limit (the worker's fork server, which keeps
    one descriptor for each live runner, among them)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)  # the kernel's usual ceiling (fs.nr_open)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as err:
            log.debug("open-files limit left at %d (cannot raise it to %d: %s)", soft, hard, err)
            return soft
        log.debug("open-files limit raised from %d to %d", soft, hard)
        return hard
    return soft


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
