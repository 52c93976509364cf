"""Child processes of the bench, and what they cost: process trees, RSS, CPU time.

Every process the bench starts goes through :class:`Children`, which stops it
(and whatever it forked) when the bench leaves its ``async with`` block, also on
Ctrl-C or an error. Processes are only ever ended by their pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pawflow.up import die_with_parent

__all__ = [
    "Children",
    "TreeUsage",
    "descendants",
    "machine_busy_seconds",
    "process_cpu_seconds",
    "tree_usage",
]

log = logging.getLogger(__name__)

_PAGE = os.sysconf("SC_PAGE_SIZE")
_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (in parentheses) may hold spaces; fields follow the last ")".
    return stat.rpartition(")")[2].split()


def _started(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with the pid, its identity."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or fields[0] in ("Z", "X"):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    """Live processes below ``pid`` (children, grandchildren, ...), not ``pid`` itself."""
    tree = _children_map()
    out: list[int] = []
    todo = list(tree.get(pid, ()))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(tree.get(child, ()))
    return out


def process_cpu_seconds(pid: int) -> float:
    """CPU time of one process so far, with that of the children it reaped (0 when gone).

    Reaped children count so that short-lived runners, gone by the time anyone
    looks, are not missed.
    """
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # utime, stime, cutime, cstime: fields 14 to 17 of /proc/PID/stat (1-based,
    # the pid first); the list starts at field 3.
    return sum(int(f) for f in fields[11:15]) / _TICKS


def machine_busy_seconds() -> float:
    """CPU time all processes of the machine spent so far (all cores, idle excluded)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    # user nice system idle iowait irq softirq steal (guest time is inside user).
    ticks = [int(f) for f in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICKS


def _rss_bytes(pid: int) -> int:
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return 0
    return int(fields[21]) * _PAGE  # rss, in pages


def _pss_bytes(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass(frozen=True)
class TreeUsage:
    """Memory and CPU of a process and everything below it."""

    processes: int
    rss_mb: float  # resident set, summed (pages shared by a fork count once per process)
    pss_mb: float  # proportional set: shared pages split between their sharers
    cpu_seconds: float
    parts: dict[str, float]  # per process: "pid name" -> RSS MB


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def tree_usage(pid: int) -> TreeUsage:
    """RSS, PSS and CPU time summed over ``pid`` and its descendants (nothing for
    a pid that is not a real process: 0, or a negative number)."""
    if pid <= 0:
        return TreeUsage(0, 0.0, 0.0, 0.0, {})
    pids = [pid, *descendants(pid)]
    rss = {p: _rss_bytes(p) for p in pids}
    live = [p for p in pids if rss[p] > 0]
    mb = 1024 * 1024
    return TreeUsage(
        processes=len(live),
        rss_mb=sum(rss.values()) / mb,
        pss_mb=sum(_pss_bytes(p) for p in live) / mb,
        cpu_seconds=sum(process_cpu_seconds(p) for p in live),
        parts={f"{p} {_name(p)}": round(rss[p] / mb, 1) for p in live},
    )


class Children:
    """Starts child processes and stops every one of them (with its descendants) on exit."""

    def __init__(self, stop_timeout: float = 10.0) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._stop_timeout = stop_timeout

    def start(
        self,
        command: Sequence[str],
        *,
        log_file: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` with its output appended to ``log_file``."""
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as out:
            proc = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                # Its own process group: Ctrl-C reaches only the bench, which then
                # stops its children in order; SIGTERM follows if the bench dies.
                process_group=0,
                preexec_fn=die_with_parent(),
            )
        self._procs.append(proc)
        log.debug("started pid %d: %s", proc.pid, " ".join(command))
        return proc

    async def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
        """Stop ``proc`` (``sig``, then SIGKILL after the timeout) and whatever it left."""
        # With their start times: a pid freed meanwhile may be someone else's by then.
        below = [(pid, _started(pid)) for pid in descendants(proc.pid)]
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            deadline = asyncio.get_running_loop().time() + self._stop_timeout
            while proc.poll() is None and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                log.warning(
                    "pid %d did not stop in %.0f s; killing it", proc.pid, self._stop_timeout
                )
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        code = proc.wait()
        # Children it forked (a fork server, runners) must not outlive it either.
        for pid, started in below:
            if started is not None and _started(pid) == started:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        if proc in self._procs:
            self._procs.remove(proc)
        return code

    async def stop_all(self) -> None:
        """Stop every running child, newest first."""
        for proc in reversed(list(self._procs)):
            try:
                await self.stop(proc)
            except BaseException:
                # Whatever happens (a second Ctrl-C), the rest still get killed.
                for other in self._procs:
                    with contextlib.suppress(ProcessLookupError):
                        other.kill()
                raise

    async def __aenter__(self) -> Children:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop_all()
