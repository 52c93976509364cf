"""One platform per data dir: ``paw up`` and ``paw server`` on SQLite hold a lock on it.

Two platforms on one data dir would run two embedded Temporal servers on one
SQLite file and two dispatchers on one store (``make up`` in two terminals).
The lock is ``fcntl.flock`` on a file in the data dir: the kernel drops it when
its holder exits, SIGKILL included, so a stale file never blocks. The pid, role
and URL written in it are only there to name the holder in the refusal.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..errors import ConfigError

__all__ = ["LOCK_FILE", "DataDirInUse", "DataDirLock", "LockOwner"]

logger = logging.getLogger(__name__)

LOCK_FILE = "platform.lock"
_MAX_READ = 4096
# A holder that died (SIGKILL) leaves children that share its lock (the embedded
# Temporal) and end on their own within seconds: wait for them that long.
_ORPHANS_SECONDS = 15.0


class DataDirInUse(ConfigError):
    """Another platform holds the data dir."""


@dataclass(frozen=True)
class LockOwner:
    """Who holds a data dir, as its lock file says (informative only)."""

    role: str  # "paw up" or "paw server"
    pid: int | None
    url: str | None

    def describe(self) -> str:
        """``paw up (pid 1234, http://127.0.0.1:9980)``, with what is known."""
        details = [f"pid {self.pid}" if self.pid is not None else "pid unknown"]
        details.append(self.url or "not listening yet")
        return f"{self.role} ({', '.join(details)})"


class DataDirLock:
    """The exclusive lock on ``data_dir`` that one platform holds while it runs.

    ``acquire()`` refuses with :class:`DataDirInUse` (one line naming the holder)
    and changes nothing when another process holds it, except the process's own
    parent: a platform that runs a server as its child process must not be
    refused by its own lock. ``announce(url)`` records where the holder listens.
    A child given :meth:`fileno` (``pass_fds``) holds the lock with its parent
    and until it exits: a platform killed at once still keeps the data dir
    until its embedded Temporal is gone.
    """

    def __init__(
        self, data_dir: Path, role: str, *, orphans_seconds: float = _ORPHANS_SECONDS
    ) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self.role = role
        self._orphans_seconds = orphans_seconds
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`DataDirInUse`."""
        if self._fd is not None:
            raise RuntimeError("the data dir lock is already held")
        try:
            # No O_TRUNC: what the holder wrote must survive a refused attempt.
            # Non-inheritable (Python's default): a child holds it only when given.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise ConfigError(
                f"cannot lock the data dir {self.data_dir}: {err.strerror or err}"
            ) from None
        try:
            self._lock_or_wait_for_orphans(fd)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            if owner.pid is not None and owner.pid == os.getppid():
                return  # our parent holds it for us
            if owner.pid is not None and not _alive(owner.pid):
                raise DataDirInUse(
                    f"the data dir {self.data_dir} is still in use by what {owner.role} "
                    f"(pid {owner.pid}, ended) started; stop those processes first "
                    "or use another --data-dir"
                ) from None
            raise DataDirInUse(
                f"the data dir {self.data_dir} is in use by {owner.describe()}; "
                "stop it first or use another --data-dir"
            ) from None
        except OSError as err:
            os.close(fd)
            raise ConfigError(
                f"cannot lock the data dir {self.data_dir}: {err.strerror or err}"
            ) from None
        self._fd = fd
        self._write(None)

    def fileno(self) -> int:
        """The locked file's descriptor, for a child that must hold the lock too."""
        if self._fd is None:
            raise RuntimeError("the data dir lock is not held")
        return self._fd

    def _lock_or_wait_for_orphans(self, fd: int) -> None:
        deadline = time.monotonic() + self._orphans_seconds
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                owner = _read_owner(fd)
                if owner.pid is None or _alive(owner.pid) or time.monotonic() >= deadline:
                    raise
            if not told:
                logger.info(
                    "the data dir %s is still held by what %s (pid %d, ended) started; "
                    "waiting up to %.0f s for it to end",
                    self.data_dir,
                    owner.role,
                    owner.pid,
                    self._orphans_seconds,
                )
                told = True
            time.sleep(0.1)  # the dead holder's children are ending

    def announce(self, url: str) -> None:
        """Record the URL the holder serves on (for the next one's refusal)."""
        if self._fd is not None:
            self._write(url)

    def release(self) -> None:
        """Give the lock up; the file stays (deleting it would race a new holder)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _write(self, url: str | None) -> None:
        assert self._fd is not None
        text = json.dumps({"role": self.role, "pid": os.getpid(), "url": url}) + "\n"
        # Best effort: the content only names the holder; the flock is what counts.
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill()
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")  # a zombie has ended


def _read_owner(fd: int) -> LockOwner:
    try:
        raw = json.loads(os.pread(fd, _MAX_READ, 0) or b"null")
    except (OSError, ValueError):
        raw = None
    if not isinstance(raw, dict):
        return LockOwner("another process", None, None)
    role, pid, url = raw.get("role"), raw.get("pid"), raw.get("url")
    return LockOwner(
        role if isinstance(role, str) and role else "another process",
        pid if type(pid) is int and pid > 0 else None,
        url if isinstance(url, str) and url else None,
    )
