"""Confining a runner: what a session's program can reach of the machine.

A runner runs a user's program; the worker that forked it hosts other
sessions and holds the worker credential, and the data dir holds every
project's data, tokens and keys. Before the program's first line runs, the
runner (still privileged, still single-threaded) shuts itself off:

- it makes itself non-dumpable, so no other process of its user can read its
  memory or environment through ``/proc`` (other runners, the program itself
  in a child process is another matter: it is the session's own);
- in a mount namespace of its own it covers the data dir with an empty
  filesystem, gets private ``/tmp``, ``/var/tmp`` and ``/dev/shm``, and sees its deployment's code
  read-only at :data:`CODE_MOUNT` (and its project's installed packages, if
  any, at :data:`PACKAGES_MOUNT`);
- when the platform runs as root it drops to a user of its own (a uid made
  of its pid, or ``--runner-user``), with no supplementary groups and no way
  back (``no_new_privs``);
  otherwise it uses an unprivileged user namespace for the mounts;
- its environment holds the session's vars and a few neutral variables only.

What the machine offers is found once, when the worker starts
(:func:`plan_confinement`), and logged then; a runner that cannot apply its
plan does not run the program.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import pwd
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..processes import make_undumpable
from ._landlock import NET_ABI, SCOPE_ABI, abi, deny_tcp_connect, scope_signals
from ._ports import server_ports

__all__ = [
    "CODE_MOUNT",
    "PACKAGES_MOUNT",
    "Confinement",
    "ConfinementFailed",
    "confine",
    "make_readable",
    "neutral_environment",
    "packages_seen_at",
    "plan_confinement",
]

log = logging.getLogger(__name__)

CODE_MOUNT = "/tmp/.pawflow/code"  # where a confined runner sees its deployment's code
PACKAGES_MOUNT = "/tmp/.pawflow/packages"  # ... and its project's own packages (requirements.txt)
_SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
# Runners' private uids (root only): this plus the runner's pid. Below 2**31,
# where tools that read uids as signed ints still agree, and far above the
# ranges distributions and container runtimes hand out.
RUNNER_UID_BASE = 0x70000000

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_PR_SET_NO_NEW_PRIVS = 38
_O_PATH = getattr(os, "O_PATH", 0o10000000)

# Variables a program may see besides its session's vars: none of them says
# anything about the platform.
_NEUTRAL_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")


class ConfinementFailed(Exception):
    """The runner could not confine itself; the program must not run."""


@dataclass(frozen=True)
class Confinement:
    """How this worker's runners confine themselves (picklable: it travels
    to each runner in its spec)."""

    mode: Literal["user", "userns", "none"]
    data_dir: str
    # "user": the runner's user and group; -1: a private one for each runner,
    # RUNNER_UID_BASE + its pid (unique among live processes, so no two live
    # runners share one: they cannot signal, trace or read each other).
    uid: int = -1
    gid: int = -1
    # "user": directories the runner's user cannot pass through on the way to
    # the Python installation, each with the entries the runner needs in it.
    passages: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tmp_mb: int = 512  # size of the private /tmp
    note: str = ""  # why "none"
    python_paths: tuple[str, ...] = ()  # Python's files, which runners must still reach
    landlock: int = 0  # the kernel's Landlock ABI (0: none)
    # TCP ports runners cannot connect to (the Temporal server's), when Landlock can.
    denied_ports: tuple[int, ...] = ()

    def describe(self) -> list[tuple[bool, str]]:
        """What holds (True) and what does not, one line each, for the worker's log."""
        out: list[tuple[bool, str]] = []
        if self.mode == "user" and self.uid < 0:
            out.append((True, f"runners run as uid {RUNNER_UID_BASE} + their pid, non-dumpable"))
        elif self.mode == "user":
            out.append((True, f"runners run as uid {self.uid}, non-dumpable"))
        if self.mode == "userns":
            out.append((True, "runners run in a user namespace of their own, non-dumpable"))
        if self.mode == "none":
            out.append(
                (False, f"runners are not confined ({self.note}): a program can read the data dir")
            )
        else:
            out.append(
                (
                    True,
                    "runners see neither the data dir nor others' temporary files; code read-only",
                )
            )
        if self.denied_ports:
            ports = ", ".join(map(str, self.denied_ports))
            out.append((True, f"runners cannot connect to Temporal's ports ({ports})"))
        else:
            out.append(
                (False, "runners can connect to Temporal (kernel without Landlock TCP rules)")
            )
        if not self.shares_uid:
            out.append((True, "runners can signal only their own processes (a uid each)"))
        elif self.landlock >= SCOPE_ABI:
            out.append((True, "runners can signal only their own processes (Landlock)"))
        else:
            out.append((False, "runners can signal each other (kernel without Landlock scopes)"))
        return out

    @property
    def shares_uid(self) -> bool:
        """Whether all runners run as one user (then Landlock keeps their signals apart)."""
        return not (self.mode == "user" and self.uid < 0)


def plan_confinement(
    data_dir: Path, runner_user: str | None = None, temporal_address: str = ""
) -> Confinement:
    """What this machine offers for confining runners (called once per worker)."""
    base = _plan_user(str(data_dir.resolve()), runner_user)
    landlock = abi()
    denied: tuple[int, ...] = ()
    if landlock >= NET_ABI and temporal_address:
        denied = tuple(sorted(server_ports(temporal_address)))
    return dataclasses.replace(
        base, landlock=landlock, denied_ports=denied, python_paths=tuple(_python_paths())
    )


def _plan_user(data: str, runner_user: str | None) -> Confinement:
    if os.geteuid() == 0 and not runner_user:
        # Nobody's files lie on the way to Python but "other"'s: pass as no one.
        return Confinement(
            "user", data, passages=_passages(RUNNER_UID_BASE, RUNNER_UID_BASE, _python_paths())
        )
    if os.geteuid() == 0 and runner_user:
        try:
            entry = pwd.getpwnam(runner_user)
        except KeyError:
            if runner_user.isdigit():
                entry = None
                uid = gid = int(runner_user)
            else:
                return Confinement("none", data, note=f"there is no user {runner_user!r}")
        if entry is not None:
            uid, gid = entry.pw_uid, entry.pw_gid
        if uid == 0:
            return Confinement("none", data, note="the runner user is root")
        return Confinement("user", data, uid, gid, passages=_passages(uid, gid, _python_paths()))
    note = _probe_userns()
    if note is None:
        return Confinement("userns", data)
    return Confinement("none", data, note=note)


def _python_paths() -> list[str]:
    """Where this Python's files are: prefixes and import paths (not the
    working directory, which is nothing a runner needs)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path} - {"", os.getcwd()}
    return sorted(p for p in paths if os.path.isabs(p) and os.path.exists(p))


def _under(tops: Iterable[str], paths: Iterable[str]) -> list[str]:
    """The outermost of ``paths`` that lie inside one of ``tops``."""
    inside = sorted(p for p in paths if any(p.startswith(t.rstrip("/") + "/") for t in tops))
    out: list[str] = []
    for path in inside:
        if not any(path.startswith(o + "/") for o in out):
            out.append(path)
    return out


def _can_pass(st: os.stat_result, uid: int, gid: int) -> bool:
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _passages(uid: int, gid: int, paths: Iterable[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """For each directory the runner's user cannot pass through on the way to
    one of ``paths``: the entries of it that lead there."""
    found: dict[str, set[str]] = {}
    for path in paths:
        parts = Path(path).parts
        for depth in range(1, len(parts)):
            directory = os.path.join(*parts[:depth])
            try:
                st = os.stat(directory)
            except OSError:
                break
            if not _can_pass(st, uid, gid):
                found.setdefault(directory, set()).add(parts[depth])
                break  # what lies beyond is bound in whole
    return tuple(sorted((d, tuple(sorted(names))) for d, names in found.items()))


_PROBE = f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare({_CLONE_NEWUSER | _CLONE_NEWNS}) != 0:
    raise SystemExit(os.strerror(ctypes.get_errno()))
"""


def _probe_userns() -> str | None:
    """None when an unprivileged user + mount namespace can be made here."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot probe for user namespaces: {exc}"
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["unknown"])[-1]
        return f"user namespaces are not available: {reason}"
    return None


# -- in the runner ---------------------------------------------------------------------
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise ConfinementFailed(f"{what}: {os.strerror(errno)}")


def _mount(
    libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int, data: str
) -> None:
    _check(
        libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def _bind(libc: ctypes.CDLL, fd: int, target: str, *, read_only: bool) -> None:
    _mount(libc, f"/proc/self/fd/{fd}", target, None, _MS_BIND | _MS_REC, "")
    if read_only:
        flags = _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV
        _mount(libc, None, target, None, flags, "")


def _tmpfs(libc: ctypes.CDLL, target: str, mode: str, size: str) -> None:
    _mount(libc, "tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode={mode},size={size}")


def _enter_userns(libc: ctypes.CDLL) -> None:
    uid, gid = os.geteuid(), os.getegid()
    _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS), "unshare")
    # The same ids inside as outside: files keep their owners.
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def confine(plan: Confinement, code_root: str, env: Mapping[str, str], packages: str = "") -> str:
    """Confine this process (a runner, before any user code runs); returns
    where it now finds its deployment's code. ``packages``: a directory of the
    project's installed packages, kept readable (see :func:`packages_seen_at`)."""
    libc = _libc()
    make_undumpable()  # first: its memory will hold its credential and secrets
    _set_environment(env)
    # What it makes (mount points, the program's own files) others may pass
    # through: it is all private to this runner anyway.
    os.umask(0o022)
    if plan.mode == "none":
        _landlock_runner(plan)
        return code_root
    if plan.mode == "user":
        _check(libc.unshare(_CLONE_NEWNS), "unshare")
    else:
        _enter_userns(libc)
    # Nothing mounted here may show up outside, and the reverse.
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE, "")
    # Held open (in this namespace: a bind mount takes its source from its
    # own) so that they can be bound back once what holds them is covered.
    code_fd = os.open(code_root, _O_PATH | os.O_DIRECTORY)
    packages_fd = os.open(packages, _O_PATH | os.O_DIRECTORY) if packages else -1
    passage_fds = [
        (directory, [(name, os.open(os.path.join(directory, name), _O_PATH)) for name in names])
        for directory, names in plan.passages
    ]
    for directory, entries in passage_fds:
        _tmpfs(libc, directory, "0755", "1m")
        for name, fd in entries:
            target = os.path.join(directory, name)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                os.mkdir(target)
            else:
                Path(target).touch()
            _bind(libc, fd, target, read_only=True)
            os.close(fd)
    # Python's own files that lie where the private directories go (a checkout
    # under /tmp, say) are bound back in, read-only.
    kept = [(path, os.open(path, _O_PATH)) for path in _under(_SHARED_DIRS, plan.python_paths)]
    # Every directory anyone may write to is the session's own: nothing one
    # session leaves there reaches another.
    for shared in _SHARED_DIRS:
        if os.path.isdir(shared):
            _tmpfs(libc, shared, "1777", f"{plan.tmp_mb}m")
    for path, fd in kept:
        os.makedirs(path, exist_ok=True)
        _bind(libc, fd, path, read_only=True)
        os.close(fd)
    if os.path.isdir(plan.data_dir):
        _tmpfs(libc, plan.data_dir, "0700", "4k")
    os.makedirs(CODE_MOUNT)
    _bind(libc, code_fd, CODE_MOUNT, read_only=True)
    os.close(code_fd)
    if packages_fd >= 0:
        os.makedirs(PACKAGES_MOUNT)
        _bind(libc, packages_fd, PACKAGES_MOUNT, read_only=True)
        os.close(packages_fd)
    os.chdir("/tmp")
    if plan.mode == "user":
        uid = plan.uid if plan.uid >= 0 else RUNNER_UID_BASE + os.getpid()
        gid = plan.gid if plan.gid >= 0 else uid
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    # Neither setuid programs nor file capabilities can give any of it back.
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _landlock_runner(plan)
    return CODE_MOUNT


def make_readable(root: Path) -> None:
    """Let anyone read the tree at ``root``: runners read their code and
    packages as a user of their own. What lies around it (the data dir, a
    private temp dir) keeps everyone else out; runners get it bound in."""
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


def packages_seen_at(plan: Confinement, packages: str) -> str:
    """Where a process confined by ``plan`` finds the ``packages`` given to :func:`confine`."""
    return PACKAGES_MOUNT if packages and plan.mode != "none" else packages


def _landlock_runner(plan: Confinement) -> None:
    guard = sys.modules.get(f"{__package__}._forkguard")  # imported by the fork server
    applied: frozenset[int] = getattr(guard, "DENIED", frozenset())
    if plan.denied_ports and not set(plan.denied_ports) <= applied:
        # The fork server was started without its guard (restarted, say): slow, but sure.
        deny_tcp_connect(plan.denied_ports)
    if plan.shares_uid and plan.landlock >= SCOPE_ABI:
        # A domain of its own: with the fork server's port rules under it, this
        # costs some 15 ms a runner, which a uid of its own makes unneeded.
        scope_signals()


def _set_environment(env: Mapping[str, str]) -> None:
    kept = neutral_environment(os.environ)
    os.environ.clear()
    os.environ.update(kept)
    os.environ.update({"HOME": "/tmp", "TMPDIR": "/tmp"})
    os.environ.update(env)


def neutral_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """What of ``environ`` a process that forks runners may keep."""
    return {k: v for k, v in environ.items() if k in _NEUTRAL_ENV or k.startswith("LC_")}
